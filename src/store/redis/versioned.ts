// The Redis store's versioned records: relationships, registration entries, named admins and console
// sessions, each a hash of version `v` and JSON `d`, written compare-and-set by script (ERR_STORE_CONFLICT).
import { StoreError } from '../../errors.js';
import { checkAccessCollection } from '../keys.js';
import { checkExpectedVersion, conflictError, decodeObject, encodeObject } from '../records.js';
import type {
  AccessStore,
  EntryStore,
  ExpectedVersion,
  RelationshipStore,
  Versioned,
} from '../store.js';
import { readInChunks, scanCollection, type RedisContext } from './scan.js';
import { DELETE_VERSIONED, PUT_VERSIONED } from './scripts.js';

function decodeVersioned(
  what: string,
  version: string | null,
  data: string | null,
): Versioned | undefined {
  if (version === null && data === null) return undefined;
  if (version === null || data === null) {
    throw new StoreError(
      'ERR_STORE_CORRUPT',
      `stored ${what} has a version without data or data without a version`,
    );
  }
  const parsed = Number(version);
  if (!Number.isSafeInteger(parsed) || parsed < 1) {
    throw new StoreError('ERR_STORE_CORRUPT', `stored ${what} has an invalid version`);
  }
  return { value: decodeObject(what, data), version: parsed };
}

async function getVersioned(
  { conn }: RedisContext,
  what: string,
  key: string,
): Promise<Versioned | undefined> {
  const [version, data] = await conn.client.hmget(key, 'v', 'd');
  return decodeVersioned(what, version ?? null, data ?? null);
}

async function listVersioned(
  context: RedisContext,
  what: string,
  collection: 'relationship' | 'entry' | 'admin' | 'session',
): Promise<(Versioned & { id: string })[]> {
  const found = await scanCollection(context, collection);
  const values = await readInChunks(found, (key) => getVersioned(context, what, key));
  const out: (Versioned & { id: string })[] = [];
  values.forEach((value, i) => {
    const id = found[i]?.id;
    if (value !== undefined && id !== undefined) out.push({ id, ...value });
  });
  return out;
}

async function putVersioned(
  { conn }: RedisContext,
  what: string,
  key: string,
  id: string,
  value: object,
  expected: ExpectedVersion,
): Promise<number> {
  checkExpectedVersion(expected, true);
  const json = encodeObject(what, value);
  const arg = expected === null ? 'absent' : String(expected);
  const version = await conn.call(`put ${what}`, () =>
    conn.runBeforeDeadline(PUT_VERSIONED, [key], [arg, json]),
  );
  if (version === -1) throw conflictError(what, id, expected);
  return Number(version);
}

async function deleteVersioned(
  { conn }: RedisContext,
  what: string,
  key: string,
  id: string,
  expected: number | 'any',
): Promise<boolean> {
  checkExpectedVersion(expected, false);
  const result = await conn.call(`delete ${what}`, () =>
    conn.runBeforeDeadline(DELETE_VERSIONED, [key], [String(expected)]),
  );
  if (result === -1) throw conflictError(what, id, expected);
  return result === 1;
}

export function redisVersionedStore(
  context: RedisContext,
): RelationshipStore & EntryStore & AccessStore {
  const { conn, keys } = context;
  return {
    getRelationship: async (td) => {
      const key = keys.relationship(td);
      return conn.call('get relationship', () => getVersioned(context, 'relationship', key));
    },
    listRelationships: async () =>
      (
        await conn.call('list relationships', () =>
          listVersioned(context, 'relationship', 'relationship'),
        )
      ).map(({ value, version }) => ({ value, version })),
    putRelationship: async (td, value, expected) =>
      putVersioned(context, 'relationship', keys.relationship(td), td, value, expected),
    deleteRelationship: async (td, expected) =>
      deleteVersioned(context, 'relationship', keys.relationship(td), td, expected),

    getEntry: async (id) => {
      const key = keys.entry(id);
      return conn.call('get entry', () => getVersioned(context, 'entry', key));
    },
    listEntries: async () =>
      conn.call('list entries', () => listVersioned(context, 'entry', 'entry')),
    putEntry: async (id, value, expected) =>
      putVersioned(context, 'entry', keys.entry(id), id, value, expected),
    deleteEntry: async (id, expected) =>
      deleteVersioned(context, 'entry', keys.entry(id), id, expected),

    getAccess: async (coll, id) => {
      const key = keys.access(coll, id);
      return conn.call(`get ${coll}`, () => getVersioned(context, coll, key));
    },
    listAccess: async (coll) => {
      const collection = checkAccessCollection(coll);
      return conn.call(`list ${coll}`, () => listVersioned(context, collection, collection));
    },
    putAccess: async (coll, id, value, expected) =>
      putVersioned(context, coll, keys.access(coll, id), id, value, expected),
    deleteAccess: async (coll, id, expected) =>
      deleteVersioned(context, coll, keys.access(coll, id), id, expected),
  };
}
