// The console pages as pure functions of what the services return: overview, federation (with the
// approval checklist), agents, authorities, audit. Every value is escaped by hono/html.
import { createHash } from 'node:crypto';
import { html, raw } from 'hono/html';
import type { AuditRecord } from '../../store/index.js';
import type { AuthorityMetadata } from '../../ca/index.js';
import { approvalsOf, type RelationshipView } from '../../federation/index.js';
import { actionForm, esc, iso, type Html } from './layout.js';
import { lifetimeSvg, timelineSvg } from './charts.js';

export interface SessionView {
  readonly csrf: string;
  readonly canChange: boolean;
  /** The hidden CSRF field, escaped once per request (long tables repeat it per row). */
  readonly csrfInput: string;
}

export function sessionView(csrf: string, canChange: boolean): SessionView {
  return { csrf, canChange, csrfInput: `<input type="hidden" name="csrf" value="${esc(csrf)}">` };
}

const ORDER: Record<string, number> = { pending: 0, active: 1, suspended: 2, rejected: 3 };

/** Pending first, then by trust domain (SPIFFE-RULES: trust domain names are lowercase ASCII). */
export function sortRelationships(list: readonly RelationshipView[]): RelationshipView[] {
  return [...list].sort((a, b) => {
    const byState = (ORDER[a.relationship.state] ?? 9) - (ORDER[b.relationship.state] ?? 9);
    if (byState !== 0) return byState;
    const x = a.relationship.trustDomain;
    const y = b.relationship.trustDomain;
    return x < y ? -1 : x > y ? 1 : 0;
  });
}

function approvalsText(view: RelationshipView): string {
  const made = approvalsOf(view.relationship);
  if (view.relationship.state !== 'pending' && made.length === 0) return '-';
  return `${made.length} of ${view.requiredApprovals}`;
}

function stateCellText(state: string, stale: boolean): string {
  return `<span class="state-${esc(state)}" data-testid="state">${esc(state)}</span>${stale ? ' (stale)' : ''}`;
}

function stateCell(state: string, stale: boolean): Html {
  return raw(stateCellText(state, stale));
}

/** What the admin must check before approving: endpoint, ID, bundle digest, who accepted it. */
function pendingChecklistText(view: RelationshipView): string {
  const r = view.relationship;
  const created = r.transitions[0];
  const digest =
    r.bootstrapBundle === null
      ? 'none (https_web: the Web PKI vouches for it)'
      : createHash('sha256').update(r.bootstrapBundle, 'utf8').digest('hex');
  const approvals = approvalsOf(r)
    .map((a) => ` · ${esc(a.actor)}: “${esc(a.reason)}”`)
    .join('');
  return (
    `<ul class="muted"><li>endpoint <code>${esc(r.url)}</code>, SPIFFE ID <code>${esc(r.endpointSpiffeId ?? '-')}</code></li>` +
    `<li>bundle sha256 (compare over another channel): <code data-testid="bundle-sha256">${esc(digest)}</code></li>` +
    `<li>accepted by ${esc(created?.actor ?? '-')} at ${esc(iso(created?.atMs))} (${esc(r.source)}); approvals so far: ${esc(approvalsText(view))}${approvals}</li></ul>`
  );
}

function pendingChecklist(view: RelationshipView): Html {
  return raw(pendingChecklistText(view));
}

/** A one-button form of a table row; `label` and `testId` are our own constants. */
function rowForm(action: string, s: SessionView, label: string, testId: string, reason: boolean) {
  return (
    `<form class="inline" method="post" action="${esc(action)}">${s.csrfInput}` +
    (reason
      ? '<input name="reason" data-testid="reason" placeholder="reason" maxlength="500">'
      : '') +
    `<button data-testid="${testId}">${label}</button></form>`
  );
}

function actionsText(view: RelationshipView, s: SessionView): string {
  if (!s.canChange) return '<span class="muted">read only</span>';
  const base = `/console/federation/${encodeURIComponent(view.relationship.trustDomain)}`;
  const state = view.relationship.state;
  let out = '';
  if (state === 'pending') {
    // One form, one required reason, two buttons: reject posts to its own route (formaction).
    out +=
      `<form class="inline" method="post" action="${esc(base)}/approve">${s.csrfInput}` +
      '<input name="reason" data-testid="reason" placeholder="reason" maxlength="500" required>' +
      '<button data-testid="approve">Approve</button> ' +
      `<button formaction="${esc(base)}/reject" data-testid="reject">Reject</button></form>`;
  } else if (state === 'active') {
    out +=
      rowForm(`${base}/suspend`, s, 'Suspend', 'suspend', true) +
      ' ' +
      rowForm(`${base}/refresh`, s, 'Refresh now', 'refresh', false);
  } else if (state === 'suspended') {
    out += rowForm(`${base}/resume`, s, 'Resume', 'resume', true);
  }
  return `${out} <a href="${esc(base)}/delete" data-testid="delete">Delete…</a>`;
}

