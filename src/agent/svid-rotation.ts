// Keeps the agent's X509-SVID fresh: renews at half its remaining lifetime, and after a failure
// retries with jittered exponential backoff (never later than a quarter of what is left).
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';

const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 30_000;
/** No renewal attempt sooner than this after the previous one. */
const MIN_DELAY_MS = 1000;

/** Jittered exponential backoff for attempt `attempt` (1, 2, ...): between half and all of the step. */
export function backoffMs(attempt: number): number {
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** Math.min(attempt, 16));
  return Math.round(base / 2 + (Math.random() * base) / 2);
}

export interface SvidRotationDeps {
  /** Renews the SVID (a new key, the broker signs it); a rejection counts as a failure. */
  readonly renew: () => Promise<void>;
  /** When the current SVID expires, or undefined when there is none. */
  readonly expiresAtMs: () => number | undefined;
  readonly now: Clock;
  readonly logger?: Pick<Logger, 'warn'> | undefined;
}

export interface SvidRotation {
  start(): void;
  stop(): void;
}

export function createSvidRotation(deps: SvidRotationDeps): SvidRotation {
  let timer: NodeJS.Timeout | undefined;
  let failures = 0;
  let stopped = false;

  const schedule = (): void => {
    const expiresAtMs = deps.expiresAtMs();
    if (stopped || expiresAtMs === undefined) return;
    const lifetime = expiresAtMs - deps.now();
    const delay =
      failures === 0
        ? Math.max(MIN_DELAY_MS, Math.floor(lifetime / 2))
        : Math.max(MIN_DELAY_MS, Math.min(backoffMs(failures), Math.floor(lifetime / 4)));
    timer = setTimeout(() => {
      deps
        .renew()
        .then(() => {
          failures = 0;
        })
        .catch((error: unknown) => {
          failures += 1;
          deps.logger?.warn('X509-SVID renewal failed; retrying', {
            error: (error as Error).message,
            attempt: failures,
          });
        })
        .finally(schedule);
    }, delay);
    timer.unref();
  };

  return {
    start: schedule,
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
