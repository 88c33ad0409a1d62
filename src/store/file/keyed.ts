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
      return journal.write((view) => {
        if (view.has('token', record.hash)) {
          throw new StoreError('ERR_STORE_CONFLICT', 'a token with this hash already exists');
        }
        return {
          changes: [{ op: 'put', coll: 'token', id: record.hash, value: record }],
          result: undefined,
        };
      });
    },
    readToken: async (hash, at) => {
      checkKeyComponent('token hash', hash);
      checkTime('now', at);
      checkOpen();
      const token = state.token.get(hash);
      return token !== undefined && token.expiresAt > at ? token : undefined;
    },
    consumeToken: async (hash, at) => {
      checkKeyComponent('token hash', hash);
      checkTime('now', at);
      return journal.write((view) => {
        const token = view.get('token', hash);
        if (token === undefined) return { changes: [], result: undefined };
        // Deleted whether expired or not: an expired token can never be consumed anyway.
        return {
          changes: [{ op: 'del', coll: 'token', id: hash }],
          result: token.expiresAt > at ? token : undefined,
        };
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
  return journal.write((view) =>
    view.has(coll, id)
      ? { changes: [{ op: 'del', coll, id }], result: true }
      : { changes: [], result: false },
  );
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
  return journal.write(() => ({
    changes: [{ op: 'put', coll, id, value: parsed }],
    result: undefined,
  }));
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
