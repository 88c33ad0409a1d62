// Stored formats are a contract: a file store directory (a snapshot and a journal each holding every kind
// of record, audit segments) and a Redis keyspace, written by the stores as they were before issue 16
// split them (2122c62), are read by today's stores as those stores read them, and written on after.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFileStore, createRedisStore, type Store } from '../../src/store/index.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { rejection } from './contract.js';

type StoredKey =
  | { readonly hash: Record<string, string> }
  | { readonly list: string[] }
  | { readonly string: string }
  | { readonly stream: [string, string[]][] };

interface Fixture {
  /** Path inside the store directory -> file text. */
  readonly fileStore: Record<string, string>;
  /** Key without the prefix -> its value. */
  readonly redisKeys: Record<string, StoredKey>;
  /** What the old stores read from both (the same for the two). */
  readonly reads: unknown;
}

const fixture = JSON.parse(
  await readFile(new URL('./fixtures/stored-format.json', import.meta.url), 'utf8'),
) as Fixture;

/** Everything the fixture holds, read through the store API (the fixture's `reads` has this shape). */
async function readAll(store: Store): Promise<unknown> {
  const bundles = (await store.listBundles()).sort((x, y) =>
    x.trustDomain.localeCompare(y.trustDomain),
  );
  const byId = <T extends { id: string }>(xs: T[]): T[] =>
    xs.sort((x, y) => x.id.localeCompare(y.id));
  return {
    bundles: await Promise.all(
      bundles.map(async (b) => ({
        current: await store.getBundle(b.trustDomain),
        history: await store.bundleHistory(b.trustDomain),
      })),
    ),
    relationships: await Promise.all(
      ['a.example', 'c.example'].map((td) => store.getRelationship(td)),
    ),
    entries: byId(await store.listEntries()),
    admins: byId(await store.listAccess('admin')),
    sessions: byId(await store.listAccess('session')),
    tokens: (await store.listTokens(5)).sort((x, y) => x.hash.localeCompare(y.hash)),
    localBundle: await store.getLocalBundle(),
    audit: await store.listAudit({ limit: 100 }),
    refreshStatuses: (await store.listRefreshStatuses()).sort((x, y) =>
      x.trustDomain.localeCompare(y.trustDomain),
    ),
    replicaAuthorities: (await store.listReplicaAuthorities()).sort((x, y) =>
      x.replicaId.localeCompare(y.replicaId),
    ),
  };
}

let root = '';
let server: RedisServer | undefined;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fedbroker-stored-format-'));
  server = await startRedisServer();
});

afterAll(async () => {
  await server?.cleanup();
  await rm(root, { recursive: true, force: true });
});

async function openFileFixture(name: string): Promise<Store> {
  const dir = join(root, name);
  for (const [path, text] of Object.entries(fixture.fileStore)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), text);
  }
  return createFileStore({ dir, auditMaxLength: 4 });
}

async function openRedisFixture(name: string): Promise<Store> {
  if (server === undefined) throw new Error('redis-server not started');
  const prefix = `${name}:`;
  const redis = new Redis(server.url);
  try {
    for (const [key, value] of Object.entries(fixture.redisKeys)) {
      const full = prefix + key;
      if ('hash' in value) await redis.hset(full, value.hash);
      else if ('list' in value) await redis.rpush(full, ...value.list);
      else if ('string' in value) await redis.set(full, value.string);
      else for (const [id, fields] of value.stream) await redis.xadd(full, id, ...fields);
    }
  } finally {
    redis.disconnect();
  }
  return createRedisStore({ url: server.url, keyPrefix: prefix, auditMaxLength: 4 });
}

const backends = [
  ['file store', openFileFixture],
  ['redis store', openRedisFixture],
] as const;

describe('records written before the split (2122c62)', () => {
  it.each(backends)('the %s reads them as the old store did', async (_name, open) => {
    const store = await open(`read-${_name.split(' ')[0]}`);
    try {
      expect(await readAll(store)).toEqual(fixture.reads);
    } finally {
      await store.close();
    }
  });

  it.each(backends)(
    'the %s writes on after them: versions, sequences (FED-32) and audit ids follow',
    async (_name, open) => {
      const store = await open(`write-${_name.split(' ')[0]}`);
      try {
        const last = await store.lastAudit();
        expect(last?.id).toBeGreaterThan(1);
        const next = await store.appendAudit((previous, id) => ({
          time: 9000,
          type: 'test.event',
          actor: 'tester',
          trustDomain: null,
          data: {},
          previousHash: previous?.hash ?? null,
          hash: `h${id}`,
        }));
        expect(next).toMatchObject({ id: (last?.id ?? 0) + 1, previousHash: last?.hash });
        expect(await store.putRelationship('a.example', { url: 'https://a.example/v4' }, 3)).toBe(
          4,
        );
        const stale = await rejection(
          store.putBundle({
            trustDomain: 'a.example',
            raw: '{"keys":[],"spiffe_sequence":2}',
            sequence: '2',
            fetchedAt: 5000,
            sourceUrl: null,
            refreshHintSeconds: null,
          }),
        );
        expect(stale.code).toBe('ERR_STORE_STALE_SEQUENCE');
        const sameBytes = (await store.getBundle('a.example')) ?? expect.fail('no bundle');
        const { digest: _digest, highestSequence: _highest, ...input } = sameBytes;
        expect((await store.putBundle(input)).outcome).toBe('unchanged');
        expect(await store.consumeToken('tokenhash1', 5)).toMatchObject({ data: { kind: 'join' } });
        const local = (await store.getLocalBundle()) ?? expect.fail('no local bundle');
        const rewritten = { raw: '{"keys":[]}', sequence: local.sequence, publishedAt: 1 };
        expect((await rejection(store.putLocalBundle(rewritten))).code).toBe(
          'ERR_STORE_STALE_SEQUENCE',
        );
        expect(await store.putLocalBundle({ ...rewritten, sequence: '9' })).toBe('written');
      } finally {
        await store.close();
      }
    },
  );
});
