// The file store's bundle records: each trust domain's current bundle with its history (FED-30..35)
// and our own published bundle (FED-50), compared and written through the journal.
import { checkKeyComponent } from '../keys.js';
import {
  bundleRecordFromInput,
  decideBundlePut,
  decideLocalBundlePut,
  highestSequenceOf,
  localBundleRecordFromInput,
  nextHighestSequence,
  putBundleResult,
  staleBundleError,
  staleLocalBundleError,
} from '../records.js';
import type {
  BundleInput,
  BundleStore,
  LocalBundleInput,
  LocalBundleStore,
  PutBundleOptions,
  PutBundleResult,
} from '../store.js';
import type { FileRecordContext } from './journal.js';

export function fileBundleStore(
  { journal, checkOpen }: FileRecordContext,
  historyLimit: number,
): BundleStore & LocalBundleStore {
  const state = journal.state;
  return {
    getBundle: async (td) => {
      checkOpen();
      return state.bundles.get(checkKeyComponent('trust domain', td))?.current;
    },

    putBundle: async (input: BundleInput, putOptions: PutBundleOptions = {}) => {
      const checked = bundleRecordFromInput(input);
      return journal.serial(async (): Promise<PutBundleResult> => {
        const previous = state.bundles.get(checked.trustDomain)?.current;
        const force = putOptions.force === true;
        const decision = decideBundlePut(previous, checked, force);
        if (decision === 'stale') {
          const highest = previous === undefined ? null : highestSequenceOf(previous);
          throw staleBundleError(checked.trustDomain, checked.sequence, highest);
        }
        const record = {
          ...checked,
          highestSequence: nextHighestSequence(previous, checked, force),
        };
        if (decision !== 'unchanged') {
          await journal.commit([{ op: 'bundle', record, limit: historyLimit }]);
        }
        return putBundleResult(decision, record, previous);
      });
    },

    deleteBundle: async (td) => {
      checkKeyComponent('trust domain', td);
      return journal.serial(async () => {
        if (!state.bundles.has(td)) return false;
        await journal.commit([{ op: 'bundle-del', id: td }]);
        return true;
      });
    },

    listBundles: async () => {
      checkOpen();
      return [...state.bundles.values()].map((slot) => slot.current);
    },

    bundleHistory: async (td) => {
      checkOpen();
      return [...(state.bundles.get(checkKeyComponent('trust domain', td))?.history ?? [])];
    },

    getLocalBundle: async () => {
      checkOpen();
      return state.local;
    },

    putLocalBundle: async (input: LocalBundleInput) => {
      const record = localBundleRecordFromInput(input);
      return journal.serial(async () => {
        const decision = decideLocalBundlePut(state.local, record);
        if (decision === 'stale') {
          throw staleLocalBundleError(record.sequence, state.local?.sequence ?? '');
        }
        if (decision === 'written') await journal.commit([{ op: 'local', record }]);
        return decision;
      });
    },
  };
}
