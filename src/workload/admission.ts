// What any local user can make the Workload API hold, per uid and counted as it happens: connections
// (at accept, SO_PEERCRED), calls in flight and requests still arriving (at the request headers);
// the pools of connections and arriving requests are shared fairly between uids (fair-pool.ts).
import * as grpc from '@grpc/grpc-js';
import type { CallStatus } from './call-status.js';
import type { Clock } from '../clock.js';
import { createFairPool } from './fair-pool.js';

export interface AdmissionLimits {
  readonly maxConnectionsPerUid: number;
  readonly maxConnections: number;
  readonly maxCallsPerUid: number;
  readonly maxReceivingPerUid: number;
  readonly maxReceiving: number;
}

export type WarnFn = (message: string, fields?: Record<string, unknown>) => void;

/** A connection or an arriving request: what holds a slot, and how to take it back. */
export interface Holder {
  /** The pool took the slot back for another uid: close the connection, or refuse the call. */
  evict(): void;
}

export interface Admission {
  /**
   * False when `uid` holds its maximum of connections, or the pool is full and `uid` may not take
   * a connection of the uid holding the most (logged; that connection is evicted when it may).
   */
  admitConnection(uid: number, holder: Holder): boolean;
  releaseConnection(uid: number, holder: Holder): void;
  /** A refusal when `uid` holds its maximum of calls, or of calls still receiving (logged). */
  admitCall(uid: number, holder: Holder): CallStatus | undefined;
  /** The call's request arrived: it no longer counts as receiving. */
  received(uid: number, holder: Holder): void;
  releaseCall(uid: number, holder: Holder, receiving: boolean): void;
  /** Logs (throttled like the refusals above) something done to `uid`'s caller. */
  note(kind: string, uid: number): void;
  /** Calls in flight now, all uids; and of them, calls still receiving their request. */
  readonly calls: number;
  readonly receiving: number;
  /** Connections held now, all uids. */
  readonly connections: number;
}

const LOG_EVERY_MS = 60_000;

/**
 * One log line per uid and kind of refusal per minute (with the count refused meanwhile), so a
 * caller refused thousands of times cannot flood the log.
 */
function throttledWarn(warn: WarnFn | undefined, now: Clock): (kind: string, uid: number) => void {
  const last = new Map<string, { at: number; suppressed: number }>();
  return (kind, uid) => {
    if (warn === undefined) return;
    const key = `${kind}:${uid}`;
    const seen = last.get(key);
    if (seen !== undefined && now() - seen.at < LOG_EVERY_MS) {
      seen.suppressed += 1;
      return;
    }
    if (last.size > 10_000) last.clear();
    last.set(key, { at: now(), suppressed: 0 });
    warn(`workload API: ${kind}`, {
      uid,
      sinceLastLine: seen?.suppressed ?? 0,
    });
  };
}

function bump(counts: Map<number, number>, uid: number, by: number): void {
  const next = (counts.get(uid) ?? 0) + by;
  if (next <= 0) counts.delete(uid);
  else counts.set(uid, next);
}

export function createAdmission(
  limits: AdmissionLimits,
  options: { readonly now: Clock; readonly warn?: WarnFn },
): Admission {
  const calls = new Map<number, number>();
  let allCalls = 0;
  const refused = throttledWarn(options.warn, options.now);
  const exhausted = (details: string): CallStatus => ({
    code: grpc.status.RESOURCE_EXHAUSTED,
    details,
  });
  // Fair shares of the two pools every uid draws from (review 14 F2): a full pool takes a slot
  // back from the uid holding the most, its newest connection (older ones carry the streams a
  // workload keeps) or its oldest arriving request (a request arrives in milliseconds; a slot held
  // longest is the likeliest to be held on purpose).
  const pool = (max: number, maxPerUid: number, victim: 'oldest' | 'newest', given: string) =>
    createFairPool<Holder>({
      max,
      maxPerUid,
      victim,
      evict: (uid, holder) => {
        refused(given, uid);
        holder.evict();
      },
    });
  const connections = pool(
    limits.maxConnections,
    limits.maxConnectionsPerUid,
    'newest',
    'connection closed (connection pool full, this uid holds the most)',
  );
  const receiving = pool(
    limits.maxReceiving,
    limits.maxReceivingPerUid,
    'oldest',
    'call refused (arriving pool full, this uid holds the most)',
  );

  return {
    admitConnection(uid, holder) {
      const taken = connections.take(uid, holder);
      if (taken === 'taken') return true;
      refused(
        taken === 'per-uid'
          ? 'connection refused (connections per uid)'
          : 'connection refused (connections, all uids)',
        uid,
      );
      return false;
    },
    releaseConnection(uid, holder) {
      connections.give(uid, holder);
    },
    admitCall(uid, holder) {
      if ((calls.get(uid) ?? 0) >= limits.maxCallsPerUid) {
        refused('call refused (calls per uid)', uid);
        return exhausted('too many calls in flight from this user');
      }
      const taken = receiving.take(uid, holder);
      if (taken === 'per-uid') {
        refused('call refused (requests still arriving per uid)', uid);
        return exhausted('too many requests still arriving from this user');
      }
      if (taken === 'full') {
        refused('call refused (requests still arriving, all uids)', uid);
        return exhausted('too many requests still arriving');
      }
      bump(calls, uid, 1);
      allCalls += 1;
      return undefined;
    },
    received(uid, holder) {
      receiving.give(uid, holder);
    },
    releaseCall(uid, holder, stillReceiving) {
      if (stillReceiving) receiving.give(uid, holder);
      bump(calls, uid, -1);
      allCalls -= 1;
    },
    note: refused,
    get calls() {
      return allCalls;
    },
    get receiving() {
      return receiving.size;
    },
    get connections() {
      return connections.size;
    },
  };
}
