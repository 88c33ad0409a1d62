// The rotator: applies the due rotation actions (rotation.ts) on `tick(atMs)`, and `run(signal)`
// loops until aborted, sleeping until the plan's next check, bounded between min and max intervals.
// With `record` (the broker's audit), the steps of a tick are recorded before any applies.
import type { Clock } from '../clock.js';
import { isBrokerError } from '../errors.js';
import type { Ca, CaLogger } from './ca-types.js';
import type { RotationPlan, RotationRecorder, RotationStep } from './rotation.js';

export interface RotatorDeps {
  readonly ca: Pick<Ca, 'rotate'>;
  readonly now: Clock;
  readonly logger?: CaLogger;
  /**
   * Makes each tick's steps durable before any applies (ca.rotate's `record`). When it rejects,
   * nothing applies, a warning is logged and the tick is retried after the minimum interval,
   * doubling on each further failure up to the maximum.
   */
  readonly record?: RotationRecorder;
}

export interface RotatorOptions {
  /** Longest sleep between ticks (default 60 s): also bounds the delay of time-based pruning. */
  readonly maxIntervalMs?: number;
  /** Shortest sleep between ticks (default 1 s), so a failing tick never spins. */
  readonly minIntervalMs?: number;
}

export interface Rotator {
  tick(atMs?: number): Promise<RotationPlan & { readonly applied: readonly RotationStep[] }>;
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

const stepFields = (step: RotationStep): Record<string, unknown> => ({
  ...('id' in step ? { authorityId: step.id } : {}),
  reason: step.reason,
});

export function createRotator(deps: RotatorDeps, options: RotatorOptions = {}): Rotator {
  const maxIntervalMs = options.maxIntervalMs ?? 60_000;
  const minIntervalMs = options.minIntervalMs ?? 1_000;
  if (!(minIntervalMs > 0 && maxIntervalMs >= minIntervalMs)) {
    throw new TypeError('need 0 < minIntervalMs <= maxIntervalMs');
  }
  const logger = deps.logger;
  /** Errors the record hook threw: run() retries those sooner than other failures. */
  const notRecorded = new WeakSet<object>();
  const given = deps.record;
  const record: RotationRecorder | undefined =
    given === undefined
      ? undefined
      : async (steps) => {
          try {
            await given(steps);
          } catch (error) {
            if (typeof error === 'object' && error !== null) notRecorded.add(error);
            logger?.warn('ca rotation not applied: its record failed; retrying', {
              error: String(error),
              ...(isBrokerError(error) ? { code: error.code } : {}),
              steps: steps.map((s) => `${s.type} ${s.kind}`).join(', '),
            });
            throw error;
          }
        };

  const tick: Rotator['tick'] = async (atMs = deps.now()) => {
    const result = await deps.ca.rotate(atMs, record === undefined ? undefined : { record });
    for (const step of result.applied) {
      logger?.info(`ca rotation: ${step.type} ${step.kind}`, stepFields(step));
    }
    return result;
  };

  return {
    tick,
    async run(signal) {
      let retryMs = minIntervalMs;
      while (!signal.aborted) {
        let delay = maxIntervalMs;
        try {
          const plan = await tick();
          retryMs = minIntervalMs;
          if (plan.nextCheckAt !== undefined) {
            delay = plan.nextCheckAt.getTime() - deps.now();
          }
        } catch (error) {
          if (typeof error === 'object' && error !== null && notRecorded.has(error)) {
            // Already logged as a warning; nothing changed, so try again soon.
            delay = retryMs;
            retryMs = Math.min(maxIntervalMs, retryMs * 2);
          } else {
            logger?.error('ca rotation failed; retrying', { error: String(error) });
          }
        }
        await sleep(Math.min(maxIntervalMs, Math.max(minIntervalMs, delay)), signal);
      }
    },
  };
}
