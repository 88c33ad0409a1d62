// Request bodies counted while they stream in and stopped at a per-route limit before anything
// parses them (issue 15): 413 ERR_API_BODY_TOO_LARGE, and the connection is closed so that a
// sender who goes on sending is cut off instead of having its bytes read and thrown away.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Context, MiddlewareHandler } from 'hono';
import { ApiError } from '../errors.js';
import { codedErrorResponse } from './http-errors.js';

/** Limits of one app: per route (`'POST /v1/agent/attest'`), else `defaultMaxBytes`. */
export interface BodyLimits {
  readonly defaultMaxBytes: number;
  readonly routes?: Readonly<Record<string, number>>;
}

/** How long a connection refused with 413 stays half-open before it is destroyed. */
export const LINGER_MS = 1000;

/**
 * After a 413 with `connection: close` the sender may still be sending. Node destroys the socket
 * as soon as the answer is out; a close with unread data sends a TCP reset, and a client that is
 * still writing then fails its write and drops our answer unread. So, like a web server's
 * lingering close: our side is ended (answer, then FIN), nothing more is read (the sender's
 * writes stall on a full window, they cost us nothing), and the socket is destroyed LINGER_MS later.
 */
export function lingerAfterResponse(req: IncomingMessage, res: ServerResponse): void {
  const socket: Socket = req.socket;
  res.once('finish', () => {
    // Node dumps an unread request body (reads it to drop it): read nothing more instead.
    req.pause();
    // Node's destroySoon() waits for the socket's 'finish' to destroy it: wait longer.
    socket.removeListener('finish', socket.destroy);
    const timer = setTimeout(() => socket.destroy(), LINGER_MS);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
  });
}

/** Context key under which bodyLimit leaves the bytes it read. */
const BODY_KEY = 'limitedBody';

/** Thrown (and answered 413) when a body passes its limit. */
export function bodyTooLarge(maxBytes: number): ApiError {
  return new ApiError('ERR_API_BODY_TOO_LARGE', `request body larger than ${maxBytes} bytes`, {
    context: { maxBytes },
  });
}

/**
 * Whether the request carries a body: over Node, it says so (a length above 0, or any
 * transfer-encoding); in process (`app.request()`), the web request has one.
 */
function declaresBody(c: Context): boolean {
  if (nodeIncoming(c) === undefined) return c.req.raw.body !== null;
  if (c.req.header('transfer-encoding') !== undefined) return true;
  const length = c.req.header('content-length');
  return length !== undefined && length !== '0';
}

/** The Node request under @hono/node-server, when there is one. */
function nodeIncoming(c: Context): IncomingMessage | undefined {
  const incoming = (c.env as { incoming?: unknown } | undefined)?.incoming;
  return incoming !== null && typeof incoming === 'object' && 'on' in incoming
    ? (incoming as IncomingMessage)
    : undefined;
}

/** Reads the Node request stream, counting each chunk; stops reading at the limit. */
function readIncoming(incoming: IncomingMessage, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = (): void => {
      incoming.off('data', onData);
      incoming.off('end', onEnd);
      incoming.off('error', onCut);
      incoming.off('close', onCut);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > maxBytes) {
        cleanup();
        incoming.pause();
        chunks.length = 0;
        reject(bodyTooLarge(maxBytes));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(Buffer.concat(chunks, size));
    };
    const onCut = (): void => {
      cleanup();
      if (incoming.readableEnded) resolve(Buffer.concat(chunks, size));
      else reject(new ApiError('ERR_API_VALIDATION', 'request body was cut off'));
    };
    incoming.on('data', onData);
    incoming.on('end', onEnd);
    incoming.on('error', onCut);
    incoming.on('close', onCut);
  });
}

/** Reads a web request body (in-process `app.request()`), counting each chunk. */
async function readWebBody(c: Context, maxBytes: number): Promise<Buffer> {
  const body = c.req.raw.body;
  if (body === null) return Buffer.alloc(0);
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw bodyTooLarge(maxBytes);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, size);
}

/**
 * The request body, at most `maxBytes`: what bodyLimit already read, or read now with the same
 * count. A declared content-length over the limit fails before a byte is read.
 */
export async function readLimitedBody(c: Context, maxBytes: number): Promise<Buffer> {
  const read = c.get(BODY_KEY as never) as Buffer | undefined;
  if (read !== undefined) {
    if (read.length > maxBytes) throw bodyTooLarge(maxBytes);
    return read;
  }
  if (!declaresBody(c)) return Buffer.alloc(0);
  const length = Number(c.req.header('content-length') ?? '0');
  const incoming = nodeIncoming(c);
  const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
  const linger = (): void => {
    if (incoming !== undefined && outgoing !== undefined) {
      lingerAfterResponse(incoming, outgoing);
    }
  };
  if (!(length <= maxBytes)) {
    linger();
    throw bodyTooLarge(maxBytes);
  }
  let body: Buffer;
  try {
    body =
      incoming === undefined
        ? await readWebBody(c, maxBytes)
        : await readIncoming(incoming, maxBytes);
  } catch (error) {
    if (error instanceof ApiError && error.code === 'ERR_API_BODY_TOO_LARGE') linger();
    throw error;
  }
  c.set(BODY_KEY as never, body as never);
  return body;
}

/**
 * Middleware run first on every request of an app: a body is read here, counted as it arrives, so
 * no handler (nor the adapter) ever holds more than the route's limit. Over the limit: 413 with
 * `connection: close` (Node then closes the socket once the answer is out).
 */
export function bodyLimit(limits: BodyLimits): MiddlewareHandler {
  return async (c, next) => {
    if (!declaresBody(c)) return next();
    const method = c.req.method;
    const maxBytes =
      limits.routes?.[`${method} ${c.req.path}`] ??
      (method === 'GET' || method === 'HEAD' ? 0 : limits.defaultMaxBytes);
    try {
      await readLimitedBody(c, maxBytes);
    } catch (error) {
      if (error instanceof ApiError && error.code === 'ERR_API_BODY_TOO_LARGE') {
        return codedErrorResponse(c, error.code, error.message, { connection: 'close' });
      }
      throw error;
    }
    return next();
  };
}
