// The rotator: applies the due rotation actions (rotation.ts) on `tick(atMs)`, and `run(signal)`
// loops until aborted, sleeping until the plan's next check, bounded between min and max intervals.
import type { Clock } from '../clock.js';
import type { Ca, CaLogger } from './ca-types.js';
import type { RotationAction, RotationPlan } from './rotation.js';

export interface RotatorDeps {
  readonly ca: Pick<Ca, 'rotate'>;
  readonly now: Clock;
  readonly logger?: CaLogger;
}

export interface RotatorOptions {
  /** Longest sleep between ticks (default 60 s): also bounds the delay of time-based pruning. */
  readonly maxIntervalMs?: number;
  /** Shortest sleep between ticks (default 1 s), so a failing tick never spins. */
  readonly minIntervalMs?: number;
}

export interface Rotator {
  tick(atMs?: number): Promise<RotationPlan & { readonly applied: readonly RotationAction[] }>;
  run(signal: AbortSignal): Promise<void>;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve();
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

export function createRotator(deps: RotatorDeps, options: RotatorOptions = {}): Rotator {
  const maxIntervalMs = options.maxIntervalMs ?? 60_000;
  const minIntervalMs = options.minIntervalMs ?? 1_000;
  if (!(minIntervalMs > 0 && maxIntervalMs >= minIntervalMs)) {
    throw new TypeError('need 0 < minIntervalMs <= maxIntervalMs');
  }
  const logger = deps.logger;

  const tick: Rotator['tick'] = async (atMs = deps.now()) => {
    const result = await deps.ca.rotate(atMs);
    for (const action of result.applied) {
      logger?.info(`ca rotation: ${action.type} ${action.kind}`, {
        ...('id' in action ? { authorityId: action.id } : {}),
        reason: action.reason,
      });
    }
    return result;
  };

  return {
    tick,
    async run(signal) {
      while (!signal.aborted) {
        let delay = maxIntervalMs;
        try {
          const plan = await tick();
          if (plan.nextCheckAt !== undefined) {
            delay = plan.nextCheckAt.getTime() - deps.now();
          }
        } catch (error) {
          logger?.error('ca rotation failed; retrying', { error: String(error) });
        }
        await sleep(Math.min(maxIntervalMs, Math.max(minIntervalMs, delay)), signal);
      }
    },
  };
}