function actionsFor(view: RelationshipView, s: SessionView): Html {
  return raw(actionsText(view, s));
}

/** One row of the Federation table, built as one escaped string (bench/console.ts, 1,000 rows). */
function relationshipRowText(v: RelationshipView, s: SessionView): string {
  const r = v.relationship;
  const td = esc(r.trustDomain);
  const error = v.status.lastError;
  return (
    `<tr data-testid="relationship-row" data-trust-domain="${td}">` +
    `<td><a href="/console/federation/${esc(encodeURIComponent(r.trustDomain))}">${td}</a>` +
    `${r.state === 'pending' ? pendingChecklistText(v) : ''}</td>` +
    `<td>${stateCellText(r.state, v.status.stale)}</td>` +
    `<td>${esc(r.profile)}</td><td><code>${esc(r.url)}</code></td>` +
    `<td>${esc(iso(v.status.lastSuccessAtMs))}</td>` +
    `<td>${error === null ? '-' : esc(`${error.code}: ${error.message}`)}</td>` +
    `<td>${r.state === 'active' ? esc(iso(v.status.nextRefreshAtMs)) : '-'}</td>` +
    `<td>${esc(v.status.sequence ?? '-')}</td>` +
    `<td data-testid="approvals">${esc(approvalsText(v))}</td>` +
    `<td>${actionsText(v, s)}</td></tr>`
  );
}

const FEDERATION_HEAD =
  '<table><thead><tr><th>trust domain</th><th>state</th><th>profile</th><th>URL</th>' +
  '<th>last success</th><th>last error</th><th>next refresh</th><th>sequence</th>' +
  '<th>approvals</th><th>actions</th></tr></thead><tbody>';

/** The bundle-age chart and the table of `rows`, in the order given (federation-list.ts pages them). */
export function relationshipsTable(
  rows: readonly RelationshipView[],
  s: SessionView,
  nowMs: number,
): Html {
  const cells: string[] = [];
  for (const v of rows) cells.push(relationshipRowText(v, s));
  return html`${timelineSvg(rows, nowMs)}${raw(`${FEDERATION_HEAD}${cells.join('')}</tbody></table>`)}`;
}

export interface HistoryItem {
  readonly sequence: string | null;
  readonly digest: string;
  readonly fetchedAtMs: number;
  readonly raw: string;
}

function authorityKeys(raw: string): Set<string> {
  try {
    const keys = (JSON.parse(raw) as { keys?: { kid?: unknown; x5c?: unknown[] }[] }).keys ?? [];
    return new Set(
      keys.map((k) =>
        typeof k.kid === 'string'
          ? `jwt ${k.kid}`
          : `x509 ${String(k.x5c?.[0] ?? '').slice(0, 24)}…`,
      ),
    );
  } catch {
    return new Set();
  }
}

export function relationshipPage(
  view: RelationshipView,
  history: readonly HistoryItem[],
  s: SessionView,
): Html {
  const r = view.relationship;
  return html`<div class="box" data-testid="relationship-row" data-trust-domain="${r.trustDomain}">
      <p>
        state: ${stateCell(r.state, view.status.stale)} · profile ${r.profile} ·
        <code>${r.url}</code>
      </p>
      ${r.state === 'pending' ? pendingChecklist(view) : ''}
      <p>${actionsFor(view, s)}</p>
    </div>
    <h2>Transitions</h2>
    <table>
      <thead>
        <tr>
          <th>at</th>
          <th>action</th>
          <th>from → to</th>
          <th>actor</th>
          <th>reason</th>
        </tr>
      </thead>
      <tbody>
        ${r.transitions.map(
          (t) =>
            html`<tr>
              <td>${iso(t.atMs)}</td>
              <td>${t.action}</td>
              <td>${t.from ?? '-'} → ${t.to}</td>
              <td>${t.actor}</td>
              <td data-testid="transition-reason">${t.reason}</td>
            </tr>`,
        )}
      </tbody>
    </table>
    <h2>Bundle history</h2>
    <table>
      <thead>
        <tr>
          <th>sequence</th>
          <th>fetched</th>
          <th>sha256</th>
          <th>authorities added</th>
          <th>removed</th>
        </tr>
      </thead>
      <tbody>
        ${history.map((h, i) => {
          const older = history[i + 1];
          const now = authorityKeys(h.raw);
          const before = older === undefined ? new Set<string>() : authorityKeys(older.raw);
          return html`<tr>
            <td>${h.sequence ?? '-'}</td>
            <td>${iso(h.fetchedAtMs)}</td>
            <td><code>${h.digest}</code></td>
            <td>${[...now].filter((k) => !before.has(k)).join(', ') || '-'}</td>
            <td>${[...before].filter((k) => !now.has(k)).join(', ') || '-'}</td>
          </tr>`;
        })}
      </tbody>
    </table>`;
}

