// The file store's plain keyed records: one-time tokens (by hash), per-partner refresh status and
// each replica's published CA authorities; written through the journal, read from memory.
import { StoreError } from '../../errors.js';
import { checkKeyComponent } from '../keys.js';
import { checkTime, encodeObject, tokenRecordFromInput } from '../records.js';
import type {
  JsonObject,
  RefreshStatusStore,
  ReplicaAuthorityStore,
  TokenInput,
  TokenStore,
} from '../store.js';
import type { FileRecordContext } from './journal.js';
import type { MapCollection } from './state.js';

export function fileTokenStore({ journal, checkOpen }: FileRecordContext): TokenStore {
  const state = journal.state;
  return {
    putToken: async (input: TokenInput) => {
      const record = tokenRecordFromInput(input);
      return journal.serial(async () => {
        if (state.token.has(record.hash)) {
          throw new StoreError('ERR_STORE_CONFLICT', 'a token with this hash already exists');
        }
        await journal.commit([{ op: 'put', coll: 'token', id: record.hash, value: record }]);
      });
    },
    consumeToken: async (hash, at) => {
      checkKeyComponent('token hash', hash);
      checkTime('now', at);
      return journal.serial(async () => {
        const token = state.token.get(hash);
        if (token === undefined) return undefined;
        // Deleted whether expired or not: an expired token can never be consumed anyway.
        await journal.commit([{ op: 'del', coll: 'token', id: hash }]);
        return token.expiresAt > at ? token : undefined;
      });
    },
    deleteToken: async (hash) => {
      checkKeyComponent('token hash', hash);
      return deleteKeyed({ journal, checkOpen }, 'token', hash);
    },
    listTokens: async (at) => {
      checkTime('now', at);
      checkOpen();
      return [...state.token.values()].filter((token) => token.expiresAt > at);
    },
  };
}

/** Deletes `id` from `coll` through the journal; false when it was not there. */
function deleteKeyed(
  { journal }: FileRecordContext,
  coll: MapCollection,
  id: string,
): Promise<boolean> {
  return journal.serial(async () => {
    if (!journal.state[coll].has(id)) return false;
    await journal.commit([{ op: 'del', coll, id }]);
    return true;
  });
}

/** Writes a plain JSON object under a checked `id` (the value is copied through its JSON text). */
function putObject(
  { journal }: FileRecordContext,
  coll: 'refresh' | 'replica',
  what: string,
  id: string,
  value: object,
): Promise<void> {
  const parsed = JSON.parse(encodeObject(what, value)) as JsonObject;
  return journal.serial(() => journal.commit([{ op: 'put', coll, id, value: parsed }]));
}

export function fileObjectStore(
  context: FileRecordContext,
): RefreshStatusStore & ReplicaAuthorityStore {
  const { journal, checkOpen } = context;
  const state = journal.state;
  return {
    getRefreshStatus: async (td) => {
      checkOpen();
      return state.refresh.get(checkKeyComponent('trust domain', td));
    },
    putRefreshStatus: async (td, status) => {
      checkKeyComponent('trust domain', td);
      return putObject(context, 'refresh', 'refresh status', td, status);
    },
    deleteRefreshStatus: async (td) => {
      checkKeyComponent('trust domain', td);
      return deleteKeyed(context, 'refresh', td);
    },
    listRefreshStatuses: async () => {
      checkOpen();
      return [...state.refresh].map(([trustDomain, status]) => ({ trustDomain, status }));
    },

    putReplicaAuthorities: async (replicaId, authorities) => {
      checkKeyComponent('replica id', replicaId);
      return putObject(context, 'replica', 'replica authorities', replicaId, authorities);
    },
    deleteReplicaAuthorities: async (replicaId) => {
      checkKeyComponent('replica id', replicaId);
      return deleteKeyed(context, 'replica', replicaId);
    },
    listReplicaAuthorities: async () => {
      checkOpen();
      return [...state.replica].map(([replicaId, value]) => ({ replicaId, value }));
    },
  };
}
