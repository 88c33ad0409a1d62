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
import type { Decision, FileRecordContext } from './journal.js';

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
      return journal.write((view): Decision<PutBundleResult> => {
        const previous = view.bundle(checked.trustDomain);
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
        return {
          changes: decision === 'unchanged' ? [] : [{ op: 'bundle', record, limit: historyLimit }],
          result: putBundleResult(decision, record, previous),
        };
      });
    },

    deleteBundle: async (td) => {
      checkKeyComponent('trust domain', td);
      return journal.write((view) =>
        view.bundle(td) === undefined
          ? { changes: [], result: false }
          : { changes: [{ op: 'bundle-del', id: td }], result: true },
      );
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
      return journal.write((view) => {
        const current = view.local();
        const decision = decideLocalBundlePut(current, record);
        if (decision === 'stale') {
          throw staleLocalBundleError(record.sequence, current?.sequence ?? '');
        }
        return {
          changes: decision === 'written' ? [{ op: 'local', record }] : [],
          result: decision,
        };
      });
    },
  };
}
