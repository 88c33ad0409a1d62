// Keeps one Workload API server stream open (WAPI-19): reconnects at once after a stream that
// delivered accepted state ends, backs off (capped, jittered) while calls fail with Unavailable or
// PermissionDenied, and stops for good on InvalidArgument or Unimplemented (WAPI-6).
import { grpc } from './workload-api-client.js';

export interface BackoffOptions {
  /** First retry delay; default 200 ms. */
  readonly initialMs?: number;
  /** Cap; default 30 s. */
  readonly maxMs?: number;
}

/** How a stream ended, as the runner reports it. */
export interface StreamEnd {
  readonly code: grpc.status;
  readonly details: string;
}

export interface StreamHooks {
  /** Opens a new call (the caller adds the security header). */
  open(): grpc.ClientReadableStream<unknown>;
  /** Each message; returns whether it was accepted (a discarded one leaves the stream open). */
  onMessage(message: unknown): boolean;
  /** PermissionDenied: the caller has no identity (any more); retried with backoff (WAPI-6). */
  onDenied(end: StreamEnd): void;
  /** InvalidArgument or Unimplemented: reported, never retried (WAPI-6). */
  onFatal(end: StreamEnd): void;
  /** Any other failure (e.g. Unavailable while the agent is down): retried with backoff. */
  onRetry(end: StreamEnd, delayMs: number): void;
}

const FATAL = new Set<grpc.status>([grpc.status.INVALID_ARGUMENT, grpc.status.UNIMPLEMENTED]);
/** A stream that delivered state and lived this long is re-opened at once when it ends (WAPI-19). */
const HEALTHY_STREAM_MS = 1_000;

/** Delay before retry `attempt` (0-based): exponential, capped, with jitter in [50 %, 100 %]. */
export function backoffDelayMs(
  attempt: number,
  options: BackoffOptions = {},
  random: () => number = Math.random,
): number {
  const initial = options.initialMs ?? 200;
  const max = options.maxMs ?? 30_000;
  const base = Math.min(max, initial * 2 ** Math.min(attempt, 30));
  return Math.round(base * (0.5 + random() * 0.5));
}

/** Runs the stream until `stop()` or a fatal status. */
export function runStream(
  hooks: StreamHooks,
  options: BackoffOptions = {},
): { stop(): void; readonly stopped: boolean } {
  let stopped = false;
  let call: grpc.ClientReadableStream<unknown> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let attempt = 0;

  const connect = (): void => {
    if (stopped) return;
    const openedAt = Date.now();
    let delivered = false;
    let ended = false;
    const current = hooks.open();
    call = current;
    current.on('data', (message: unknown) => {
      // Only accepted state resets the backoff: a server answering each call with one message the
      // client discards (WAPI-9) and then Unavailable must not hold the retry delay at its floor.
      if (hooks.onMessage(message)) delivered = true;
    });
    // A listener for 'error' keeps grpc-js from throwing; the outcome is read from 'status'.
    current.on('error', () => undefined);
    current.on('status', (status: grpc.StatusObject) => {
      if (ended) return;
      ended = true;
      if (stopped || call !== current) return;
      const end = { code: status.code, details: status.details };
      if (FATAL.has(status.code)) {
        stopped = true;
        hooks.onFatal(end);
        return;
      }
      if (status.code === grpc.status.PERMISSION_DENIED) hooks.onDenied(end);
      const healthy = delivered && Date.now() - openedAt >= HEALTHY_STREAM_MS;
      if (delivered) attempt = 0;
      const delayMs = healthy ? 0 : backoffDelayMs(attempt++, options);
      hooks.onRetry(end, delayMs);
      timer = setTimeout(connect, delayMs);
    });
  };

  connect();
  return {
    stop() {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      call?.cancel();
    },
    get stopped() {
      return stopped;
    },
  };
}
