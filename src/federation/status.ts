// Per-relationship refresh status (FED-42, FED-43): kept in the store so every replica shows the same.
import type { FetchLog } from './fetch-bundle.js';

export interface RefreshStatus {
  readonly lastAttemptAtMs: number | null;
  readonly lastSuccessAtMs: number | null;
  readonly lastError: {
    readonly code: string;
    readonly message: string;
    readonly atMs: number;
  } | null;
  readonly consecutiveFailures: number;
  readonly nextRefreshAtMs: number;
  /** When the relationship last became active (staleness is measured from here before a success). */
  readonly activeSinceMs: number;
  /** `spiffe_sequence` (decimal) and digest of the bundle we hold. */
  readonly sequence: string | null;
  readonly digest: string | null;
  readonly refreshHintSeconds: number | null;
  /** Earliest notAfter among the partner's X.509 authorities (ms), null when none. */
  readonly earliestAuthorityExpiryMs: number | null;
  /** FED-27: the last fetch, for forensics. */
  readonly lastFetch: FetchLog | null;
}

export function initialStatus(nowMs: number): RefreshStatus {
  return {
    lastAttemptAtMs: null,
    lastSuccessAtMs: null,
    lastError: null,
    consecutiveFailures: 0,
    nextRefreshAtMs: nowMs,
    activeSinceMs: nowMs,
    sequence: null,
    digest: null,
    refreshHintSeconds: null,
    earliestAuthorityExpiryMs: null,
    lastFetch: null,
  };
}

/** Reads a stored status defensively (another replica or an older version may have written it). */
export function statusFromJson(
  value: Readonly<Record<string, unknown>> | undefined,
  nowMs: number,
): RefreshStatus {
  if (value === undefined) return initialStatus(nowMs);
  const base = initialStatus(nowMs);
  const num = (key: string): number | null =>
    typeof value[key] === 'number' ? (value[key] as number) : null;
  const str = (key: string): string | null =>
    typeof value[key] === 'string' ? (value[key] as string) : null;
  const lastError = value['lastError'];
  return {
    lastAttemptAtMs: num('lastAttemptAtMs'),
    lastSuccessAtMs: num('lastSuccessAtMs'),
    lastError:
      lastError !== null && typeof lastError === 'object'
        ? (lastError as RefreshStatus['lastError'])
        : null,
    consecutiveFailures: num('consecutiveFailures') ?? 0,
    nextRefreshAtMs: num('nextRefreshAtMs') ?? base.nextRefreshAtMs,
    activeSinceMs: num('activeSinceMs') ?? base.activeSinceMs,
    sequence: str('sequence'),
    digest: str('digest'),
    refreshHintSeconds: num('refreshHintSeconds'),
    earliestAuthorityExpiryMs: num('earliestAuthorityExpiryMs'),
    lastFetch: (value['lastFetch'] as FetchLog | null | undefined) ?? null,
  };
}
