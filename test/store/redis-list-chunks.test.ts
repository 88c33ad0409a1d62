// Review 15 F1 on a real redis-server: a listing of a large collection reads its keys in chunks, so
// it never fills the connection's in-flight cap (maxCommandsInFlight) and unrelated calls made while
// it runs are answered, not refused with ERR_STORE_UNAVAILABLE.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LIST_READ_CHUNK } from '../../src/store/redis/scan.js';
import { createRedisStore, type Store } from '../../src/store/index.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';

const ENTRIES = 3000;
/** Above one chunk and the few calls beside it, far below the listing's key count. */
const CAP = LIST_READ_CHUNK + 100;

let server: RedisServer;
let store: Store;

beforeAll(async () => {
  server = await startRedisServer();
  const seed = new Redis(server.url);
  const pipeline = seed.pipeline();
  for (let i = 0; i < ENTRIES; i++) {
    pipeline.hset(`chunks:entry:e${i}`, 'v', '1', 'd', JSON.stringify({ id: `e${i}` }));
    pipeline.set(`chunks:token:${i.toString(16).padStart(64, '0')}`, tokenJson(i));
  }
  await pipeline.exec();
  seed.disconnect();
  store = await createRedisStore({
    url: server.url,
    keyPrefix: 'chunks:',
    maxCommandsInFlight: CAP,
  });
}, 60_000);

afterAll(async () => {
  await store?.close();
  await server?.cleanup();
});

function tokenJson(i: number): string {
  return JSON.stringify({
    hash: i.toString(16).padStart(64, '0'),
    expiresAt: Date.now() + 3_600_000,
    data: {},
  });
}

/** Runs `listing` while other calls go on every millisecond; the codes of those that failed. */
async function besideListing(listing: () => Promise<unknown[]>): Promise<{
  listed: number;
  others: number;
  refused: string[];
}> {
  const refused: string[] = [];
  let done = false;
  const listed = listing().finally(() => {
    done = true;
  });
  const others: Promise<void>[] = [];
  while (!done) {
    others.push(
      store.getRelationship('partner.example').then(
        () => undefined,
        (error: { code?: string }) => {
          refused.push(String(error.code));
        },
      ),
    );
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  await Promise.all(others);
  return { listed: (await listed).length, others: others.length, refused };
}

describe(`a listing of ${ENTRIES} keys beside other calls (cap ${CAP} commands in flight)`, () => {
  it('listEntries reads every entry and no other call is refused', async () => {
    const result = await besideListing(() => store.listEntries());
    expect(result.listed).toBe(ENTRIES);
    expect(result.others).toBeGreaterThan(0);
    expect(result.refused).toEqual([]);
  });

  it('listTokens reads every token and no other call is refused', async () => {
    const result = await besideListing(() => store.listTokens(Date.now()));
    expect(result.listed).toBe(ENTRIES);
    expect(result.others).toBeGreaterThan(0);
    expect(result.refused).toEqual([]);
  });
});
