// The one test clock: injected as `now` (a Date or milliseconds, whichever a dependency takes) and
// moved by hand, so time-based behaviour is tested without real sleeps.
export interface TestClock {
  /** For dependencies that take `() => Date`. */
  readonly now: () => Date;
  /** For dependencies that take `() => number` (milliseconds since the epoch). */
  readonly nowMs: () => number;
  /** Moves the clock forward by `seconds` and returns the new time. */
  advance(seconds: number): Date;
  /** Moves the clock forward by `ms` and returns the new time in milliseconds. */
  advanceMs(ms: number): number;
  set(time: Date | number): void;
}

export const DEFAULT_TEST_TIME = new Date('2030-01-01T00:00:00Z');

/**
 * A clock standing still at `start` until moved. With `{ followWallClock: true }` it runs with the
 * real time plus whatever it was advanced by (for tests whose servers also read the real clock).
 */
export function testClock(
  start: Date | number = DEFAULT_TEST_TIME,
  options: { readonly followWallClock?: boolean } = {},
): TestClock {
  const base = options.followWallClock === true ? () => Date.now() : () => 0;
  let offsetMs = options.followWallClock === true ? 0 : new Date(start).getTime();
  const nowMs = (): number => base() + offsetMs;
  return {
    now: () => new Date(nowMs()),
    nowMs,
    advance(seconds) {
      offsetMs += seconds * 1000;
      return new Date(nowMs());
    },
    advanceMs(ms) {
      offsetMs += ms;
      return nowMs();
    },
    set(time) {
      offsetMs = new Date(time).getTime() - base();
    },
  };
}
