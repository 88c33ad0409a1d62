// Gives every request an id (echoed in X-Request-Id and in error bodies) for log correlation.
import { randomBytes } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';

export function requestIdMiddleware(): MiddlewareHandler {
  return async (c, next) => {
    const id = randomBytes(9).toString('base64url');
    c.set('requestId' as never, id as never);
    c.header('x-request-id', id);
    await next();
  };
}
