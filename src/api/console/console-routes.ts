// The console's pages and the changes they post (issue 19), in groups mounted by console-app.ts
// behind its session, CSRF, Origin and role checks; rendering lives in pages.ts.
import type { Context, Hono } from 'hono';
import { html } from 'hono/html';
import { verifyStoredAudit } from '../../audit/index.js';
import type { AuthorityKind } from '../../ca/index.js';
import { ApiError } from '../../errors.js';
import type { TransitionAction } from '../../federation/index.js';
import {
  changeAuthority,
  createEntry,
  createJoinToken,
  deleteEntry,
  prepareAuthority,
  revokeJoinToken,
} from '../admin-actions.js';
import { createEntryBody } from '../admin/entries.js';
import { parseValue } from '../validate.js';
import type { ConsoleDeps, ConsoleEnv } from './console-app.js';
import { iso, page, render, type Html } from './layout.js';
import {
  auditRows,
  authoritiesPage,
  authorityConfirmPage,
  authoritiesTable,
  deleteConfirmPage,
  relationshipPage,
  sessionView,
  sortRelationships,
  type SessionView,
} from './pages.js';
import { agentsPage, parseAgentsQuery } from './agents-page.js';
import { federationListPage, overviewList, parseFederationQuery } from './federation-list.js';

const AUDIT_PAGE = 50;

export const view = (c: Context<ConsoleEnv>): SessionView =>
  sessionView(c.var.session.csrf, c.var.session.principal.role === 'admin');
export const framed = (c: Context<ConsoleEnv>, title: string, body: Html) =>
  render(c, page(title, body, { principal: c.var.session.principal, csrf: c.var.session.csrf }));
export const reasonOf = (c: Context<ConsoleEnv>, required: boolean): string | undefined => {
  const reason = (c.var.form['reason'] ?? '').trim();
  if (reason.length > 500)
    throw new ApiError('ERR_API_VALIDATION', 'reason is at most 500 characters');
  if (required && reason === '') throw new ApiError('ERR_API_VALIDATION', 'a reason is required');
  return reason === '' ? undefined : reason;
};

/** Overview: trust domain, partners by state, pending, troubled, authorities, last events. */
export function overviewRoutes(app: Hono<ConsoleEnv>, deps: ConsoleDeps): void {
  app.get('/', async (c) => {
    const nowMs = deps.now();
    // Sorted, so that the counts by state read pending, active, suspended, rejected.
    const list = sortRelationships(await deps.federation.list());
    const byState = new Map<string, number>();
    for (const v of list)
      byState.set(v.relationship.state, (byState.get(v.relationship.state) ?? 0) + 1);
    const local = deps.ca.localBundle();
    const recent = await deps.store.listAudit({ limit: 10, direction: 'backward' });
    return framed(
      c,
      'Overview',
      html`<div class="box">
          <p>
            trust domain <strong>${local.trustDomain.name}</strong> · bundle sequence
            ${local.sequence?.toString() ?? '-'}
          </p>
          <p>
            partners:
            ${[...byState].map(([state, n]) => html`<span class="state-${state}">${n} ${state}</span> `)}
          </p>
        </div>
        <h2>Pending approvals</h2>
        ${overviewList(list, view(c), nowMs, 'pending')}
        <h2>Stale or failing partners</h2>
        ${overviewList(list, view(c), nowMs, 'troubled')}
        <h2>Authorities</h2>
        ${authoritiesTable(deps.ca.authorities(), nowMs)}
        <h2>Last audit events</h2>
        ${auditRows(recent)}`,
    );
  });
}

