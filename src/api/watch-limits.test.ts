// Unit tests of the watch-stream limiter (issue 15 finding 7): caps, heartbeat jitter, batched fan-out.
import { describe, expect, it } from 'vitest';
import { createWatchLimiter, jitteredDelayMs, watchAgentKey } from './watch-limits.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return (error as { code?: string }).code;
  }
  return undefined;
}

describe('watch limiter', () => {
  it('caps streams per agent and in all with ERR_API_TOO_MANY_STREAMS; release frees the place once', () => {
    const limiter = createWatchLimiter({ maxStreamsPerAgent: 2, maxStreams: 3, heartbeatMs: 1000 });
    const a = watchAgentKey('spiffe://td/a', undefined);
    const b = watchAgentKey('spiffe://td/b', 'i-1');
    const first = limiter.acquire(a);
    limiter.acquire(a);
    expect(codeOf(() => limiter.acquire(a))).toBe('ERR_API_TOO_MANY_STREAMS');
    limiter.acquire(b);
    expect(codeOf(() => limiter.acquire('spiffe://td/c'))).toBe('ERR_API_TOO_MANY_STREAMS');
    first.release();
    first.release();
    expect(limiter.open()).toBe(2);
    expect(limiter.open(a)).toBe(1);
    expect(() => limiter.acquire(a)).not.toThrow();
  });

  it('instances of one template ID are separate agents', () => {
    expect(watchAgentKey('spiffe://td/x', 'i-1')).not.toBe(watchAgentKey('spiffe://td/x', 'i-2'));
  });

  it.each([
    [0, 500],
    [0.5, 1000],
    [0.999999, 1500],
    [-1, 500],
    [2, 1500],
  ])('jittered heartbeat: random %d gives %d ms of a 1000 ms mean', (r, expected) => {
    expect(jitteredDelayMs(1000, () => r)).toBe(expected);
  });

  it('a change wakes subscribers in batches, one batch per turn of the event loop', async () => {
    const limiter = createWatchLimiter({
      maxStreamsPerAgent: 1,
      maxStreams: 1,
      heartbeatMs: 1000,
      wakeBatch: 10,
    });
    let woken = 0;
    for (let i = 0; i < 35; i++) limiter.subscribe(() => (woken += 1));
    const generation = limiter.generation();
    limiter.notify();
    expect(limiter.generation()).toBe(generation + 1);
    expect(woken).toBe(10);
    await new Promise((resolve) => setImmediate(resolve));
    expect(woken).toBe(20);
    for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(woken).toBe(35);
  });

  it('a change during a fan-out is delivered again to everyone afterwards', async () => {
    const limiter = createWatchLimiter({
      maxStreamsPerAgent: 1,
      maxStreams: 1,
      heartbeatMs: 1000,
      wakeBatch: 2,
    });
    let woken = 0;
    for (let i = 0; i < 4; i++) limiter.subscribe(() => (woken += 1));
    limiter.notify();
    limiter.notify();
    for (let i = 0; i < 6; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(woken).toBe(8);
  });
});
