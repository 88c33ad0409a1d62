// What any local user can make the Workload API hold, bounded per uid and counted as it happens:
// connections (at accept, from SO_PEERCRED), calls in flight and calls whose request message has
// not fully arrived yet (at the request headers, before grpc-js buffers a byte of the message).
import * as grpc from '@grpc/grpc-js';
import type { CallStatus } from './call-status.js';
import type { Clock } from '../clock.js';

export interface AdmissionLimits {
  readonly maxConnectionsPerUid: number;
  readonly maxCallsPerUid: number;
  readonly maxReceivingPerUid: number;
  readonly maxReceiving: number;
}

export type WarnFn = (message: string, fields?: Record<string, unknown>) => void;

export interface Admission {
  /** False when `uid` holds its maximum of connections (logged). */
  admitConnection(uid: number): boolean;
  releaseConnection(uid: number): void;
  /** A refusal when `uid` holds its maximum of calls, or of calls still receiving (logged). */
  admitCall(uid: number): CallStatus | undefined;
  /** The call's request message arrived: it no longer counts as receiving. */
  received(uid: number): void;
  releaseCall(uid: number, receiving: boolean): void;
  /** Logs (throttled like the refusals above) something done to `uid`'s caller. */
  note(kind: string, uid: number): void;
  /** Calls in flight now, all uids; and of them, calls still receiving their request. */
  readonly calls: number;
  readonly receiving: number;
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
  const connections = new Map<number, number>();
  const calls = new Map<number, number>();
  const receiving = new Map<number, number>();
  let allCalls = 0;
  let allReceiving = 0;
  const refused = throttledWarn(options.warn, options.now);
  const exhausted = (details: string): CallStatus => ({
    code: grpc.status.RESOURCE_EXHAUSTED,
    details,
  });

  return {
    admitConnection(uid) {
      if ((connections.get(uid) ?? 0) >= limits.maxConnectionsPerUid) {
        refused('connection refused (connections per uid)', uid);
        return false;
      }
      bump(connections, uid, 1);
      return true;
    },
    releaseConnection(uid) {
      bump(connections, uid, -1);
    },
    admitCall(uid) {
      if ((calls.get(uid) ?? 0) >= limits.maxCallsPerUid) {
        refused('call refused (calls per uid)', uid);
        return exhausted('too many calls in flight from this user');
      }
      if ((receiving.get(uid) ?? 0) >= limits.maxReceivingPerUid) {
        refused('call refused (requests still arriving per uid)', uid);
        return exhausted('too many requests still arriving from this user');
      }
      if (allReceiving >= limits.maxReceiving) {
        refused('call refused (requests still arriving, all uids)', uid);
        return exhausted('too many requests still arriving');
      }
      bump(calls, uid, 1);
      bump(receiving, uid, 1);
      allCalls += 1;
      allReceiving += 1;
      return undefined;
    },
    received(uid) {
      bump(receiving, uid, -1);
      allReceiving -= 1;
    },
    releaseCall(uid, stillReceiving) {
      if (stillReceiving) this.received(uid);
      bump(calls, uid, -1);
      allCalls -= 1;
    },
    note: refused,
    get calls() {
      return allCalls;
    },
    get receiving() {
      return allReceiving;
    },
  };
}
