// The Workload API's server streams (WAPI-8): complete state on open and on every change, unchanged
// state never re-sent, at most one message waiting behind a write, a timer for renewals and
// expiry, and a bound on open streams counted as they open.
import * as grpc from '@grpc/grpc-js';
import { checkHeader, failStream, statusOf, type Caller, type CallerOf } from './call-status.js';
import type { Clock } from '../clock.js';

export interface Built {
  readonly message: unknown;
  /** Digest of the public content: an unchanged message is not sent again. */
  readonly version: string;
  /** When to rebuild even without a change (renewal, expiry); undefined: only on change. */
  readonly nextMs?: number;
}

export interface StreamHub {
  serve(
    call: grpc.ServerWritableStream<unknown, unknown>,
    build: (c: Caller) => Promise<Built>,
  ): void;
  /** Rebuilds every open stream (node state changed). */
  broadcast(): void;
  readonly open: number;
  clear(): void;
}

export function createStreamHub(options: {
  readonly maxStreams: number;
  readonly now: Clock;
  readonly callerOf: CallerOf;
}): StreamHub {
  const listeners = new Set<() => void>();
  let open = 0;

  function serve(
    call: grpc.ServerWritableStream<unknown, unknown>,
    build: (caller: Caller) => Promise<Built>,
  ): void {
    try {
      checkHeader(call.metadata);
    } catch (error) {
      failStream(call, statusOf(error));
      return;
    }
    if (open >= options.maxStreams) {
      failStream(call, { code: grpc.status.RESOURCE_EXHAUSTED, details: 'too many open streams' });
      return;
    }
    open += 1;
    let ended = false;
    let last: string | undefined;
    let timer: NodeJS.Timeout | undefined;
    let chain: Promise<void> = Promise.resolve();
    // WAPI-8: every message is the complete state, so while one is still being written (a client
    // that does not read holds it back) only the latest waits; a newer one replaces it.
    let writing = false;
    let waiting: unknown;
    const send = (message: unknown): void => {
      if (writing) {
        waiting = message;
        return;
      }
      writing = true;
      call.write(message, () => {
        writing = false;
        const next = waiting;
        waiting = undefined;
        if (next !== undefined && !ended) send(next);
      });
    };
    const end = (): void => {
      if (ended) return;
      ended = true;
      open -= 1;
      clearTimeout(timer);
      listeners.delete(push);
      waiting = undefined;
    };
    const run = async (): Promise<void> => {
      if (ended) return;
      try {
        // Every push re-attests the caller: an exec'd or exited process loses its identity.
        const built = await build(await options.callerOf(call.getPeer()));
        if (ended) return;
        if (built.version !== last) {
          last = built.version;
          send(built.message);
        }
        clearTimeout(timer);
        if (built.nextMs !== undefined) {
          const delay = Math.max(100, Math.min(built.nextMs - options.now(), 2 ** 31 - 1));
          timer = setTimeout(push, delay);
          timer.unref();
        }
      } catch (error) {
        if (ended) return;
        end();
        failStream(call, statusOf(error));
      }
    };
    function push(): void {
      chain = chain.then(run);
    }
    call.on('cancelled', end);
    call.on('close', end);
    call.on('error', end);
    listeners.add(push);
    push();
  }

  return {
    serve,
    broadcast() {
      for (const listener of listeners) listener();
    },
    get open() {
      return open;
    },
    clear() {
      listeners.clear();
    },
  };
}
