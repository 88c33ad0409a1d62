// Gives every request an id (echoed in X-Request-Id and in error bodies) for log correlation.
import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { MiddlewareHandler } from 'hono';

/** 72 random bits per id: 12 base64url characters. */
const ID_BYTES = 9;
/** Ids drawn per call into the CSPRNG (one call per request cost more than the rest of this file). */
const IDS_PER_DRAW = 512;

/**
 * Random request ids, drawn from the CSPRNG a block at a time. Each id is still 72 fresh random bits
 * (not a counter), so an id tells a caller nothing about other requests or how many there were.
 */
export function requestIdSource(): () => string {
  let pool = Buffer.alloc(0);
  let offset = 0;
  return () => {
    if (offset + ID_BYTES > pool.length) {
      pool = randomBytes(ID_BYTES * IDS_PER_DRAW);
      offset = 0;
    }
    const id = pool.toString('base64url', offset, offset + ID_BYTES);
    offset += ID_BYTES;
    return id;
  };
}

/**
 * Sets the id on the context and the X-Request-Id response header. Served by node (the listeners),
 * the header goes on node's response, which merges it into whatever the handler answers, errors
 * and event streams included; that keeps a handler's lone content type on @hono/node-server's plain
 * header path instead of building a fetch Headers object per request. Without a node response
 * (`app.request()` in tests) it is set through hono.
 */
export function requestIdMiddleware(): MiddlewareHandler {
  const nextId = requestIdSource();
  return async (c, next) => {
    const id = nextId();
    c.set('requestId' as never, id as never);
    const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
    if (typeof outgoing?.setHeader === 'function') outgoing.setHeader('x-request-id', id);
    else c.header('x-request-id', id);
    await next();
  };
}
