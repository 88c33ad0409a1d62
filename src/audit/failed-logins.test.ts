// Failed logins aggregated (issue 15 #2): one event per window with count, bounded sources and the
// window, within a daily budget; an event that cannot be written is kept, never dropped.
import { describe, expect, it } from 'vitest';
import type { AuditEventInput } from './event.js';
import { MAX_FAILED_LOGIN_SOURCES, createFailedLoginAggregator } from './failed-logins.js';

/** A fake clock and timer queue: `advance` runs what falls due. */
function fakeTime() {
  let now = 1_700_000_000_000;
  const timers: { at: number; run: () => void; live: boolean }[] = [];
  return {
    now: () => now,
    schedule: (run: () => void, ms: number) => {
      const timer = { at: now + ms, run, live: true };
      timers.push(timer);
      return () => {
        timer.live = false;
      };
    },
    async advance(ms: number) {
      const end = now + ms;
      for (;;) {
        const due = timers.filter((t) => t.live && t.at <= end).sort((a, b) => a.at - b.at)[0];
        if (due === undefined) break;
        due.live = false;
        now = due.at;
        due.run();
        await new Promise((resolve) => setImmediate(resolve));
      }
      now = end;
    },
  };
}

function setup(options: { eventsPerDay?: number; failWrites?: () => boolean } = {}) {
  const time = fakeTime();
  const written: AuditEventInput[] = [];
  const errors: unknown[] = [];
  const aggregator = createFailedLoginAggregator(
    {
      record: async (event) => {
        if (options.failWrites?.() === true) throw new Error('store down');
        written.push(event);
      },
      now: time.now,
      schedule: time.schedule,
      onError: (error) => errors.push(error),
    },
    {
      listener: 'admin',
      windowMs: 60_000,
      ...(options.eventsPerDay === undefined ? {} : { eventsPerDay: options.eventsPerDay }),
    },
  );
  return { time, written, errors, aggregator };
}

describe('failed-login aggregator', () => {
  it('writes one event per window however many attempts, with count, sources and window', async () => {
    const { time, written, aggregator } = setup();
    for (let i = 0; i < 5000; i++) {
      aggregator.note(i % 2 === 0 ? '10.0.0.1' : '10.0.0.2', 'wrong bearer token', i >= 10);
    }
    expect(written).toEqual([]);
    await time.advance(60_000);
    expect(written).toHaveLength(1);
    expect(written[0]).toMatchObject({
      type: 'admin.login_failed',
      actor: 'anonymous',
      details: {
        aggregated: true,
        listener: 'admin',
        count: 5000,
        limited: 4990,
        sources: [
          { address: '10.0.0.1', count: 2500 },
          { address: '10.0.0.2', count: 2500 },
        ],
        otherSources: 0,
        reasons: { 'wrong bearer token': 5000 },
        windowStart: '2023-11-14T22:13:20.000Z',
        windowEnd: '2023-11-14T22:14:20.000Z',
      },
    });
    await time.advance(600_000);
    expect(written).toHaveLength(1);
  });

  it('names at most MAX_FAILED_LOGIN_SOURCES sources and counts the rest together', async () => {
    const { time, written, aggregator } = setup();
    for (let i = 0; i < 1000; i++)
      aggregator.note(`10.1.${i >> 8}.${i & 255}`, `r${i % 20}`, false);
    await time.advance(60_000);
    const details = written[0]?.details as Record<string, unknown>;
    expect(details['sources']).toHaveLength(MAX_FAILED_LOGIN_SOURCES);
    expect(details['otherSources']).toBe(1000 - MAX_FAILED_LOGIN_SOURCES);
    expect(Object.keys(details['reasons'] as object)).toHaveLength(9); // 8 named + other
  });

  it('keeps to its daily budget: past it a window stays open and keeps counting', async () => {
    const { time, written, aggregator } = setup({ eventsPerDay: 3 });
    for (let minute = 0; minute < 10; minute++) {
      aggregator.note('10.0.0.9', 'wrong bearer token', false);
      await time.advance(60_000);
    }
    expect(written).toHaveLength(3);
    // A day after the first event its slot frees: the rest arrive in one aggregate.
    await time.advance(86_400_000);
    expect(written).toHaveLength(4);
    const counts = written.map((e) => (e.details as { count: number }).count);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(10);
  });

  it('an aggregate that cannot be written is kept and written later, not dropped', async () => {
    let down = true;
    const { time, written, errors, aggregator } = setup({ failWrites: () => down });
    aggregator.note('10.0.0.3', 'wrong bearer token', false);
    await time.advance(60_000);
    expect(written).toEqual([]);
    expect(errors).toHaveLength(1);
    aggregator.note('10.0.0.3', 'missing bearer token', false);
    down = false;
    await time.advance(60_000);
    expect(written).toHaveLength(1);
    expect(written[0]?.details).toMatchObject({
      count: 2,
      sources: [{ address: '10.0.0.3', count: 2 }],
      reasons: { 'wrong bearer token': 1, 'missing bearer token': 1 },
    });
  });

  it('flush writes the open window now (shutdown)', async () => {
    const { written, aggregator } = setup();
    aggregator.note('10.0.0.4', 'wrong bearer token', false);
    await aggregator.flush();
    expect(written).toHaveLength(1);
    await aggregator.flush();
    expect(written).toHaveLength(1);
  });
});
