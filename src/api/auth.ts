// Admin authentication: a bearer token compared in constant time, or (admin listener on TLS) a
// client X509-SVID of our trust domain whose SPIFFE ID is listed in adminIds. Unauthenticated
// calls are refused (401); a valid SVID that is not an admin's, e.g. an agent's, is forbidden (403).
import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { ApiError } from '../errors.js';
import type { PeerCheck } from './peer-svid.js';

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

export interface AdminAuthOptions {
  /** Current admin token (read per request so a rotated token file applies at once). */
  readonly token: () => string;
  /** Called on a failed attempt (audit `admin.login_failed`), never with the presented secret. */
  readonly onFailure?: (reason: string, remoteAddress: string | undefined) => void;
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
    const remote = c.req.header('x-forwarded-for') ?? undefined;
    if (header === undefined && options.peer !== undefined) {
      const socket = (c.env as { incoming?: { socket?: unknown } } | undefined)?.incoming?.socket;
      const peer = options.peer.check(socket);
      if (peer.kind === 'refused') {
        options.onFailure?.(`client certificate refused: ${peer.code}`, remote);
        throw new ApiError(
          'ERR_API_UNAUTHENTICATED',
          `client certificate refused: ${peer.code}: ${peer.message}`,
        );
      }
      if (peer.kind === 'verified') {
        const id = peer.spiffeId.toString();
        if (!options.peer.adminIds.has(id)) {
          options.onFailure?.(`${id} is not an admin SPIFFE ID`, remote);
          throw new ApiError('ERR_API_FORBIDDEN', `"${id}" is not listed in adminApi.adminIds`);
        }
        c.set('actor' as never, id as never);
        await next();
        return;
      }
    }
    if (match === null || match[1] === undefined) {
      options.onFailure?.(
        header === undefined ? 'missing bearer token' : 'malformed authorization header',
        remote,
      );
      throw new ApiError('ERR_API_UNAUTHENTICATED', 'admin bearer token required');
    }
    const expected = digest(options.token());
    const presented = digest(match[1]);
    if (!timingSafeEqual(expected, presented)) {
      options.onFailure?.('wrong bearer token', remote);
      throw new ApiError('ERR_API_UNAUTHENTICATED', 'admin bearer token not accepted');
    }
    c.set('actor' as never, `admin:${expected.subarray(0, 4).toString('hex')}` as never);
    await next();
  };
}
