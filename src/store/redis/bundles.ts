// The Redis store's bundle records: each trust domain's current bundle (a hash) with its history (a
// capped list) in one cluster slot, compared and written by one script (FED-30..35), and our own
// published bundle (FED-50).
import { StoreError } from '../../errors.js';
import {
  bundleRecordFromInput,
  decodeBundle,
  decodeLocalBundle,
  localBundleRecordFromInput,
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
import { readInChunks, scanCollection, type RedisContext } from './scan.js';
import { PUT_BUNDLE, PUT_LOCAL_BUNDLE } from './scripts.js';

async function putBundle(
  { conn, keys }: RedisContext,
  historyLimit: number,
  input: BundleInput,
  putOptions: PutBundleOptions,
): Promise<PutBundleResult> {
  const record = bundleRecordFromInput(input);
  const td = record.trustDomain;
  const reply = (await conn.call('put bundle', () =>
    conn.runBeforeDeadline(
      PUT_BUNDLE,
      [keys.bundleCurrent(td), keys.bundleHistory(td)],
      [
        record.sequence ?? '',
        record.digest,
        putOptions.force === true ? '1' : '0',
        historyLimit,
        JSON.stringify(record),
      ],
    ),
  )) as [string, (string | null)?, string?];
  const [outcome, previousText, third] = reply;
  const previous =
    previousText === undefined || previousText === null ? undefined : decodeBundle(previousText);
  if (outcome === 'stale') {
    throw staleBundleError(td, record.sequence, third ?? null);
  }
  if (
    (outcome !== 'created' && outcome !== 'replaced' && outcome !== 'unchanged') ||
    third === undefined
  ) {
    throw new StoreError('ERR_STORE_CORRUPT', 'unexpected reply from the bundle script');
  }
  return putBundleResult(outcome, decodeBundle(third), previous);
}

export function redisBundleStore(
  context: RedisContext,
  historyLimit: number,
): BundleStore & LocalBundleStore {
  const { conn, keys } = context;
  const client = conn.client;
  return {
    getBundle: async (td) => {
      const key = keys.bundleCurrent(td);
      const raw = await conn.call('get bundle', () => client.hget(key, 'r'));
      return raw === null ? undefined : decodeBundle(raw);
    },

    putBundle: async (input: BundleInput, putOptions: PutBundleOptions = {}) =>
      putBundle(context, historyLimit, input, putOptions),

    deleteBundle: async (td) => {
      const current = keys.bundleCurrent(td);
      const history = keys.bundleHistory(td);
      return conn.deleteKeys('delete bundle', [current, history]);
    },

    listBundles: async () =>
      conn.call('list bundles', async () => {
        const found = await scanCollection(context, 'bundle');
        const raws = await readInChunks(found, (key) => client.hget(key, 'r'));
        return raws.filter((raw): raw is string => raw !== null).map(decodeBundle);
      }),

    bundleHistory: async (td) => {
      const key = keys.bundleHistory(td);
      const items = await conn.call('bundle history', () => client.lrange(key, 0, -1));
      return items.map(decodeBundle);
    },

    getLocalBundle: async () => {
      const raw = await conn.call('get local bundle', () => client.hget(keys.localBundle, 'r'));
      return raw === null ? undefined : decodeLocalBundle(raw);
    },

    putLocalBundle: async (input: LocalBundleInput) => {
      const record = localBundleRecordFromInput(input);
      const reply = (await conn.call('put local bundle', () =>
        conn.runBeforeDeadline(
          PUT_LOCAL_BUNDLE,
          [keys.localBundle],
          [record.sequence, record.digest, JSON.stringify(record)],
        ),
      )) as [string, string?];
      if (reply[0] === 'stale') throw staleLocalBundleError(record.sequence, reply[1] ?? '');
      return reply[0] === 'unchanged' ? 'unchanged' : 'written';
    },
  };
}
