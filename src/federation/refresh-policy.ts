// Refresh timing as a pure function of (bundle hint, outcome history, now), like SPIRE's bundle client (FED-40..42).

/** FED-40: default polling interval when the partner gives no refresh hint. */
export const DEFAULT_REFRESH_SECONDS = 300;
/** FED-40 (policy): hints are clamped to [30 s, 1 h]. */
export const MIN_REFRESH_SECONDS = 30;
export const MAX_REFRESH_SECONDS = 3600;
/** FED-40 (policy): ±10% jitter so partners are not polled in lock-step. */
export const REFRESH_JITTER = 0.1;
/** FED-41 (policy): before the first success, retries back off from 10 s up to the interval. */
export const FIRST_RETRY_SECONDS = 10;
/** FED-42 (policy): a relationship is stale after 3 intervals without a successful refresh. */
export const STALE_AFTER_INTERVALS = 3;

/** The polling interval in seconds for a stored refresh hint (FED-40): default, then clamped. */
export function refreshIntervalSeconds(refreshHintSeconds: number | undefined): number {
  if (
    refreshHintSeconds === undefined ||
    !Number.isFinite(refreshHintSeconds) ||
    refreshHintSeconds <= 0
  ) {
    return DEFAULT_REFRESH_SECONDS;
  }
  return Math.min(MAX_REFRESH_SECONDS, Math.max(MIN_REFRESH_SECONDS, refreshHintSeconds));
}

/** Applies ±REFRESH_JITTER to a delay; `random` is in [0, 1). */
export function withJitter(delayMs: number, random: number): number {
  const factor = 1 + REFRESH_JITTER * (2 * random - 1);
  return Math.round(delayMs * factor);
}

export interface RefreshHistory {
  /** Refresh hint of the bundle we currently hold (undefined when none or absent). */
  readonly refreshHintSeconds: number | undefined;
  /** Failures since the last success (0 after a success). */
  readonly consecutiveFailures: number;
  /** Whether any fetch has ever succeeded for this relationship. */
  readonly hasSucceeded: boolean;
}

/**
 * Delay until the next refresh after an attempt (FED-40, FED-41): the interval after a success; after a
 * failure, the interval again once the relationship has succeeded before ("retried at the next polling
 * interval, not aggressively"), or an exponential back-off from 10 s capped at the interval before that.
 */
export function nextRefreshDelayMs(history: RefreshHistory, random: number): number {
  const intervalMs = refreshIntervalSeconds(history.refreshHintSeconds) * 1000;
  if (history.consecutiveFailures === 0 || history.hasSucceeded) {
    return withJitter(intervalMs, random);
  }
  const exponent = Math.min(history.consecutiveFailures - 1, 30);
  const backoffMs = Math.min(intervalMs, FIRST_RETRY_SECONDS * 1000 * 2 ** exponent);
  return withJitter(backoffMs, random);
}

/** FED-42: stale when no successful refresh happened for STALE_AFTER_INTERVALS intervals. */
export function isStale(
  lastSuccessAtMs: number | undefined,
  refreshHintSeconds: number | undefined,
  nowMs: number,
  sinceMs: number,
): boolean {
  const reference = lastSuccessAtMs ?? sinceMs;
  return (
    nowMs - reference > STALE_AFTER_INTERVALS * refreshIntervalSeconds(refreshHintSeconds) * 1000
  );
}
