// One server-sent-events watch loop for the agent API's streams (`/v1/agent/bundles/watch` and
// `/v1/agent/node/watch`): the complete state on connect and after every change, jittered
// heartbeats between, an `end` event when the caller's entry or SVID is gone. Each route says only
// what its state is; the stream caps (issue 15) are taken here too, so both routes answer alike.
import type { Context } from 'hono';
import { streamSSE, type SSEStreamingApi } from 'hono/streaming';
import { isBrokerError } from '../errors.js';
import { codedErrorResponse } from './http-errors.js';
import { WATCH_RETRY_AFTER_SECONDS, type WatchLease } from './watch-limits.js';

export interface WatchSpec {
  /** The SSE event name of a state message (`bundles`, `state`). */
  readonly event: string;
  /** The data of the `end` event sent when `read` finds the caller gone. */
  readonly endMessage: string;
  /** The current state as one event body, or undefined when the stream must end. */
  read(): Promise<string | undefined>;
  /** Milliseconds until the caller's SVID expires; the stream ends then, not at the next beat. */
  untilExpiryMs(): number;
  /** The wait before the next heartbeat comment (jittered per wait by the limiter). */
  heartbeatDelayMs(): number;
  /** Registers the stream's wake-up on any change; returns the unsubscribe. */
  subscribe(changed: () => void): () => void;
  /** The broker's stop signal: once aborted, the stream ends at its next pass. */
  readonly signal?: AbortSignal | undefined;
  /**
   * Whether the loop must listen for `signal` itself. Subscriptions through the agent API's
   * limiter are woken on abort already (one listener for all streams, not one each).
   */
  readonly listenForAbort: boolean;
  /** Logs a failure after the headers went out (the stream just closes; the caller reconnects). */
  onError(error: unknown): void;
}

/**
 * Takes a stream lease (429 `ERR_API_TOO_MANY_STREAMS` with `Retry-After` past a cap), then serves
 * the watch; the lease is released when the stream ends, however it ends.
 */
export function serveWatch(
  c: Context,
  acquire: (() => WatchLease) | undefined,
  spec: WatchSpec,
): Response | Promise<Response> {
  let lease: WatchLease | undefined;
  try {
    lease = acquire?.();
  } catch (error) {
    if (!isBrokerError(error) || error.code !== 'ERR_API_TOO_MANY_STREAMS') throw error;
    return codedErrorResponse(c, error.code, error.message, {
      'retry-after': String(WATCH_RETRY_AFTER_SECONDS),
    });
  }
  return streamSSE(c, async (stream) => {
    try {
      await runWatch(stream, spec);
    } finally {
      lease?.release();
    }
  });
}

async function runWatch(stream: SSEStreamingApi, spec: WatchSpec): Promise<void> {
  // A watch opened while the broker is stopping ends at once (the abort event already fired).
  let closed = spec.signal?.aborted === true;
  // A change signalled while the loop is busy (reading state, writing an event) is kept here, so
  // the next wait returns at once instead of sleeping until the heartbeat. Reset at the top of
  // each pass, which reads everything afresh.
  let pending: boolean;
  let wake: (() => void) | undefined;
  const changed = (): void => {
    pending = true;
    wake?.();
  };
  const stop = (): void => {
    closed = true;
    wake?.();
  };
  const unsubscribe = spec.subscribe(changed);
  stream.onAbort(stop);
  if (spec.listenForAbort) spec.signal?.addEventListener('abort', stop, { once: true });
  const stopping = (): boolean => closed || spec.signal?.aborted === true || stream.aborted;
  try {
    let lastBody = '';
    let id = 0;
    while (!stopping()) {
      pending = false;
      const untilExpiry = spec.untilExpiryMs();
      const body = untilExpiry <= 0 ? undefined : await spec.read();
      if (body === undefined) {
        await stream.writeSSE({ event: 'end', data: spec.endMessage });
        break;
      }
      if (body !== lastBody) {
        lastBody = body;
        id += 1;
        await stream.writeSSE({ event: spec.event, id: String(id), data: body });
      } else {
        await stream.write(': keep-alive\n\n');
      }
      if (pending || stopping()) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(spec.heartbeatDelayMs(), untilExpiry));
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
    }
  } catch (error) {
    spec.onError(error);
  } finally {
    unsubscribe();
    if (spec.listenForAbort) spec.signal?.removeEventListener('abort', stop);
  }
}
