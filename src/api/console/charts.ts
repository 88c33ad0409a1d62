// Server-rendered SVG: each partner's bundle age against its refresh hint (green, amber when stale,
// red when failing), and our authorities' lifetimes with "now" marked. Pure SVG, no script.
import { html } from 'hono/html';
import type { AuthorityMetadata } from '../../ca/index.js';
import type { RelationshipView } from '../../federation/index.js';
import type { Html } from './layout.js';

const ROW = 16;
/** Bars at most this many partners tall; the table below lists them all. */
const MAX_ROWS = 40;

export function timelineSvg(list: readonly RelationshipView[], nowMs: number): Html {
  const active = list.filter((v) => v.relationship.state === 'active').slice(0, MAX_ROWS);
  if (active.length === 0) return html``;
  const height = active.length * ROW + 20;
  return html`<svg
    role="img"
    aria-label="bundle age against refresh hint"
    width="640"
    height="${height}"
    viewBox="0 0 640 ${height}"
    xmlns="http://www.w3.org/2000/svg"
  >
    <text x="200" y="12" font-size="11">
      bundle age (bar) · refresh hint (line) · 3 hints = stale
    </text>
    ${active.map((v, i) => {
      const hintMs = (v.status.refreshHintSeconds ?? 300) * 1000;
      const ageMs =
        v.status.lastSuccessAtMs === null
          ? 3 * hintMs
          : Math.max(0, nowMs - v.status.lastSuccessAtMs);
      const scale = 400 / (3 * hintMs);
      const width = Math.min(400, Math.round(ageMs * scale));
      const color =
        v.status.lastError !== null ? '#c62828' : v.status.stale ? '#e0a000' : '#2e7d32';
      const y = 20 + i * ROW;
      return html`<text x="0" y="${y + 11}" font-size="11"
          >${v.relationship.trustDomain.slice(0, 30)}</text
        >
        <rect x="200" y="${y}" width="${width}" height="${ROW - 4}" fill="${color}"></rect>
        <line
          x1="${200 + Math.round(hintMs * scale)}"
          x2="${200 + Math.round(hintMs * scale)}"
          y1="${y}"
          y2="${y + ROW - 4}"
          stroke="#000"
        ></line>`;
    })}
  </svg>`;
}

/** Our authorities' lifetimes (notBefore → notAfter) on one time axis, with "now" marked. */
export function lifetimeSvg(list: readonly AuthorityMetadata[], nowMs: number): Html {
  const shown = list.filter((a) => a.state !== 'revoked').slice(0, MAX_ROWS);
  if (shown.length === 0) return html``;
  const start = Math.min(nowMs, ...shown.map((a) => a.notBefore.getTime()));
  const end = Math.max(nowMs + 1, ...shown.map((a) => a.notAfter.getTime()));
  const x = (ms: number): number => 200 + Math.round(((ms - start) / (end - start)) * 400);
  const height = shown.length * ROW + 24;
  const color: Record<string, string> = {
    active: '#2e7d32',
    prepared: '#1565c0',
    tainted: '#c62828',
  };
  return html`<svg
    role="img"
    aria-label="authority lifetimes"
    data-testid="lifetime-chart"
    width="640"
    height="${height}"
    viewBox="0 0 640 ${height}"
    xmlns="http://www.w3.org/2000/svg"
  >
    ${shown.map((a, i) => {
      const y = 8 + i * ROW;
      return html`<text x="0" y="${y + 11}" font-size="11"
          >${a.kind} ${a.state} ${a.id.slice(0, 12)}</text
        >
        <rect
          x="${x(a.notBefore.getTime())}"
          y="${y}"
          width="${Math.max(1, x(a.notAfter.getTime()) - x(a.notBefore.getTime()))}"
          height="${ROW - 4}"
          fill="${color[a.state] ?? '#888'}"
        ></rect>`;
    })}
    <line
      x1="${x(nowMs)}"
      x2="${x(nowMs)}"
      y1="0"
      y2="${height - 12}"
      stroke="#000"
      stroke-dasharray="3 2"
    ></line>
    <text x="${x(nowMs) - 10}" y="${height - 2}" font-size="11">now</text>
  </svg>`;
}
