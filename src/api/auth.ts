// Admin authentication: a bearer token compared in constant time. Unauthenticated calls are refused.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { ApiError } from '../errors.js';

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

export interface AdminAuthOptions {
  /** Current admin token (read per request so a rotated token file applies at once). */
  readonly token: () => string;
  /** Called on a failed attempt (audit `admin.login_failed`), never with the presented secret. */
  readonly onFailure?: (reason: string, remoteAddress: string | undefined) => void;
}

/** Sets `c.var.actor` to `admin:<fingerprint of the token>` on success. */
export function adminAuth(options: AdminAuthOptions): MiddlewareHandler {
  return async (c, next) => {
    const header = c.req.header('authorization');
    const match = header === undefined ? null : /^Bearer ([\x21-\x7e]{1,512})$/.exec(header);
    const remote = c.req.header('x-forwarded-for') ?? undefined;
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
