// The web console (issue 19) as the admin listener mounts it: sign-in by personal token or by an admin
// X509-SVID, failures sharing the API's per-address limit and aggregated audit events.
import type { Hono } from 'hono';
import { sessionOwnerOf, type Principal } from '../../access/index.js';
import type { FailedLoginAggregator } from '../../audit/index.js';
import { createFailedAuthLimiter, type FailedAuthLimiter } from '../auth-limit.js';
import { principalOfPeer, principalOfToken, rateLimited } from '../auth.js';
import { createConsoleApp } from '../console/console-app.js';
import type { AdminDeps } from './deps.js';

/** Successful console sign-ins one principal may make per window (each is an audit event). */
export const CONSOLE_SIGN_IN_LIMIT = 20;
export const CONSOLE_SIGN_IN_WINDOW_MS = 10 * 60_000;

/** The principal of a connection's verified admin X509-SVID (console sign-in), or undefined. */
function certificatePrincipal(
  peer: NonNullable<AdminDeps['adminPeer']> | undefined,
  socket: unknown,
): Principal | undefined {
  if (peer === undefined) return undefined;
  const checked = peer.check(socket);
  if (checked.kind !== 'verified') return undefined;
  const id = checked.spiffeId.toString();
  return peer.adminIds.has(id) ? principalOfPeer(peer, id) : undefined;
}

/** The console sub-app, for `app.route('/console/', …)`. */
export function createAdminConsoleApp(
  deps: AdminDeps,
  access: NonNullable<AdminDeps['access']>,
  failedLogins: { limiter: FailedAuthLimiter; aggregator: FailedLoginAggregator },
): Hono {
  // Keyed by principal, not address; the table is bounded like the failed-login one.
  const signIns = createFailedAuthLimiter({
    now: deps.now,
    limit: CONSOLE_SIGN_IN_LIMIT,
    windowMs: CONSOLE_SIGN_IN_WINDOW_MS,
  });
  return createConsoleApp({
    federation: deps.federation,
    ca: deps.ca,
    store: deps.store,
    ...(deps.registration === undefined ? {} : { registration: deps.registration.registration }),
    sessions: access.sessions,
    signIn: (token) => principalOfToken({ token: deps.token, admins: access.admins }, token),
    ...(deps.adminPeer === undefined
      ? {}
      : {
          signInWithCertificate: (socket: unknown) => certificatePrincipal(deps.adminPeer, socket),
        }),
    onSignInFailure: (source) => {
      const retryMs = failedLogins.limiter.fail(source);
      failedLogins.aggregator.note(source, 'console sign-in refused', retryMs > 0);
      return retryMs === 0 ? undefined : rateLimited(retryMs);
    },
    onSignIn: (principal) => {
      const retryMs = signIns.fail(sessionOwnerOf(principal));
      return retryMs === 0
        ? undefined
        : rateLimited(retryMs, `too many console sign-ins as "${principal.name}"`);
    },
    audit: deps.audit,
    now: deps.now,
    tls: deps.adminPeer !== undefined,
  }) as unknown as Hono;
}