/** Federation: the list, one relationship, and its lifecycle changes. */
export function federationRoutes(app: Hono<ConsoleEnv>, deps: ConsoleDeps): void {
  app.get('/federation', async (c) => {
    // Checked before the list is read: a bad filter is a 400 whatever the store holds.
    const query = parseFederationQuery(c.req.query());
    const list = await deps.federation.list();
    return framed(c, 'Federation', federationListPage(list, view(c), deps.now(), query));
  });
  app.get('/federation/:td', async (c) => {
    const td = c.req.param('td');
    const v = await deps.federation.get(td);
    const history = (await deps.federation.history(td)).map((h) => ({ ...h }));
    return framed(c, `Federation: ${td}`, relationshipPage(v, history, view(c)));
  });
  app.get('/federation/:td/delete', async (c) => {
    const v = await deps.federation.get(c.req.param('td'));
    return framed(
      c,
      'Delete relationship',
      deleteConfirmPage(v.relationship.trustDomain, c.var.session.csrf),
    );
  });
  for (const action of [
    'approve',
    'reject',
    'suspend',
    'resume',
  ] as const satisfies readonly TransitionAction[]) {
    app.post(`/federation/:td/${action}`, async (c) => {
      const reason = reasonOf(c, action === 'approve' || action === 'reject');
      await deps.federation.transition(c.req.param('td'), action, {
        actor: c.var.session.principal.actor,
        ...(reason === undefined ? {} : { reason }),
      });
      return c.redirect('/console/federation', 303);
    });
  }
  app.post('/federation/:td/refresh', async (c) => {
    await deps.federation.refresh(c.req.param('td'), { actor: c.var.session.principal.actor });
    return c.redirect(`/console/federation/${encodeURIComponent(c.req.param('td'))}`, 303);
  });
  app.post('/federation/:td/delete', async (c) => {
    await deps.federation.delete(c.req.param('td'), { actor: c.var.session.principal.actor });
    return c.redirect('/console/federation', 303);
  });
}

/** Authorities: lifetimes, prepare, activate (FED-50), taint and revoke behind a confirmation. */
export function authorityRoutes(app: Hono<ConsoleEnv>, deps: ConsoleDeps): void {
  app.get('/authorities', (c) =>
    framed(
      c,
      'Authorities',
      authoritiesPage(
        deps.ca.authorities(),
        deps.now(),
        deps.ca.localBundle().refreshHintSeconds ?? 300,
        view(c),
      ),
    ),
  );
  const kindOf = (c: Context): AuthorityKind => {
    const kind = c.req.param('kind');
    if (kind !== 'x509' && kind !== 'jwt')
      throw new ApiError('ERR_API_VALIDATION', 'kind is x509 or jwt');
    return kind;
  };
  app.post('/authorities/:kind/prepare', async (c) => {
    await prepareAuthority(deps, kindOf(c), c.var.session.principal.actor);
    return c.redirect('/console/authorities', 303);
  });
  for (const action of ['taint', 'revoke'] as const) {
    app.get(`/authorities/:kind/:id/${action}`, (c) =>
      framed(
        c,
        `${action} authority`,
        authorityConfirmPage(kindOf(c), c.req.param('id'), action, c.var.session.csrf),
      ),
    );
  }
  for (const action of ['activate', 'taint', 'revoke'] as const) {
    app.post(`/authorities/:kind/:id/${action}`, async (c) => {
      // The API route's own change (admin-actions.ts): same CA call, same audit event.
      await changeAuthority(
        deps,
        { kind: kindOf(c), id: c.req.param('id'), action },
        { actor: c.var.session.principal.actor },
      );
      return c.redirect('/console/authorities', 303);
    });
  }
}

/** Agents: entries and unused join tokens, in pages (agents-page.ts). */
export function agentPages(app: Hono<ConsoleEnv>, deps: ConsoleDeps): void {
  app.get('/agents', async (c) => {
    const registration = deps.registration;
    if (registration === undefined)
      return framed(c, 'Agents', html`<p>registration is not enabled</p>`);
    // Checked before anything is read: a bad page or filter is a 400 whatever the store holds.
    const query = parseAgentsQuery(c.req.query());
    const entries = await registration.listEntries();
    const tokens = await registration.listTokens();
    return framed(c, 'Agents', agentsPage(entries, tokens, view(c), query));
  });
}

/** The registration service, or 404 when registration is not enabled. */
function registrationOf(deps: ConsoleDeps) {
  if (deps.registration === undefined)
    throw new ApiError('ERR_API_NOT_FOUND', 'registration is not enabled');
  return { registration: deps.registration, audit: deps.audit };
}

/** Agents: create and delete entries, generate (shown once) and revoke join tokens; each through
 * the admin API route's own function (admin-actions.ts) and the API's body schema. */
