// Admin authentication: a bearer token compared in constant time, or (admin listener on TLS) a
// client X509-SVID of our trust domain whose SPIFFE ID is listed in adminIds. Unauthenticated
// calls are refused (401); a valid SVID that is not an admin's, e.g. an agent's, is forbidden (403).
// Failures are counted per source address: past the limit they get 429 with Retry-After.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
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
  };
}

/** Sets `c.var.actor` to `admin:<fingerprint of the token>`, or the admin's SPIFFE ID (mTLS). */
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
      if (retryMs === 0) return refusal;
      const retryAfterSeconds = Math.ceil(retryMs / 1000);
      return new ApiError(
        'ERR_API_RATE_LIMITED',
        `too many failed authentications from this address: retry in ${retryAfterSeconds} s`,
        { context: { retryAfterSeconds } },
      );
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
        c.set('actor' as never, id as never);
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
    const expected = digest(options.token());
    const presented = digest(match[1]);
    if (!timingSafeEqual(expected, presented)) {
      throw fail(
        'wrong bearer token',
        new ApiError('ERR_API_UNAUTHENTICATED', 'admin bearer token not accepted'),
      );
    }
    c.set('actor' as never, `admin:${expected.subarray(0, 4).toString('hex')}` as never);
    await next();
  };
}
