// The web console on the admin listener (/console/, issue 19): sign-in with a personal token, a
// server-side session in the store (cookie HttpOnly, SameSite=Strict, Secure under TLS), CSRF token
// and Origin check on every change, roles enforced as in the API. One small script (copy buttons); pages in pages.ts.
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { html } from 'hono/html';
import type { Principal, Session, Sessions } from '../../access/index.js';
import type { Ca } from '../../ca/index.js';
import { ApiError, isBrokerError } from '../../errors.js';
import type { Federation } from '../../federation/index.js';
import type { Registration } from '../../registration/index.js';
import type { Store } from '../../store/index.js';
import { checkRole } from '../auth.js';
import { readLimitedBody } from '../body-limit.js';
import { statusForCode } from '../http-errors.js';
import { recordAdminRequest } from '../request-audit.js';
import { CONSOLE_CSS, CONSOLE_JS, page, render, securityHeaders, type Html } from './layout.js';
import {
  agentChanges,
  agentPages,
  auditRoutes,
  authorityRoutes,
  federationRoutes,
  overviewRoutes,
} from './console-routes.js';

export const CONSOLE_COOKIE = 'fb_console';
const MAX_FORM_BYTES = 64 * 1024;

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
  /** Counts a successful sign-in of `principal`; returns the 429 error once past its limit. */
  readonly onSignIn: (principal: Principal) => ApiError | undefined;
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

export type ConsoleEnv = { Variables: { session: Session; form: Record<string, string> } };

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
  // The body as the admin app's bodyLimit read it (it has consumed the stream), parsed here.
  const bytes = await readLimitedBody(c, MAX_FORM_BYTES);
  let parsed: FormData;
  try {
    parsed = await new Request('http://form.invalid/', {
      method: 'POST',
      body: bytes,
      headers: { 'content-type': type },
    }).formData();
  } catch {
    throw new ApiError('ERR_API_VALIDATION', 'the form could not be parsed');
  }
  const form: Record<string, string> = {};
  for (const [key, value] of parsed.entries()) if (typeof value === 'string') form[key] = value;
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
  app.get('/assets/console.js', (c) =>
    c.body(CONSOLE_JS, 200, { 'content-type': 'text/javascript; charset=utf-8' }),
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
    // Before any session or audit event, so that signing in again and again fills neither.
    const limited = deps.onSignIn(principal);
    if (limited !== undefined) throw limited;
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

  app.post('/logout', async (c) => {
    const cookie = getCookie(c, CONSOLE_COOKIE);
    if (cookie !== undefined) await deps.sessions.end(cookie);
    deleteCookie(c, CONSOLE_COOKIE, { path: '/console' });
    return c.redirect('/console/login', 303);
  });
  // Every change below is recorded (`admin.requested`) before it runs. Sign-in (its own
  // `console.signed_in`) and sign-out (ends only the caller's session, and must work while the
  // audit log cannot be written) are above, so they are not.
  app.use(
    '*',
    recordAdminRequest({
      audit: deps.audit,
      actorOf: (c) => (c as Context<ConsoleEnv>).var.session.principal.actor,
    }),
  );

  overviewRoutes(app, deps);
  federationRoutes(app, deps);
  authorityRoutes(app, deps);
  agentPages(app, deps);
  agentChanges(app, deps);
  auditRoutes(app, deps);
  return app;
}
