// Listing a collection in Redis: SCAN with the collection's key pattern on every master (one for
// standalone and Sentinel, each master of a cluster), never KEYS; foreign keys are skipped.
import { Cluster } from 'ioredis';
import type { ScannedCollection, StoreKeys } from '../keys.js';
import type { RedisConnection } from './connection.js';

const SCAN_COUNT = 500;

/** What every Redis record concern works with: the connection and the key names. */
export interface RedisContext {
  readonly conn: RedisConnection;
  readonly keys: StoreKeys;
}

/** SCAN on every master (one for standalone and Sentinel); never KEYS. */
export async function scanCollection(
  { conn, keys }: RedisContext,
  collection: ScannedCollection,
): Promise<{ key: string; id: string }[]> {
  const client = conn.client;
  const pattern = keys.scanPattern(collection);
  const nodes = client instanceof Cluster ? client.nodes('master') : [client];
  const found = new Map<string, string>();
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, batch] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT);
      cursor = next;
      for (const key of batch) {
        const id = keys.idFromKey(collection, key);
        if (id !== undefined) found.set(key, id);
      }
    } while (cursor !== '0');
  }
  return [...found].map(([key, id]) => ({ key, id }));
}
