// Failed-authentication rate limit per source address: a fixed window per address in a table of
// bounded size, so that an attacker with many addresses cannot grow the limiter's memory.
/** Failures an address may make per window before it gets 429. */
export const DEFAULT_FAILED_AUTH_LIMIT = 10;
export const DEFAULT_FAILED_AUTH_WINDOW_MS = 60_000;
/** Addresses tracked at once; past this, new addresses share one overflow entry (and its limit). */
export const DEFAULT_FAILED_AUTH_ADDRESSES = 4096;
/** The shared entry of addresses the full table has no room for. */
const OVERFLOW = '\u0000overflow';

export interface FailedAuthLimiterOptions {
  readonly now: () => number;
  readonly limit?: number;
  readonly windowMs?: number;
  readonly maxAddresses?: number;
  /**
   * What a full table does with a new address. `share` (default): it is counted, and judged, by one
   * overflow entry, so many addresses cannot escape the limit. `drop-oldest`: the oldest window
   * goes, running or not, so an address is only ever judged by its own count (a limit that closes
   * an address must not close others for a stranger's failures).
   */
  readonly whenFull?: 'share' | 'drop-oldest';
}

export interface FailedAuthLimiter {
  /**
   * Counts one failure from `address`. Returns 0 while the address is within its limit, else the
   * ms until its window ends (answer 429 with Retry-After).
   */
  fail(address: string): number;
  /**
   * Counts nothing: the ms until the window of `address` ends when it is already past its limit (a
   * caller refuses at once, before any costly work), else 0. Makes no entry for a new address.
   */
  retryAfter(address: string): number;
  /** Addresses tracked now (at most maxAddresses + 1). */
  size(): number;
}

export function createFailedAuthLimiter(options: FailedAuthLimiterOptions): FailedAuthLimiter {
  const limit = options.limit ?? DEFAULT_FAILED_AUTH_LIMIT;
  const windowMs = options.windowMs ?? DEFAULT_FAILED_AUTH_WINDOW_MS;
  const maxAddresses = options.maxAddresses ?? DEFAULT_FAILED_AUTH_ADDRESSES;
  const share = options.whenFull !== 'drop-oldest';
  /** Insertion order is window-start order: a window that restarts is deleted and set again. */
  const windows = new Map<string, { startMs: number; count: number }>();

  const entryFor = (address: string, now: number): { startMs: number; count: number } => {
    const found = windows.get(address);
    if (found !== undefined && now - found.startMs < windowMs) return found;
    if (found !== undefined) windows.delete(address);
    // Make room by dropping the oldest windows once they are over; one still running only when
    // the table does not share an overflow entry.
    while (windows.size >= maxAddresses) {
      const [oldestKey, oldest] = windows.entries().next().value as [
        string,
        { startMs: number; count: number },
      ];
      if (share && now - oldest.startMs < windowMs) {
        return address === OVERFLOW ? fresh(OVERFLOW, now) : entryFor(OVERFLOW, now);
      }
      windows.delete(oldestKey);
    }
    return fresh(address, now);
  };
  const fresh = (address: string, now: number): { startMs: number; count: number } => {
    const entry = { startMs: now, count: 0 };
    windows.set(address, entry);
    return entry;
  };

  return {
    fail(address) {
      const now = options.now();
      const entry = entryFor(address, now);
      entry.count += 1;
      return entry.count > limit ? Math.max(1, entry.startMs + windowMs - now) : 0;
    },
    retryAfter(address) {
      const now = options.now();
      // An address the full table has no room for is judged by the shared overflow entry, as fail() would.
      const entry =
        windows.get(address) ??
        (share && windows.size >= maxAddresses ? windows.get(OVERFLOW) : undefined);
      if (entry === undefined || now - entry.startMs >= windowMs || entry.count < limit) return 0;
      return Math.max(1, entry.startMs + windowMs - now);
    },
    size: () => windows.size,
  };
}
