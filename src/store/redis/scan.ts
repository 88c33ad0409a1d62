// Listing a collection in Redis: SCAN with the collection's key pattern on every master (one for
// standalone and Sentinel, each master of a cluster), never KEYS; foreign keys are skipped.
import { Cluster } from 'ioredis';
import type { ScannedCollection, StoreKeys } from '../keys.js';
import type { RedisConnection } from './connection.js';

const SCAN_COUNT = 500;
/** Reads a listing sends at once: a large collection never fills the connection's in-flight cap. */
export const LIST_READ_CHUNK = 500;

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

/**
 * Reads every scanned key with `read`, LIST_READ_CHUNK at a time (each chunk answered before the
 * next is sent), in order. A listing of 20,000 entries sent all at once held 20,000 commands in
 * flight and tripped the connection's cap (maxCommandsInFlight), refusing unrelated calls meanwhile.
 */
export async function readInChunks<T>(
  found: readonly { key: string }[],
  read: (key: string) => Promise<T>,
): Promise<T[]> {
  const out: T[] = [];
  for (let start = 0; start < found.length; start += LIST_READ_CHUNK) {
    const chunk = found.slice(start, start + LIST_READ_CHUNK);
    out.push(...(await Promise.all(chunk.map(({ key }) => read(key)))));
  }
  return out;
}
