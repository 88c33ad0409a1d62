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
 * runs between a pipeliner's requests. Requests that come one by one never wait. `appliesTo`
 * limits the turns to some connections (the agent API: those that presented no certificate).
 */
export function connectionTurns(
  options: { readonly appliesTo?: (connection: object) => boolean } = {},
): MiddlewareHandler {
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
    if (connection === undefined || !applies(connection)) return next();
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
