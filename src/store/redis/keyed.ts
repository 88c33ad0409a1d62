// The Redis store's plain keyed records: one-time tokens (by hash, consumed by one GET+DEL script,
// expired by Redis after a grace), per-partner refresh status and each replica's CA authorities.
import type { Clock } from '../../clock.js';
import { StoreError } from '../../errors.js';
import {
  checkTime,
  decodeObject,
  decodeToken,
  encodeObject,
  tokenRecordFromInput,
} from '../records.js';
import type {
  JsonObject,
  RefreshStatusStore,
  ReplicaAuthorityStore,
  TokenInput,
  TokenRecord,
  TokenStore,
} from '../store.js';
import { readInChunks, scanCollection, type RedisContext } from './scan.js';
import { CONSUME_TOKEN } from './scripts.js';

/** Redis keeps a token this long after it expired (GC only; consumption checks `expiresAt`). */
const TOKEN_GC_GRACE_MS = 3600_000;

/** A stored token's text as its record, unless missing or expired at `at` (never consumable). */
function unexpiredToken(text: unknown, at: number): TokenRecord | undefined {
  if (typeof text !== 'string') return undefined;
  const token = decodeToken(text);
  return token.expiresAt > at ? token : undefined;
}

export function redisTokenStore(context: RedisContext, nowMs: Clock): TokenStore {
  const { conn, keys } = context;
  const client = conn.client;
  return {
    putToken: async (input: TokenInput) => {
      const record = tokenRecordFromInput(input);
      const key = keys.token(record.hash);
      const ttlMs = Math.max(1, record.expiresAt - nowMs()) + TOKEN_GC_GRACE_MS;
      const reply = await conn.call('put token', () =>
        conn.writeBeforeDeadline('SET', [key], [JSON.stringify(record), 'PX', ttlMs, 'NX']),
      );
      if (reply !== 'OK') {
        throw new StoreError('ERR_STORE_CONFLICT', 'a token with this hash already exists');
      }
    },
    readToken: async (hash, at) => {
      const key = keys.token(hash);
      checkTime('now', at);
      return unexpiredToken(await conn.call('read token', () => client.get(key)), at);
    },
    consumeToken: async (hash, at) => {
      const key = keys.token(hash);
      checkTime('now', at);
      const text = await conn.call('consume token', () =>
        conn.runBeforeDeadline(CONSUME_TOKEN, [key], []),
      );
      return unexpiredToken(text, at);
    },
    deleteToken: async (hash) => {
      const key = keys.token(hash);
      return conn.deleteKeys('delete token', [key]);
    },
    listTokens: async (at) => {
      checkTime('now', at);
      return conn.call('list tokens', async () => {
        const found = await scanCollection(context, 'token');
        const texts = await readInChunks(found, (key) => client.get(key));
        return texts
          .filter((text): text is string => text !== null)
          .map(decodeToken)
          .filter((token) => token.expiresAt > at);
      });
    },
  };
}

/** Every plain JSON object of a scanned collection, by id. */
async function listObjects(
  context: RedisContext,
  what: string,
  collection: 'refreshStatus' | 'replicaAuthorities',
): Promise<{ id: string; value: JsonObject }[]> {
  const found = await scanCollection(context, collection);
  const texts = await readInChunks(found, (key) => context.conn.client.get(key));
  const out: { id: string; value: JsonObject }[] = [];
  texts.forEach((text, i) => {
    const id = found[i]?.id;
    if (text !== null && id !== undefined) out.push({ id, value: decodeObject(what, text) });
  });
  return out;
}

export function redisObjectStore(
  context: RedisContext,
): RefreshStatusStore & ReplicaAuthorityStore {
  const { conn, keys } = context;
  const client = conn.client;
  return {
    getRefreshStatus: async (td) => {
      const key = keys.refreshStatus(td);
      const text = await conn.call('get refresh status', () => client.get(key));
      return text === null ? undefined : decodeObject('refresh status', text);
    },
    putRefreshStatus: async (td, status) => {
      const key = keys.refreshStatus(td);
      const json = encodeObject('refresh status', status);
      await conn.call('put refresh status', () => conn.writeBeforeDeadline('SET', [key], [json]));
    },
    deleteRefreshStatus: async (td) => {
      const key = keys.refreshStatus(td);
      return conn.deleteKeys('delete refresh status', [key]);
    },
    listRefreshStatuses: async () =>
      conn.call('list refresh statuses', async () =>
        (await listObjects(context, 'refresh status', 'refreshStatus')).map(({ id, value }) => ({
          trustDomain: id,
          status: value,
        })),
      ),

    putReplicaAuthorities: async (replicaId, authorities) => {
      const key = keys.replicaAuthorities(replicaId);
      const json = encodeObject('replica authorities', authorities);
      await conn.call('put replica authorities', () =>
        conn.writeBeforeDeadline('SET', [key], [json]),
      );
    },
    deleteReplicaAuthorities: async (replicaId) => {
      const key = keys.replicaAuthorities(replicaId);
      return conn.deleteKeys('delete replica authorities', [key]);
    },
    listReplicaAuthorities: async () =>
      conn.call('list replica authorities', async () =>
        (await listObjects(context, 'replica authorities', 'replicaAuthorities')).map(
          ({ id, value }) => ({ replicaId: id, value }),
        ),
      ),
  };
}
