// The web console on the admin listener (/console/, issue 19): sign-in with a personal token, a
// server-side session in the store (cookie HttpOnly, SameSite=Strict, Secure under TLS), CSRF token
// and Origin check on every change, roles enforced as in the API. No script; pages in pages.ts.
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { html } from 'hono/html';
import type { Principal, Session, Sessions } from '../../access/index.js';
import { verifyStoredAudit } from '../../audit/index.js';
import type { AuthorityKind, Ca } from '../../ca/index.js';
import { ApiError, isBrokerError } from '../../errors.js';
import type { Federation, TransitionAction } from '../../federation/index.js';
import type { Registration } from '../../registration/index.js';
import { entryView } from '../../registration/index.js';
import type { Store } from '../../store/index.js';
import { checkRole } from '../auth.js';
import { statusForCode } from '../http-errors.js';
import { CONSOLE_CSS, actionForm, iso, page, securityHeaders, type Html } from './layout.js';
import {
  auditRows,
  authoritiesPage,
  authorityConfirmPage,
  authoritiesTable,
  deleteConfirmPage,
  federationPage,
  relationshipPage,
  sortRelationships,
} from './pages.js';

export const CONSOLE_COOKIE = 'fb_console';
const MAX_FORM_BYTES = 64 * 1024;
const AUDIT_PAGE = 50;

export interface ConsoleDeps {
  readonly federation: Federation;
  readonly ca: Pick<
    Ca,
    'authorities' | 'localBundle' | 'prepare' | 'activate' | 'taint' | 'revoke'
  >;
  readonly store: Pick<Store, 'listAudit' | 'readStoredAudit'>;
  readonly registration?: Registration;
  readonly sessions: Sessions;
  /** The principal of a token (bootstrap root or a named admin's), or undefined. */
  readonly signIn: (token: string) => Promise<Principal | undefined>;
  /** Admin listener on TLS: the principal of the connection's admin X509-SVID, or undefined. */
  readonly signInWithCertificate?: (socket: unknown) => Principal | undefined;
  /** Counts a failed sign-in from `source`; returns the 429 error once past the limit. */
  readonly onSignInFailure: (source: string) => ApiError | undefined;
  readonly audit: (event: {
    type: string;
    actor: string;
    trustDomain?: string;
    details?: Record<string, unknown>;
  }) => Promise<void>;
  readonly now: () => number;
  /** The admin listener is on TLS: cookies get `Secure`. */
  readonly tls: boolean;
}

type ConsoleEnv = { Variables: { session: Session; form: Record<string, string> } };

function render(
  c: Context,
  body: Html,
  status: 200 | 400 | 401 | 403 | 404 | 409 | 429 | 500 | 502 | 503 = 200,
): Promise<Response> | Response {
  return c.html(body, status);
}

async function readForm(c: Context): Promise<Record<string, string>> {
  const length = Number(c.req.header('content-length') ?? '0');
  if (!Number.isFinite(length) || length > MAX_FORM_BYTES) {
    throw new ApiError('ERR_API_VALIDATION', `form larger than ${MAX_FORM_BYTES} bytes`);
  }
  const type = c.req.header('content-type') ?? '';
  if (
    !type.startsWith('application/x-www-form-urlencoded') &&
    !type.startsWith('multipart/form-data')
  ) {
    throw new ApiError('ERR_API_VALIDATION', 'a console change is a form post');
  }
  const body = await c.req.parseBody();
  const form: Record<string, string> = {};
  for (const [key, value] of Object.entries(body)) if (typeof value === 'string') form[key] = value;
  return form;
}

/** A change must come from this origin (Origin, or Sec-Fetch-Site when a browser omits it). */
function checkOrigin(c: Context): void {
  const origin = c.req.header('origin');
  const expected = new URL(c.req.url).origin;
  if (
    origin === undefined ? c.req.header('sec-fetch-site') !== 'same-origin' : origin !== expected
  ) {
    throw new ApiError('ERR_API_CSRF', 'console changes are accepted from the console origin only');
  }
}

function sourceOf(c: Context): string {
  const socket = (c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)
    ?.incoming?.socket;
  return socket?.remoteAddress ?? 'unknown';
}

