// The refresh scheduler: a node-cron tick runs the refreshes that are due (FED-40..43). With several
// replicas on one store, a lease per partner makes sure only one replica fetches it at a time (FED-43).
import { schedule } from 'node-cron';
import type { Store } from '../store/index.js';
import type { Clock } from '../clock.js';
import type { FederationLogger } from './ports.js';
import type { Refresher } from './refresh.js';

/** Every 5 seconds: fine enough for a 30 s minimum interval, cheap when nothing is due. */
export const DEFAULT_TICK_CRON = '*/5 * * * * *';
export const DEFAULT_MAX_CONCURRENT_REFRESHES = 16;

export interface SchedulerDeps {
  readonly federation: Pick<Refresher, 'due' | 'isDue' | 'refresh'>;
  readonly locks: Pick<Store, 'acquireLock' | 'releaseLock'>;
  readonly now: Clock;
  readonly logger: FederationLogger;
  /** Identifies this replica as lease owner. */
  readonly replicaId: string;
}

export interface SchedulerOptions {
  readonly cron?: string;
  readonly maxConcurrent?: number;
  /** Lease TTL per refresh: longer than a fetch can take (30 s total timeout). */
  readonly leaseTtlMs?: number;
}

export interface Scheduler {
  /** Runs every due refresh once (bounded concurrency); resolves when they are done. Returns those run. */
  tick(): Promise<string[]>;
  /** Ticks on the cron schedule until `signal` aborts. */
  run(signal: AbortSignal): Promise<void>;
}

export function createScheduler(deps: SchedulerDeps, options: SchedulerOptions = {}): Scheduler {
  const maxConcurrent = options.maxConcurrent ?? DEFAULT_MAX_CONCURRENT_REFRESHES;
  const leaseTtlMs = options.leaseTtlMs ?? 60_000;
  const running = new Set<string>();

  async function refreshUnderLease(trustDomain: string): Promise<boolean> {
    const lease = `refresh:${trustDomain}`;
    if (!(await deps.locks.acquireLock(lease, deps.replicaId, leaseTtlMs))) return false;
    try {
      // FED-43: another replica may have refreshed it (and released the lease) between our `due` and
      // this lease; its shared nextRefreshAtMs says so. Re-check under the lease, or we fetch twice.
      if (!(await deps.federation.isDue(trustDomain, deps.now()))) return false;
      await deps.federation.refresh(trustDomain);
      return true;
    } finally {
      await deps.locks.releaseLock(lease, deps.replicaId).catch(() => false);
    }
  }

  const scheduler: Scheduler = {
    async tick() {
      const due = (await deps.federation.due(deps.now())).filter((td) => !running.has(td));
      const done: string[] = [];
      let index = 0;
      const worker = async (): Promise<void> => {
        while (index < due.length) {
          const trustDomain = due[index++] as string;
          running.add(trustDomain);
          try {
            if (await refreshUnderLease(trustDomain)) done.push(trustDomain);
          } catch (error) {
            deps.logger.warn('scheduled refresh failed', {
              trustDomain,
              error: (error as Error).message,
            });
          } finally {
            running.delete(trustDomain);
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(maxConcurrent, due.length) }, worker));
      return done.sort();
    },

    async run(signal) {
      if (signal.aborted) return;
      const task = schedule(
        options.cron ?? DEFAULT_TICK_CRON,
        async () => {
          try {
            await scheduler.tick();
          } catch (error) {
            deps.logger.warn('refresh tick failed', { error: (error as Error).message });
          }
        },
        { noOverlap: true, name: `fedbroker-refresh-${deps.replicaId}` },
      );
      await new Promise<void>((resolve) =>
        signal.addEventListener('abort', () => resolve(), { once: true }),
      );
      await task.stop();
      await task.destroy();
    },
  };
  return scheduler;
}
