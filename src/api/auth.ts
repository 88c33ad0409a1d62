// Admin authentication: a bearer token compared in constant time, or (admin listener on TLS) a
// client X509-SVID of our trust domain whose SPIFFE ID is listed in adminIds. Unauthenticated
// calls are refused (401); a valid SVID that is not an admin's, e.g. an agent's, is forbidden (403).
// Failures are counted per source address: past the limit they get 429 with Retry-After.
// Named admins (issue 19) present personal tokens; a `viewer` gets 403 on every change.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { principalOf, type AdminRole, type Principal } from '../access/index.js';
import { ApiError } from '../errors.js';
import type { FailedAuthLimiter } from './auth-limit.js';
import type { PeerCheck } from './peer-svid.js';

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

export interface AdminAuthOptions {
  /** Current admin token (read per request so a rotated token file applies at once). */
  readonly token: () => string;
  /**
   * Called on every failed attempt (aggregated into `admin.login_failed` events), never with the
   * presented secret; `limited` when it was answered 429.
   */
  readonly onFailure?: (reason: string, source: string, limited: boolean) => void;
  /** Per-address limit on failures (valid credentials always pass). */
  readonly limiter?: FailedAuthLimiter;
  /** mTLS: checks the connection's client certificate; absent when the listener is plain HTTP. */
  readonly peer?: {
    readonly check: (socket: unknown) => PeerCheck;
    /** SPIFFE IDs allowed to administer. */
    readonly adminIds: ReadonlySet<string>;
    /** Names and roles of mTLS admins; an ID without one is an `admin` named by its SPIFFE ID. */
    readonly names?: ReadonlyMap<string, { readonly name: string; readonly role: AdminRole }>;
  };
  /** Named admins' personal tokens (the access room's directory). */
  readonly admins?: { authenticate(token: string): Promise<Principal | undefined> };
}

/** Methods that change nothing: the only ones a `viewer` may use. */
const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** A `viewer` reads everything and changes nothing (issue 19). */
/** 429 past a limit (by default an address's failed authentications); the retry time is in the context. */
export function rateLimited(
  retryMs: number,
  what = 'too many failed authentications from this address',
): ApiError {
  const retryAfterSeconds = Math.ceil(retryMs / 1000);
  return new ApiError('ERR_API_RATE_LIMITED', `${what}: retry in ${retryAfterSeconds} s`, {
    context: { retryAfterSeconds },
  });
}

export function checkRole(principal: Principal, method: string): void {
  if (principal.role === 'viewer' && !READ_METHODS.has(method.toUpperCase())) {
    throw new ApiError(
      'ERR_API_FORBIDDEN',
      `admin "${principal.name}" is a viewer: reading only, no changes`,
    );
  }
}

/** The principal of the bootstrap token, a named admin's token or an mTLS admin; undefined if none. */
export async function principalOfToken(
  options: Pick<AdminAuthOptions, 'token' | 'admins'>,
  presentedToken: string,
): Promise<Principal | undefined> {
  const expected = digest(options.token());
  if (timingSafeEqual(expected, digest(presentedToken)))
    return principalOf('root', 'admin', 'root');
  return options.admins?.authenticate(presentedToken);
}

/** The principal of a verified mTLS admin SPIFFE ID. */
export function principalOfPeer(
  peer: NonNullable<AdminAuthOptions['peer']>,
  spiffeId: string,
): Principal {
  const named = peer.names?.get(spiffeId);
  return named === undefined
    ? principalOf(spiffeId, 'admin', 'mtls', spiffeId)
    : principalOf(named.name, named.role, 'mtls', spiffeId);
}

/**
 * Sets `c.var.principal` and `c.var.actor`: `admin:root` for the bootstrap token, `admin:<name>`
 * for a named admin, the name or the SPIFFE ID of an mTLS admin.
 */
export function adminAuth(options: AdminAuthOptions): MiddlewareHandler {
  return async (c, next) => {
    const header = c.req.header('authorization');
    const match = header === undefined ? null : /^Bearer ([\x21-\x7e]{1,512})$/.exec(header);
    const socket = (c.env as { incoming?: { socket?: unknown } } | undefined)?.incoming?.socket;
    // The connection's own address: a header such as x-forwarded-for is the caller's to choose.
    const source = (socket as { remoteAddress?: string } | undefined)?.remoteAddress ?? 'unknown';
    /** Counts the failure; past the limit the answer is 429 instead of `refusal`. */
    const fail = (reason: string, refusal: ApiError): ApiError => {
      const retryMs = options.limiter?.fail(source) ?? 0;
      options.onFailure?.(reason, source, retryMs > 0);
      return retryMs === 0 ? refusal : rateLimited(retryMs);
    };
    if (header === undefined && options.peer !== undefined) {
      const peer = options.peer.check(socket);
      if (peer.kind === 'refused') {
        throw fail(
          `client certificate refused: ${peer.code}`,
          new ApiError(
            'ERR_API_UNAUTHENTICATED',
            `client certificate refused: ${peer.code}: ${peer.message}`,
          ),
        );
      }
      if (peer.kind === 'verified') {
        const id = peer.spiffeId.toString();
        if (!options.peer.adminIds.has(id)) {
          throw fail(
            'not an admin SPIFFE ID',
            new ApiError('ERR_API_FORBIDDEN', `"${id}" is not listed in adminApi.adminIds`),
          );
        }
        const principal = principalOfPeer(options.peer, id);
        checkRole(principal, c.req.method);
        c.set('principal' as never, principal as never);
        c.set('actor' as never, principal.actor as never);
        await next();
        return;
      }
    }
    if (match === null || match[1] === undefined) {
      throw fail(
        header === undefined ? 'missing bearer token' : 'malformed authorization header',
        new ApiError('ERR_API_UNAUTHENTICATED', 'admin bearer token required'),
      );
    }
    const principal = await principalOfToken(options, match[1]);
    if (principal === undefined) {
      throw fail(
        'wrong bearer token',
        new ApiError('ERR_API_UNAUTHENTICATED', 'admin bearer token not accepted'),
      );
    }
    checkRole(principal, c.req.method);
    c.set('principal' as never, principal as never);
    c.set('actor' as never, principal.actor as never);
    await next();
  };
}
