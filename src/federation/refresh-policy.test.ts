// Refresh policy tests (FED-40..42): clamping, jitter bounds, back-off before the first success, staleness.
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_REFRESH_SECONDS,
  isStale,
  nextRefreshDelayMs,
  refreshIntervalSeconds,
  withJitter,
} from './refresh-policy.js';

describe('refreshIntervalSeconds', () => {
  it.each([
    ['FED-40 absent hint uses the 300 s default', undefined, DEFAULT_REFRESH_SECONDS],
    ['FED-40 zero hint counts as absent (BUNDLE-5)', 0, 300],
    ['FED-40 negative hint counts as absent (BUNDLE-5)', -5, 300],
    ['FED-40 a hint inside the range is honoured', 120, 120],
    ['FED-40 a tiny hint is clamped up to 30 s', 1, 30],
    ['FED-40 a huge hint is clamped down to 1 h', 86400, 3600],
  ])('%s', (_name, hint, expected) => {
    expect(refreshIntervalSeconds(hint)).toBe(expected);
  });
});

describe('nextRefreshDelayMs', () => {
  it('FED-40 jitter stays within ±10%', () => {
    expect(withJitter(100_000, 0)).toBe(90_000);
    expect(withJitter(100_000, 0.5)).toBe(100_000);
    expect(withJitter(100_000, 0.999999)).toBeLessThanOrEqual(110_000);
  });

  it('FED-40 after a success the next refresh follows the hint', () => {
    expect(
      nextRefreshDelayMs(
        { refreshHintSeconds: 60, consecutiveFailures: 0, hasSucceeded: true },
        0.5,
      ),
    ).toBe(60_000);
  });

  it.each([
    [1, 10_000],
    [2, 20_000],
    [3, 40_000],
    [5, 160_000],
    [6, 300_000],
    [40, 300_000],
  ])(
    'FED-41 before the first success, failure %i backs off to %i ms (capped at the interval)',
    (failures, expected) => {
      expect(
        nextRefreshDelayMs(
          { refreshHintSeconds: undefined, consecutiveFailures: failures, hasSucceeded: false },
          0.5,
        ),
      ).toBe(expected);
    },
  );

  it('FED-41 after an earlier success a failure waits a full interval, never retries aggressively', () => {
    expect(
      nextRefreshDelayMs(
        { refreshHintSeconds: 120, consecutiveFailures: 1, hasSucceeded: true },
        0.5,
      ),
    ).toBe(120_000);
  });
});

describe('isStale', () => {
  it('FED-42 becomes stale only after three missed intervals', () => {
    const last = 1_000_000;
    expect(isStale(last, 60, last + 180_000, 0)).toBe(false);
    expect(isStale(last, 60, last + 180_001, 0)).toBe(true);
  });

  it('FED-42 a relationship that never succeeded is measured from when it became active', () => {
    expect(isStale(undefined, undefined, 10_000 + 900_001, 10_000)).toBe(true);
    expect(isStale(undefined, undefined, 10_000 + 899_999, 10_000)).toBe(false);
  });
});
