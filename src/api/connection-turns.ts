// Pipelined requests on one connection are handled one at a time, each after a turn of the event
// loop (issue 15): a client that pipelines dozens of requests per connection gets no bigger share
// of the process than one that sends them one by one, so it cannot starve the other listeners.
// Every connection (turns or not) holds at most MAX_REQUESTS_PER_CONNECTION requests at once: Node
// parses each pipelined request as it arrives, whether or not earlier ones have been answered.
import type { ServerResponse } from 'node:http';
import type { MiddlewareHandler } from 'hono';
import { codedErrorResponse } from './http-errors.js';

/**
 * Requests one connection may have in progress at once (arrived, not yet answered); the next one
 * closes the connection. Each held request costs about 10 KiB (Node's request and response, the
 * Hono context): 100,000 pipelined GETs on one connection took a broker past 1 GiB of heap. Our
 * agents send one request at a time; bench/agent-renewals.ts pipelines 8.
 */
export const MAX_REQUESTS_PER_CONNECTION = 16;

/** The connection a request came on (@hono/node-server's Node request), if any. */
function connectionOf(env: unknown): object | undefined {
  const socket = (env as { incoming?: { socket?: unknown } } | undefined)?.incoming?.socket;
  return socket !== null && typeof socket === 'object' ? socket : undefined;
}

/**
 * Middleware: a request waits for the previous one on its connection to finish (HTTP/1.1 answers
 * pipelined requests in order anyway), then for one turn of the event loop, so other sockets' I/O
 * runs between a pipeliner's requests. Requests that come one by one never wait. `appliesTo`
 * limits the turns to some connections (the agent API: those that presented no certificate).
 */
export function connectionTurns(
  options: {
    readonly appliesTo?: (connection: object) => boolean;
    /** Default MAX_REQUESTS_PER_CONNECTION. */
    readonly maxInProgress?: number;
  } = {},
): MiddlewareHandler {
  const maxInProgress = options.maxInProgress ?? MAX_REQUESTS_PER_CONNECTION;
  const inProgress = new WeakMap<object, number>();
  const last = new WeakMap<object, Promise<void>>();
  // Whether a connection takes turns is decided once, at its first request.
  const decided = new WeakMap<object, boolean>();
  const applies = (connection: object): boolean => {
    if (options.appliesTo === undefined) return true;
    let yes = decided.get(connection);
    if (yes === undefined) {
      yes = options.appliesTo(connection);
      decided.set(connection, yes);
    }
    return yes;
  };
  return async (c, next) => {
    const connection = connectionOf(c.env);
    if (connection === undefined) return next();
    const held = (inProgress.get(connection) ?? 0) + 1;
    if (held > maxInProgress) {
      // Closed before this request is handled: nothing more is read from the connection, and what
      // it held is released. The answer below goes nowhere; it keeps Hono's contract.
      (connection as { destroy?: () => void }).destroy?.();
      return codedErrorResponse(
        c,
        'ERR_API_RATE_LIMITED',
        `more than ${maxInProgress} requests in progress on one connection`,
        { connection: 'close' },
      );
    }
    inProgress.set(connection, held);
    const release = (): void => {
      const count = (inProgress.get(connection) ?? 1) - 1;
      if (count > 0) inProgress.set(connection, count);
      else inProgress.delete(connection);
    };
    // Held until Node has answered it (or the connection is gone), not only until its handler ends:
    // answers to pipelined requests wait in order.
    const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
    if (typeof outgoing?.once === 'function') outgoing.once('close', release);
    try {
      if (!applies(connection)) return await next();
      return await takeTurn(connection, next);
    } finally {
      if (typeof outgoing?.once !== 'function') release();
    }
  };

  async function takeTurn(connection: object, next: () => Promise<void>): Promise<void> {
    const previous = last.get(connection);
    let finish: () => void = () => undefined;
    const mine = new Promise<void>((resolve) => {
      finish = resolve;
    });
    last.set(connection, mine);
    try {
      if (previous !== undefined) {
        await previous;
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      await next();
    } finally {
      finish();
      if (last.get(connection) === mine) last.delete(connection);
    }
  }
}