export function deleteConfirmPage(trustDomain: string, csrf: string): Html {
  return html`<div class="box">
    <p>
      Delete the relationship with <strong>${trustDomain}</strong>? Its bundle is removed and agents
      stop trusting it (FED-60).
    </p>
    ${actionForm(`/console/federation/${encodeURIComponent(trustDomain)}/delete`, csrf, 'Delete for good', { testId: 'confirm-delete' })}
    <a href="/console/federation">Cancel</a>
  </div>`;
}

export function auditRows(events: readonly AuditRecord[]): Html {
  return html`<table>
    <thead>
      <tr>
        <th>id</th>
        <th>time</th>
        <th>type</th>
        <th>actor</th>
        <th>trust domain</th>
        <th>details</th>
      </tr>
    </thead>
    <tbody>
      ${events.map(
        (e) =>
          html`<tr data-testid="audit-row">
            <td>${e.id}</td>
            <td>${iso(e.time)}</td>
            <td>${e.type}</td>
            <td>${e.actor}</td>
            <td>${e.trustDomain ?? '-'}</td>
            <td><code>${JSON.stringify(e.data)}</code></td>
          </tr>`,
      )}
    </tbody>
  </table>`;
}

/** FED-50: a prepared authority may be activated once partners have had 5 refresh hints to see it. */
function activationNote(a: AuthorityMetadata, nowMs: number, refreshHintSeconds: number): string {
  const leftMs = a.publishedAt.getTime() + 5 * refreshHintSeconds * 1000 - nowMs;
  return leftMs > 0
    ? `can be activated in ${Math.ceil(leftMs / 60_000)} min (FED-50)`
    : 'can be activated now';
}

export function authoritiesPage(
  list: readonly AuthorityMetadata[],
  nowMs: number,
  refreshHintSeconds: number,
  s: SessionView,
): Html {
  const base = (a: AuthorityMetadata) =>
    `/console/authorities/${a.kind}/${encodeURIComponent(a.id)}`;
  return html`${lifetimeSvg(list, nowMs)}${authoritiesTable(list, nowMs)}
  ${
    s.canChange
      ? html`<h2>Rotation</h2>
          <p>
            ${actionForm('/console/authorities/x509/prepare', s.csrf, 'Prepare next x509 authority', { testId: 'prepare-x509' })}
            ${actionForm('/console/authorities/jwt/prepare', s.csrf, 'Prepare next JWT authority', { testId: 'prepare-jwt' })}
          </p>
          <table>
            <thead>
              <tr>
                <th>kind</th>
                <th>id</th>
                <th>state</th>
                <th>actions</th>
              </tr>
            </thead>
            <tbody>
              ${list
                .filter((a) => a.state !== 'revoked')
                .map(
                  (a) =>
                    html`<tr>
                      <td>${a.kind}</td>
                      <td><code>${a.id}</code></td>
                      <td>${a.state}</td>
                      <td>
                        ${a.state === 'prepared' ? html`<span data-testid="activation-note">${activationNote(a, nowMs, refreshHintSeconds)}</span> ${actionForm(`${base(a)}/activate`, s.csrf, 'Activate', { testId: 'activate' })}` : ''}
                        ${a.state !== 'tainted' ? html`<a href="${base(a)}/taint">Taint…</a>` : ''}
                        <a href="${base(a)}/revoke">Revoke…</a>
                      </td>
                    </tr>`,
                )}
            </tbody>
          </table>`
      : ''
  }`;
}

export function authorityConfirmPage(
  kind: string,
  id: string,
  action: 'taint' | 'revoke',
  csrf: string,
): Html {
  const what =
    action === 'taint'
      ? 'Stop signing with it at once (it stays in the bundle until revoked).'
      : 'Remove it from the bundle at once: everything it signed stops verifying.';
  return html`<div class="box">
    <p>${action} ${kind} authority <code>${id}</code>? ${what}</p>
    ${actionForm(`/console/authorities/${kind}/${encodeURIComponent(id)}/${action}`, csrf, `${action} for good`, { testId: `confirm-${action}` })}
    <a href="/console/authorities">Cancel</a>
  </div>`;
}

export function authoritiesTable(list: readonly AuthorityMetadata[], nowMs: number): Html {
  return html`<table>
    <thead>
      <tr>
        <th>kind</th>
        <th>id</th>
        <th>state</th>
        <th>key</th>
        <th>not after</th>
        <th>expires in</th>
      </tr>
    </thead>
    <tbody>
      ${list.map(
        (a) =>
          html`<tr data-testid="authority-row">
            <td>${a.kind}</td>
            <td><code>${a.id}</code></td>
            <td data-testid="state">${a.state}</td>
            <td>${a.keyType}</td>
            <td>${iso(a.notAfter.getTime())}</td>
            <td>${Math.round((a.notAfter.getTime() - nowMs) / 60_000)} min</td>
          </tr>`,
      )}
    </tbody>
  </table>`;
}