function loginPage(message?: string, certificate?: Principal): Html {
  return page(
    'Sign in',
    html`${message === undefined ? '' : html`<p class="error" data-testid="error">${message}</p>`}
      ${certificate === undefined ? '' : html`<form method="post" action="/console/login" class="box"><input type="hidden" name="certificate" value="1" /><button data-testid="sign-in-certificate">Sign in as ${certificate.name} with your certificate</button></form>`}
      <form method="post" action="/console/login" class="box">
        <label
          >Personal admin token
          <input type="password" name="token" autocomplete="off" data-testid="token"
        /></label>
        <button data-testid="sign-in">Sign in</button>
      </form>
      <p class="muted">
        Your token comes from <code>fedbroker admin add NAME</code>; the bootstrap token is the
        break-glass admin root.
      </p>`,
  );
}

export function createConsoleApp(deps: ConsoleDeps): Hono<ConsoleEnv> {
  const app = new Hono<ConsoleEnv>();
  app.use('*', async (c, next) => {
    await next();
    for (const [name, value] of Object.entries(securityHeaders(deps.tls)))
      c.res.headers.set(name, value);
  });
  app.onError((error, c) => {
    const code = isBrokerError(error) ? error.code : 'ERR_API_INTERNAL';
    const status = isBrokerError(error) ? statusForCode(error.code) : 500;
    const message = isBrokerError(error) ? error.message : 'internal error';
    const retry = isBrokerError(error) ? error.context?.['retryAfterSeconds'] : undefined;
    if (typeof retry === 'number') c.header('retry-after', String(retry));
    return c.html(
      page(
        'Refused',
        html`<p class="error"><code data-testid="error-code">${code}</code>: ${message}</p>
          <p><a href="/console/">Back</a></p>`,
      ),
      status as 400,
    );
  });

  app.get('/assets/console.css', (c) =>
    c.body(CONSOLE_CSS, 200, { 'content-type': 'text/css; charset=utf-8' }),
  );
  const socketOf = (c: Context): unknown =>
    (c.env as { incoming?: { socket?: unknown } } | undefined)?.incoming?.socket;
  app.get('/login', (c) =>
    render(c, loginPage(undefined, deps.signInWithCertificate?.(socketOf(c)))),
  );
  app.post('/login', async (c) => {
    checkOrigin(c);
    const form = await readForm(c);
    const token = form['token'] ?? '';
    const principal =
      form['certificate'] === '1'
        ? deps.signInWithCertificate?.(socketOf(c))
        : /^[\x21-\x7e]{1,512}$/.test(token)
          ? await deps.signIn(token)
          : undefined;
    if (principal === undefined) {
      const limited = deps.onSignInFailure(sourceOf(c));
      if (limited !== undefined) throw limited;
      return render(c, loginPage('That token was not accepted (ERR_API_UNAUTHENTICATED).'), 401);
    }
    const started = await deps.sessions.start(principal);
    await deps.audit({
      type: 'console.signed_in',
      actor: principal.actor,
      details: { via: principal.via },
    });
    setCookie(c, CONSOLE_COOKIE, started.cookie, {
      path: '/console',
      httpOnly: true,
      sameSite: 'Strict',
      secure: deps.tls,
    });
    return c.redirect('/console/', 303);
  });

  /** Every other path needs a live session; a change also the CSRF token, the origin and the role. */
  const requireSession: MiddlewareHandler<ConsoleEnv> = async (c, next) => {
    const cookie = getCookie(c, CONSOLE_COOKIE);
    const session = cookie === undefined ? undefined : await deps.sessions.resume(cookie);
    if (session === undefined) {
      if (cookie !== undefined) deleteCookie(c, CONSOLE_COOKIE, { path: '/console' });
      if (c.req.method === 'GET') return c.redirect('/console/login', 303);
      throw new ApiError('ERR_API_UNAUTHENTICATED', 'sign in to the console first');
    }
    c.set('session', session);
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD') {
      checkOrigin(c);
      const form = await readForm(c);
      if (!deps.sessions.checkCsrf(session, form['csrf'])) {
        throw new ApiError('ERR_API_CSRF', "the form is missing this session's CSRF token");
      }
      if (!c.req.path.endsWith('/logout')) checkRole(session.principal, c.req.method);
      c.set('form', form);
    }
    await next();
  };
  app.use('*', requireSession);

  const view = (c: Context<ConsoleEnv>) => ({
    csrf: c.var.session.csrf,
    canChange: c.var.session.principal.role === 'admin',
  });
  const framed = (c: Context<ConsoleEnv>, title: string, body: Html) =>
    render(c, page(title, body, { principal: c.var.session.principal, csrf: c.var.session.csrf }));
  const reasonOf = (c: Context<ConsoleEnv>, required: boolean): string | undefined => {
    const reason = (c.var.form['reason'] ?? '').trim();
    if (reason.length > 500)
      throw new ApiError('ERR_API_VALIDATION', 'reason is at most 500 characters');
    if (required && reason === '') throw new ApiError('ERR_API_VALIDATION', 'a reason is required');
    return reason === '' ? undefined : reason;
  };

  app.post('/logout', async (c) => {
    const cookie = getCookie(c, CONSOLE_COOKIE);
    if (cookie !== undefined) await deps.sessions.end(cookie);
    deleteCookie(c, CONSOLE_COOKIE, { path: '/console' });
    return c.redirect('/console/login', 303);
  });

  app.get('/', async (c) => {
    const nowMs = deps.now();
    const list = sortRelationships(await deps.federation.list());
    const byState = new Map<string, number>();
    for (const v of list)
      byState.set(v.relationship.state, (byState.get(v.relationship.state) ?? 0) + 1);
    const troubled = list.filter(
      (v) => v.relationship.state === 'active' && (v.status.stale || v.status.lastError !== null),
    );
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
        ${federationPage(
          list.filter((v) => v.relationship.state === 'pending'),
          view(c),
          nowMs,
        )}
        <h2>Stale or failing partners</h2>
        ${troubled.length === 0 ? html`<p>none</p>` : federationPage(troubled, view(c), nowMs)}
        <h2>Authorities</h2>
        ${authoritiesTable(deps.ca.authorities(), nowMs)}
        <h2>Last audit events</h2>
        ${auditRows(recent)}`,
    );
  });

  app.get('/federation', async (c) =>
    framed(c, 'Federation', federationPage(await deps.federation.list(), view(c), deps.now())),
  );
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
    const kind = kindOf(c);
    const authority = await deps.ca.prepare(kind);
    await deps.audit({
      type: 'authority.prepared',
      actor: c.var.session.principal.actor,
      details: { kind, id: authority.id },
    });
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
      const kind = kindOf(c);
      const id = c.req.param('id');
      if (action === 'activate') await deps.ca.activate(kind, id);
      else if (action === 'taint') await deps.ca.taint(kind, id);
      else await deps.ca.revoke(kind, id);
      await deps.audit({
        type: `authority.${action === 'activate' ? 'activated' : action === 'taint' ? 'tainted' : 'revoked'}`,
        actor: c.var.session.principal.actor,
        details: { kind, id, force: false, reason: '' },
      });
      return c.redirect('/console/authorities', 303);
    });
  }

  app.get('/agents', async (c) => {
    const registration = deps.registration;
    if (registration === undefined)
      return framed(c, 'Agents', html`<p>registration is not enabled</p>`);
    const entries = await registration.listEntries();
    const tokens = await registration.listTokens();
    const s = view(c);
    return framed(
      c,
      'Agents',
      html`<h2>Entries</h2>
        <table>
          <thead>
            <tr>
              <th>id</th>
              <th>SPIFFE ID</th>
              <th>federates with</th>
              <th>created</th>
              <th></th>
            </tr>
          </thead>
          <tbody>
            ${entries.map((e) => {
              const v = entryView(e);
              return html`<tr data-testid="entry-row">
                <td><code>${e.id}</code></td>
                <td>${String(v['spiffeId'])}</td>
                <td>${e.federatesWith.join(', ') || '-'}</td>
                <td>${iso(e.createdAtMs)} by ${e.createdBy}</td>
                <td>
                  ${s.canChange ? html`${actionForm(`/console/agents/entries/${encodeURIComponent(e.id)}/token`, s.csrf, 'Join token', { testId: 'generate-token' })} ${actionForm(`/console/agents/entries/${encodeURIComponent(e.id)}/delete`, s.csrf, 'Delete', { testId: 'delete-entry' })}` : ''}
                </td>
              </tr>`;
            })}
          </tbody>
        </table>
        ${
          s.canChange
            ? html`<form method="post" action="/console/agents/entries" class="box">
                <input type="hidden" name="csrf" value="${s.csrf}" /><label
                  >SPIFFE ID <input type="text" name="spiffeId" data-testid="entry-spiffe-id"
                /></label>
                <button data-testid="create-entry">Create entry</button>
              </form>`
            : ''
        }
        <h2>Unused join tokens</h2>
        <table>
          <thead>
            <tr>
              <th>token id</th>
              <th>entry</th>
              <th>expires</th>
              <th>by</th>
              <th></th>
            </tr>
          </thead>
          <tbody>
            ${tokens.map(
              (t) =>
                html`<tr>
                  <td><code>${t.tokenId}</code></td>
                  <td><code>${t.entryId}</code></td>
                  <td>${iso(t.expiresAtMs)}</td>
                  <td>${t.createdBy}</td>
                  <td>
                    ${s.canChange ? actionForm(`/console/agents/tokens/${encodeURIComponent(t.tokenId)}/revoke`, s.csrf, 'Revoke', { testId: 'revoke-token' }) : ''}
                  </td>
                </tr>`,
            )}
          </tbody>
        </table>`,
    );
  });
  app.post('/agents/entries', async (c) => {
    const registration = deps.registration;
    if (registration === undefined)
      throw new ApiError('ERR_API_NOT_FOUND', 'registration is not enabled');
    const entry = await registration.createEntry(
      { spiffeId: (c.var.form['spiffeId'] ?? '').slice(0, 2048) },
      c.var.session.principal.actor,
    );
    await deps.audit({
      type: 'entry.created',
      actor: c.var.session.principal.actor,
      details: { ...entryView(entry) },
    });
    return c.redirect('/console/agents', 303);
  });
  app.post('/agents/entries/:id/delete', async (c) => {
    const registration = deps.registration;
    if (registration === undefined)
      throw new ApiError('ERR_API_NOT_FOUND', 'registration is not enabled');
    const entry = await registration.getEntry(c.req.param('id'));
    await registration.deleteEntry(entry.id);
    await deps.audit({
      type: 'entry.deleted',
      actor: c.var.session.principal.actor,
      details: { id: entry.id },
    });
    return c.redirect('/console/agents', 303);
  });
  app.post('/agents/entries/:id/token', async (c) => {
    const registration = deps.registration;
    if (registration === undefined)
      throw new ApiError('ERR_API_NOT_FOUND', 'registration is not enabled');
    const created = await registration.createToken(c.req.param('id'), {
      actor: c.var.session.principal.actor,
    });
    await deps.audit({
      type: 'token.created',
      actor: c.var.session.principal.actor,
      details: {
        tokenId: created.tokenId,
        entryId: created.entryId,
        expiresAt: new Date(created.expiresAtMs).toISOString(),
      },
    });
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
            value="${created.token}"
            data-testid="token-value"
            size="60"
          />
        </p>
        <p><a href="/console/agents">Back to agents</a></p>
      </div>`,
    );
  });
  app.post('/agents/tokens/:id/revoke', async (c) => {
    const registration = deps.registration;
    if (registration === undefined)
      throw new ApiError('ERR_API_NOT_FOUND', 'registration is not enabled');
    await registration.deleteToken(c.req.param('id'));
    return c.redirect('/console/agents', 303);
  });

  app.get('/audit', async (c) => {
    const q = c.req.query();
    const text = (name: string): string | undefined => {
      const value = (q[name] ?? '').trim().slice(0, 512);
      return value === '' ? undefined : value;
    };
    const fromId = /^\d{1,15}$/.test(q['before'] ?? '') ? Number(q['before']) : undefined;
    const sinceMs = text('since') === undefined ? undefined : Date.parse(text('since') ?? '');
    if (sinceMs !== undefined && Number.isNaN(sinceMs))
      throw new ApiError('ERR_API_VALIDATION', 'since must be an ISO time');
    const filter = { type: text('type'), actor: text('actor'), trustDomain: text('trustDomain') };
    const events = await deps.store.listAudit({
      limit: AUDIT_PAGE,
      direction: 'backward',
      ...(fromId === undefined ? {} : { fromId }),
      ...(filter.type === undefined ? {} : { type: filter.type }),
      ...(filter.actor === undefined ? {} : { actor: filter.actor }),
      ...(filter.trustDomain === undefined ? {} : { trustDomain: filter.trustDomain }),
      ...(sinceMs === undefined ? {} : { sinceMs }),
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
              placeholder="2026-01-01T00:00:00Z"
              value="${text('since') ?? ''}"
          /></label>
          <button>Filter</button>
        </form>
        <p><a href="/console/audit?verify=1" data-testid="verify">Verify the chain</a></p>
        ${verified === undefined ? '' : html`<p class="box" data-testid="verify-result">${verified.ok ? 'chain intact' : 'CHAIN BROKEN'}: ${verified.checked} events${verified.head === undefined ? '' : html`, head <code>${verified.head.id}:${verified.head.hash}</code>`}${verified.brokenAt === undefined ? '' : html`, first bad event ${verified.brokenAt.id}: ${verified.brokenAt.reason}`}</p>`}
        ${auditRows(events)}
        ${events.length === AUDIT_PAGE && last !== undefined && last.id > 1 ? html`<p><a href="/console/audit?${params.toString()}" data-testid="older">Older events</a></p>` : ''}`,
    );
  });
  return app;
}
