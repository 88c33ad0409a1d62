// The Workload API's server streams (WAPI-8): complete state on open and on every change, unchanged
// state never re-sent, at most one message waiting behind a write, a timer for renewals and
// expiry, and a bound on open streams counted as they open.
import * as grpc from '@grpc/grpc-js';
import type { Holder } from './admission.js';
import { createFairPool } from './fair-pool.js';
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
  /** Streams one uid may hold (its calls in flight bound them too). */
  readonly maxStreamsPerUid: number;
  readonly now: Clock;
  readonly callerOf: CallerOf;
  /** The uid of a connection (SO_PEERCRED at accept); undefined for one not accepted by us. */
  readonly uidOf: (peer: string) => number | undefined;
}): StreamHub {
  const listeners = new Set<() => void>();
  // Open streams are shared fairly between uids, as connections and arriving requests are: when all
  // are held, a uid holding fewer takes the newest stream of the uid holding the most, which ends
  // ResourceExhausted (clients retry) (review 14 F2's shape, left for streams until review 17).
  const streams = createFairPool<Holder>({
    max: options.maxStreams,
    maxPerUid: options.maxStreamsPerUid,
    victim: 'newest',
    evict: (_uid, stream) => stream.evict(),
  });

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
    const uid = options.uidOf(call.getPeer());
    const tooMany = { code: grpc.status.RESOURCE_EXHAUSTED, details: 'too many open streams' };
    const slot: Holder = {
      evict: () => {
        if (ended) return;
        end();
        failStream(call, tooMany);
      },
    };
    if (uid === undefined || streams.take(uid, slot) !== 'taken') {
      failStream(call, tooMany);
      return;
    }
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
      streams.give(uid, slot);
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
      return streams.size;
    },
    clear() {
      listeners.clear();
    },
  };
}
