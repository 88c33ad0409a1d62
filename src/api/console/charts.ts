// Server-rendered SVG: each partner's bundle age against its refresh hint (green, amber when stale,
// red when failing), so an admin sees at a glance which partners need attention. No script.
import { html } from 'hono/html';
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
