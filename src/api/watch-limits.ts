// Limits and fan-out for long-lived watch streams (issue 15), shared by every app that serves one:
// a per-agent and a global cap on open streams (429 + Retry-After), jittered heartbeats, and change
// notices delivered to streams in batches so that thousands of them do not stall the event loop.
import { ApiError } from '../errors.js';

export interface WatchLimiterOptions {
  /** Open streams one agent (SPIFFE ID and instance) may hold. */
  readonly maxStreamsPerAgent: number;
  /** Open streams in all. */
  readonly maxStreams: number;
  /** Mean heartbeat interval; each wait is drawn from [0.5, 1.5) of it. */
  readonly heartbeatMs: number;
  /** Uniform in [0, 1); injected by tests. Default Math.random. */
  readonly random?: () => number;
  /** Streams woken per turn of the event loop when a change fans out; default 64. */
  readonly wakeBatch?: number;
}

/** Seconds a refused caller is told to wait (Retry-After). */
export const WATCH_RETRY_AFTER_SECONDS = 10;

/** One open stream's place under the caps; release it exactly once when the stream ends. */
export interface WatchLease {
  release(): void;
}

export interface WatchLimiter {
  /** Takes a place for `agentKey` or throws 429 ERR_API_TOO_MANY_STREAMS. */
  acquire(agentKey: string): WatchLease;
  /** The next heartbeat wait of one stream, jittered so that streams do not beat together. */
  heartbeatDelayMs(): number;
  /** Registers a stream's wake-up; returns the unsubscribe. */
  subscribe(wake: () => void): () => void;
  /** A change: every subscribed stream is woken, `wakeBatch` per turn of the event loop. */
  notify(): void;
  /** Bumped on every notify: lets streams share one body per change. */
  generation(): number;
  /** Open streams now, in all and for one agent. */
  open(agentKey?: string): number;
}

/** The key of one agent: its SPIFFE ID plus its instance id (ID-12 templates). */
export function watchAgentKey(spiffeId: string, instanceId: string | undefined): string {
  return instanceId === undefined ? spiffeId : `${spiffeId}#${instanceId}`;
}

/** The jittered wait: `heartbeatMs` scaled by a factor in [0.5, 1.5). */
export function jitteredDelayMs(heartbeatMs: number, random: () => number): number {
  const r = Math.min(Math.max(random(), 0), 0.999_999);
  return Math.max(1, Math.round(heartbeatMs * (0.5 + r)));
}

export function createWatchLimiter(options: WatchLimiterOptions): WatchLimiter {
  const random = options.random ?? Math.random;
  const batch = options.wakeBatch ?? 64;
  const perAgent = new Map<string, number>();
  let total = 0;
  const subscribers = new Set<() => void>();
  let generation = 0;
  let fanning = false;
  let again = false;

  const tooMany = (message: string): ApiError =>
    new ApiError('ERR_API_TOO_MANY_STREAMS', message, {
      context: { retryAfterSeconds: WATCH_RETRY_AFTER_SECONDS },
    });

  // Wakes a snapshot of the subscribers in batches; a change during a fan-out starts another
  // pass afterwards (streams re-read everything on wake, so one extra pass covers any number).
  const fanOut = (): void => {
    fanning = true;
    again = false;
    const targets = [...subscribers];
    let index = 0;
    const step = (): void => {
      const end = Math.min(index + batch, targets.length);
      for (; index < end; index++) {
        const wake = targets[index];
        if (wake !== undefined && subscribers.has(wake)) wake();
      }
      if (index < targets.length) {
        setImmediate(step);
        return;
      }
      fanning = false;
      if (again) fanOut();
    };
    step();
  };

  return {
    acquire(agentKey) {
      const mine = perAgent.get(agentKey) ?? 0;
      if (mine >= options.maxStreamsPerAgent) {
        throw tooMany(
          `this agent already holds ${mine} watch streams (limit ${options.maxStreamsPerAgent})`,
        );
      }
      if (total >= options.maxStreams) {
        throw tooMany(`the broker holds ${total} watch streams (limit ${options.maxStreams})`);
      }
      perAgent.set(agentKey, mine + 1);
      total += 1;
      let released = false;
      return {
        release() {
          if (released) return;
          released = true;
          total -= 1;
          const left = (perAgent.get(agentKey) ?? 1) - 1;
          if (left <= 0) perAgent.delete(agentKey);
          else perAgent.set(agentKey, left);
        },
      };
    },
    heartbeatDelayMs: () => jitteredDelayMs(options.heartbeatMs, random),
    subscribe(wake) {
      subscribers.add(wake);
      return () => {
        subscribers.delete(wake);
      };
    },
    notify() {
      generation += 1;
      if (fanning) again = true;
      else fanOut();
    },
    generation: () => generation,
    open: (agentKey) => (agentKey === undefined ? total : (perAgent.get(agentKey) ?? 0)),
  };
}
