// The fair pool (review 14 F2): a uid's share is capped, a full pool takes a slot back from the
// uid holding the most for a uid holding nothing (or two fewer), and never grows past its size.
import { describe, expect, it } from 'vitest';
import { createFairPool } from './fair-pool.js';

function pool(victim: 'oldest' | 'newest', max = 8, maxPerUid = 4) {
  const evicted: [number, string][] = [];
  const p = createFairPool<string>({
    max,
    maxPerUid,
    victim,
    evict: (uid, item) => evicted.push([uid, item]),
  });
  return { p, evicted };
}

describe('fair pool', () => {
  it('refuses a uid past its share while the pool has room', () => {
    const { p, evicted } = pool('oldest');
    for (let i = 0; i < 4; i += 1) expect(p.take(1, `a${i}`)).toBe('taken');
    expect(p.take(1, 'a4')).toBe('per-uid');
    expect(p.size).toBe(4);
    expect(evicted).toEqual([]);
  });

  it('a uid holding nothing takes the oldest slot of the uid holding the most when full', () => {
    const { p, evicted } = pool('oldest');
    for (let i = 0; i < 4; i += 1) p.take(1, `a${i}`);
    for (let i = 0; i < 4; i += 1) p.take(2, `b${i}`);
    expect(p.take(3, 'c0')).toBe('taken');
    // Equal holders: the one holding the oldest slot of all (uid 1) gives it.
    expect(evicted).toEqual([[1, 'a0']]);
    expect(p.size).toBe(8);
    expect(p.held(1)).toBe(3);
    p.give(1, 'a0'); // the evicted holder gives back late: nothing changes
    expect(p.size).toBe(8);
  });

  it('a uid two behind the heaviest takes its newest slot; one behind is refused (no ping-pong)', () => {
    const { p, evicted } = pool('newest', 6, 6);
    for (let i = 0; i < 4; i += 1) p.take(1, `a${i}`);
    p.take(2, 'b0');
    p.take(2, 'b1');
    expect(p.take(2, 'b2')).toBe('taken'); // 2 held vs 4: evicts a3
    expect(evicted).toEqual([[1, 'a3']]);
    expect(p.take(2, 'b3')).toBe('full'); // 3 held vs 3
    expect(p.take(1, 'a4')).toBe('full'); // 3 held vs 3
    expect(p.size).toBe(6);
  });

  it('many uids holding one slot each cannot keep a newcomer out', () => {
    const { p, evicted } = pool('oldest', 4, 4);
    for (let uid = 10; uid < 14; uid += 1) p.take(uid, `u${uid}`);
    expect(p.take(1, 'mine')).toBe('taken');
    expect(evicted).toEqual([[10, 'u10']]);
    // The evicted uid comes back holding nothing: it takes the oldest slot, not the newcomer's.
    expect(p.take(10, 'u10b')).toBe('taken');
    expect(evicted[1]).toEqual([11, 'u11']);
    expect(p.held(1)).toBe(1);
  });

  it('newest: among equal holders the uid that got there first gives up its newest slot; the last to get there keeps its own', () => {
    const { p, evicted } = pool('newest', 4, 2);
    p.take(1, 'a0');
    p.take(2, 'b0');
    p.take(1, 'a1');
    p.take(2, 'b1');
    expect(p.take(3, 'c0')).toBe('taken');
    expect(evicted).toEqual([[1, 'a1']]);
    // uid 1 comes back to 2 slots after uid 2: uid 2 is taken from next.
    p.give(3, 'c0');
    expect(p.take(1, 'a2')).toBe('taken');
    expect(p.take(4, 'd0')).toBe('taken');
    expect(evicted[1]).toEqual([2, 'b1']);
  });

  it('given-back slots are never chosen, and the pool keeps its count through churn', () => {
    const { p, evicted } = pool('newest', 3, 3);
    for (let i = 0; i < 1000; i += 1) {
      expect(p.take(1, `a${i}`)).toBe('taken');
      if (i > 1) p.give(1, `a${i - 1}`);
    }
    // uid 1 holds a0 and a999; a newcomer takes the newest back, never a given-back one.
    expect(p.held(1)).toBe(2);
    expect(p.take(2, 'b0')).toBe('taken');
    expect(p.take(3, 'c0')).toBe('taken');
    expect(evicted).toEqual([[1, 'a999']]);
    expect(p.size).toBe(3);
  });
});