export function agentChanges(app: Hono<ConsoleEnv>, deps: ConsoleDeps): void {
  app.post('/agents/entries', async (c) => {
    const body = parseValue(createEntryBody, { spiffeId: c.var.form['spiffeId'] ?? '' });
    await createEntry(registrationOf(deps), body, c.var.session.principal.actor);
    return c.redirect('/console/agents', 303);
  });
  app.post('/agents/entries/:id/delete', async (c) => {
    await deleteEntry(registrationOf(deps), c.req.param('id'), c.var.session.principal.actor);
    return c.redirect('/console/agents', 303);
  });
  app.post('/agents/entries/:id/token', async (c) => {
    const created = await createJoinToken(
      registrationOf(deps),
      { entryId: c.req.param('id') },
      c.var.session.principal.actor,
    );
    return framed(
      c,
      'Join token',
      html`<div class="box">
        <p>
          One-time join token for entry <code>${created.entryId}</code>, shown once, expires
          ${iso(created.expiresAtMs)}:
        </p>
        <p>
          <input
            type="text"
            readonly
            id="join-token"
            value="${created.token}"
            data-testid="token-value"
            size="60"
          />
          <button type="button" hidden data-copy-from="join-token" data-testid="copy-token">
            Copy
          </button>
        </p>
        <p><a href="/console/agents">Back to agents</a></p>
      </div>`,
    );
  });
  app.post('/agents/tokens/:id/revoke', async (c) => {
    await revokeJoinToken(registrationOf(deps), c.req.param('id'), c.var.session.principal.actor);
    return c.redirect('/console/agents', 303);
  });
}

/** Audit: newest first, filtered, paged, with chain verification. */
export function auditRoutes(app: Hono<ConsoleEnv>, deps: ConsoleDeps): void {
  app.get('/audit', async (c) => {
    const q = c.req.query();
    const text = (name: string): string | undefined => {
      const value = (q[name] ?? '').trim().slice(0, 512);
      return value === '' ? undefined : value;
    };
    const fromId = /^\d{1,15}$/.test(q['before'] ?? '') ? Number(q['before']) : undefined;
    const timeOf = (name: 'since' | 'until'): number | undefined => {
      const value = text(name);
      const ms = value === undefined ? undefined : Date.parse(value);
      if (ms !== undefined && Number.isNaN(ms))
        throw new ApiError('ERR_API_VALIDATION', `${name} must be an ISO time`);
      return ms;
    };
    const sinceMs = timeOf('since');
    const untilMs = timeOf('until');
    const filter = {
      type: text('type'),
      actor: text('actor'),
      trustDomain: text('trustDomain'),
      since: text('since'),
      until: text('until'),
    };
    const events = await deps.store.listAudit({
      limit: AUDIT_PAGE,
      direction: 'backward',
      ...(fromId === undefined ? {} : { fromId }),
      ...(filter.type === undefined ? {} : { type: filter.type }),
      ...(filter.actor === undefined ? {} : { actor: filter.actor }),
      ...(filter.trustDomain === undefined ? {} : { trustDomain: filter.trustDomain }),
      ...(sinceMs === undefined ? {} : { sinceMs }),
      ...(untilMs === undefined ? {} : { untilMs }),
    });
    const verified =
      q['verify'] === '1'
        ? await verifyStoredAudit((from, limit) => deps.store.readStoredAudit(from, limit))
        : undefined;
    const last = events.at(-1);
    const params = new URLSearchParams(
      Object.entries(filter).filter((e): e is [string, string] => e[1] !== undefined),
    );
    if (last !== undefined && last.id > 1) params.set('before', String(last.id - 1));
    return framed(
      c,
      'Audit',
      html`<form method="get" action="/console/audit" class="box">
          <label>type <input type="text" name="type" value="${filter.type ?? ''}" /></label>
          <label>actor <input type="text" name="actor" value="${filter.actor ?? ''}" /></label>
          <label
            >trust domain <input type="text" name="trustDomain" value="${filter.trustDomain ?? ''}"
          /></label>
          <label
            >since
            <input
              type="text"
              name="since"
              data-testid="audit-since"
              placeholder="2026-01-01T00:00:00Z"
              value="${filter.since ?? ''}"
          /></label>
          <label
            >until
            <input
              type="text"
              name="until"
              data-testid="audit-until"
              placeholder="2026-01-02T00:00:00Z"
              value="${filter.until ?? ''}"
          /></label>
          <button>Filter</button>
        </form>
        <p><a href="/console/audit?verify=1" data-testid="verify">Verify the chain</a></p>
        ${verified === undefined ? '' : html`<p class="box" data-testid="verify-result">${verified.ok ? 'chain intact' : 'CHAIN BROKEN'}: ${verified.checked} events${verified.head === undefined ? '' : html`, head <code>${verified.head.id}:${verified.head.hash}</code>`}${verified.brokenAt === undefined ? '' : html`, first bad event ${verified.brokenAt.id}: ${verified.brokenAt.reason}`}</p>`}
        ${auditRows(events)}
        ${events.length === AUDIT_PAGE && last !== undefined && last.id > 1 ? html`<p><a href="/console/audit?${params.toString()}" data-testid="older">Older events</a></p>` : ''}`,
    );
  });
}
