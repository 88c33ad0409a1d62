// Pipelined requests on one connection are handled one at a time, each after a turn of the event
// loop (issue 15): a client that pipelines dozens of requests per connection gets no bigger share
// of the process than one that sends them one by one, so it cannot starve the other listeners.
import type { MiddlewareHandler } from 'hono';

/** The connection a request came on (@hono/node-server's Node request), if any. */
function connectionOf(env: unknown): object | undefined {
  const socket = (env as { incoming?: { socket?: unknown } } | undefined)?.incoming?.socket;
  return socket !== null && typeof socket === 'object' ? socket : undefined;
}

/**
 * Middleware: a request waits for the previous one on its connection to finish (HTTP/1.1 answers
 * pipelined requests in order anyway), then for one turn of the event loop, so other sockets' I/O
 * runs between a pipeliner's requests. Requests that come one by one never wait.
 */
export function connectionTurns(): MiddlewareHandler {
  const last = new WeakMap<object, Promise<void>>();
  return async (c, next) => {
    const connection = connectionOf(c.env);
    if (connection === undefined) return next();
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
  };
}
