// One replica's cache of the registration entries: decoded from the store, re-read at least every
// few seconds and at once after a change made here or announced by another replica over pub/sub;
// change listeners hear of every invalidation.
import { isBrokerError } from '../errors.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { SpiffeId, TrustDomain } from '../spiffeid/index.js';
import type { Store } from '../store/index.js';
import { decodeEntry, type Entry } from './entry.js';

/** Entries are re-read at least this often even without a notification (a missed message heals). */
const ENTRY_CACHE_MAX_AGE_MS = 5_000;
const ENTRY_CHANNEL = 'entry-changed';

export interface EntryCacheDeps {
  readonly store: Pick<Store, 'listEntries' | 'publish' | 'subscribe'>;
  readonly ownTrustDomain: TrustDomain;
  readonly reserved: readonly SpiffeId[];
  readonly now: Clock;
  readonly logger: Pick<Logger, 'warn'>;
}

export interface EntryCache {
  /** Decodes stored records; an invalid one is logged and skipped (it grants nothing). */
  decodeAll(records: readonly { value: Record<string, unknown> }[]): Entry[];
  /** The cached entries, re-read when stale; concurrent callers share one read. */
  entries(): Promise<readonly Entry[]>;
  /** After a change here: drops the cache, tells the listeners and the other replicas. */
  announce(): Promise<void>;
  onChange(listener: () => void): () => void;
  /** Follows changes announced by other replicas until `signal` aborts. */
  follow(signal: AbortSignal): Promise<void>;
}

export function createEntryCache(deps: EntryCacheDeps): EntryCache {
  const { store, ownTrustDomain, reserved, logger } = deps;
  let cache: { entries: readonly Entry[]; loadedAtMs: number } | undefined;
  let generation = 0;
  let loading: Promise<readonly Entry[]> | undefined;
  const listeners = new Set<() => void>();

  const decodeAll = (records: readonly { value: Record<string, unknown> }[]): Entry[] => {
    const out: Entry[] = [];
    for (const record of records) {
      try {
        out.push(decodeEntry(record.value, ownTrustDomain, reserved));
      } catch (error) {
        if (!isBrokerError(error)) throw error;
        // A tampered or outdated record grants nothing; it stays visible in the store for an admin.
        logger.warn('ignoring invalid stored registration entry', { error: error.message });
      }
    }
    return out;
  };

  const invalidate = (): void => {
    generation += 1;
    cache = undefined;
    for (const listener of listeners) {
      try {
        listener();
      } catch (error) {
        logger.warn('registration change listener failed', { error: (error as Error).message });
      }
    }
  };

  return {
    decodeAll,

    entries() {
      if (cache !== undefined && deps.now() - cache.loadedAtMs < ENTRY_CACHE_MAX_AGE_MS) {
        return Promise.resolve(cache.entries);
      }
      if (loading === undefined) {
        const started = generation;
        loading = store
          .listEntries()
          .then((records) => {
            const entries = decodeAll(records);
            if (started === generation) cache = { entries, loadedAtMs: deps.now() };
            return entries;
          })
          .finally(() => {
            loading = undefined;
          });
      }
      return loading;
    },

    async announce() {
      invalidate();
      await store.publish(ENTRY_CHANNEL, 'changed').catch((error: unknown) => {
        logger.warn('could not announce a registration entry change', {
          error: (error as Error).message,
        });
      });
    },

    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },

    async follow(signal) {
      const unsubscribe = await store.subscribe(ENTRY_CHANNEL, () => invalidate());
      signal.addEventListener('abort', () => void unsubscribe().catch(() => undefined), {
        once: true,
      });
    },
  };
}
