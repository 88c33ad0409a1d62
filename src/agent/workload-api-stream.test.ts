// WAPI-6 / WAPI-19: the retry delays of runStream over scripted calls (fake timers): only an
// accepted message resets the backoff; a message the client discards (WAPI-9) does not.
import { EventEmitter } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { grpc } from './workload-api-client.js';
import { runStream, type StreamEnd } from './workload-api-stream.js';

/** A call that sends one message and then ends with Unavailable. */
function scriptedCall(): grpc.ClientReadableStream<unknown> {
  const call = Object.assign(new EventEmitter(), { cancel: () => undefined });
  setTimeout(() => {
    call.emit('data', { svids: [] });
    call.emit('status', { code: grpc.status.UNAVAILABLE, details: 'down', metadata: undefined });
  }, 0);
  return call as unknown as grpc.ClientReadableStream<unknown>;
}

/** The retry delays runStream chooses over `calls` calls whose message `accept` judges. */
async function delaysOver(calls: number, accept: (call: number) => boolean): Promise<number[]> {
  const delays: number[] = [];
  let opened = 0;
  const stream = runStream(
    {
      open: () => {
        opened += 1;
        return scriptedCall();
      },
      onMessage: () => accept(opened),
      onDenied: () => undefined,
      onFatal: (end: StreamEnd) => {
        throw new Error(`unexpected fatal ${end.code}`);
      },
      onRetry: (_end, delayMs) => delays.push(delayMs),
    },
    { initialMs: 100, maxMs: 100_000 },
  );
  while (delays.length < calls) await vi.advanceTimersToNextTimerAsync();
  stream.stop();
  return delays;
}

describe('WAPI-6 / WAPI-19: backoff of runStream', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('discarded messages before Unavailable: the delay keeps doubling', async () => {
    const delays = await delaysOver(8, () => false);
    // Attempt n waits between 50 % and 100 % of 100 ms * 2^n.
    delays.forEach((delay, attempt) => {
      expect(delay).toBeGreaterThanOrEqual(50 * 2 ** attempt);
      expect(delay).toBeLessThanOrEqual(100 * 2 ** attempt);
    });
  });

  it('an accepted message resets the backoff to its first step', async () => {
    // Calls 1-4 discard, call 5 accepts (short-lived stream: not healthy, so it still waits).
    const delays = await delaysOver(6, (call) => call === 5);
    expect(delays[3]).toBeGreaterThanOrEqual(400);
    expect(delays[4]).toBeLessThanOrEqual(100);
    expect(delays[5]).toBeGreaterThanOrEqual(100);
  });
});
