// The failed-authentication limiter: a limit per address per window, and a table that cannot grow
// past its bound however many addresses fail (issue 15 #2).
import { describe, expect, it } from 'vitest';
import { createFailedAuthLimiter } from './auth-limit.js';

describe('failed-auth limiter', () => {
  it('lets `limit` failures through per window, then gives the ms until the window ends', () => {
    let now = 0;
    const limiter = createFailedAuthLimiter({ now: () => now, limit: 3, windowMs: 60_000 });
    expect([1, 2, 3].map(() => limiter.fail('10.0.0.1'))).toEqual([0, 0, 0]);
    expect(limiter.fail('10.0.0.1')).toBe(60_000);
    now = 45_000;
    expect(limiter.fail('10.0.0.1')).toBe(15_000);
    expect(limiter.fail('10.0.0.2')).toBe(0);
    now = 60_000;
    expect(limiter.fail('10.0.0.1')).toBe(0);
  });

  it('retryAfter counts nothing: 0 within the limit, the ms left once an address has used it up', () => {
    let now = 0;
    const limiter = createFailedAuthLimiter({ now: () => now, limit: 2, windowMs: 60_000 });
    expect(limiter.retryAfter('10.0.0.1')).toBe(0);
    expect(limiter.size()).toBe(0);
    limiter.fail('10.0.0.1');
    expect(limiter.retryAfter('10.0.0.1')).toBe(0);
    limiter.fail('10.0.0.1');
    now = 20_000;
    expect(limiter.retryAfter('10.0.0.1')).toBe(40_000);
    // Asking again changes nothing, and other addresses are not affected.
    expect(limiter.retryAfter('10.0.0.1')).toBe(40_000);
    expect(limiter.retryAfter('10.0.0.2')).toBe(0);
    now = 60_000;
    expect(limiter.retryAfter('10.0.0.1')).toBe(0);
  });

  it('retryAfter judges an address the full table has no room for by the shared overflow entry', () => {
    const limiter = createFailedAuthLimiter({
      now: () => 0,
      limit: 1,
      windowMs: 60_000,
      maxAddresses: 2,
    });
    limiter.fail('10.0.0.1');
    limiter.fail('10.0.0.2');
    expect(limiter.retryAfter('10.0.0.3')).toBe(0);
    limiter.fail('10.0.0.3'); // into the overflow entry, which is now used up
    expect(limiter.retryAfter('10.0.0.4')).toBe(60_000);
  });

  it("whenFull 'drop-oldest': a full table drops its oldest window; an address is judged only by its own", () => {
    const limiter = createFailedAuthLimiter({
      now: () => 0,
      limit: 1,
      windowMs: 60_000,
      maxAddresses: 2,
      whenFull: 'drop-oldest',
    });
    limiter.fail('10.0.0.1');
    limiter.fail('10.0.0.2');
    limiter.fail('10.0.0.3'); // drops 10.0.0.1's running window
    expect(limiter.size()).toBe(2);
    expect(limiter.retryAfter('10.0.0.4')).toBe(0);
    expect(limiter.retryAfter('10.0.0.1')).toBe(0);
    expect(limiter.retryAfter('10.0.0.3')).toBe(60_000);
  });

  it('never tracks more than maxAddresses (+1 shared overflow entry), and overflow is limited too', () => {
    let now = 0;
    const limiter = createFailedAuthLimiter({
      now: () => now,
      limit: 2,
      windowMs: 60_000,
      maxAddresses: 100,
    });
    const answers: number[] = [];
    for (let i = 0; i < 100_000; i++)
      answers.push(limiter.fail(`10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`));
    expect(limiter.size()).toBeLessThanOrEqual(101);
    // The first 100 addresses got their own entries; the rest share one limit of 2.
    expect(answers.slice(0, 102).every((a) => a === 0)).toBe(true);
    expect(answers.slice(102).every((a) => a > 0)).toBe(true);
    // Once the windows end, the table makes room for new addresses again.
    now = 60_000;
    expect(limiter.fail('192.0.2.1')).toBe(0);
    expect(limiter.size()).toBeLessThanOrEqual(101);
  });
});
