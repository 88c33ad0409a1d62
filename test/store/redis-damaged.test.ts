// Review 12 F5 on a real redis-server: records damaged in Redis (edited by hand, a bad restore) give
// ERR_STORE_CORRUPT at once, not ERR_STORE_UNAVAILABLE (a Lua error), "absent" or ERR_STORE_CONFLICT
// after 100 retries.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisStore, type Store } from '../../src/store/index.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { bundleInput, chained, rejection } from './contract.js';

let server: RedisServer;
let raw: Redis;
const stores: Store[] = [];

beforeAll(async () => {
  server = await startRedisServer();
  raw = new Redis(server.url);
});

afterAll(async () => {
  raw.disconnect();
  await Promise.all(stores.splice(0).map((s) => s.close()));
  await server.cleanup();
});

async function open(prefix: string): Promise<Store> {
  const store = await createRedisStore({ url: server.url, keyPrefix: prefix });
  stores.push(store);
  return store;
}

async function onlyKey(pattern: string): Promise<string> {
  const found = await raw.keys(pattern);
  if (found.length !== 1 || found[0] === undefined) throw new Error(`no single key ${pattern}`);
  return found[0];
}

describe('damaged records in redis (review 12 F5)', () => {
  it('a bundle hash without its sequence: putBundle answers ERR_STORE_CORRUPT', async () => {
    const store = await open('dmg-a:');
    await store.putBundle(bundleInput('4'));
    await raw.hdel(await onlyKey('dmg-a:*bundle*current*'), 's');
    expect((await rejection(store.putBundle(bundleInput('5')))).code).toBe('ERR_STORE_CORRUPT');
  });

  it('a versioned record with a version and no data is ERR_STORE_CORRUPT to read and to write', async () => {
    const store = await open('dmg-c:');
    await store.putRelationship('x.example', { a: 1 }, null);
    await raw.hdel(await onlyKey('dmg-c:*relationship*'), 'd');
    expect((await rejection(store.getRelationship('x.example'))).code).toBe('ERR_STORE_CORRUPT');
    expect((await rejection(store.putRelationship('x.example', { a: 2 }, null))).code).toBe(
      'ERR_STORE_CORRUPT',
    );
    expect((await rejection(store.deleteRelationship('x.example', 'any'))).code).toBe(
      'ERR_STORE_CORRUPT',
    );
  });

  it('an audit stream entry whose record has another id: ERR_STORE_CORRUPT at once', async () => {
    const store = await open('dmg-d:');
    await store.appendAudit(chained('one'));
    const stream = await onlyKey('dmg-d:*audit*');
    const last = (await raw.xrevrange(stream, '+', '-', 'COUNT', 1))[0];
    const text = last?.[1][1];
    if (text === undefined) throw new Error('no audit entry');
    await raw.xadd(stream, '5-0', 'r', JSON.stringify({ ...JSON.parse(text), id: 4 }));
    const started = Date.now();
    expect((await rejection(store.appendAudit(chained('two')))).code).toBe('ERR_STORE_CORRUPT');
    expect(Date.now() - started).toBeLessThan(1000);
    expect((await rejection(store.lastAudit())).code).toBe('ERR_STORE_CORRUPT');
    const page = await store.readStoredAudit(1, 10);
    expect(page.records.map((r) => r.id)).toEqual([1]);
    expect(page.unreadable?.afterId).toBe(1);
  });

  it('an audit stream emptied by XDEL (an XADD in the script fails): ERR_STORE_CORRUPT', async () => {
    const store = await open('dmg-e:');
    await store.appendAudit(chained('one'));
    await store.appendAudit(chained('two'));
    const stream = await onlyKey('dmg-e:*audit*');
    await raw.xdel(stream, '1-0', '2-0');
    expect((await rejection(store.appendAudit(chained('three')))).code).toBe('ERR_STORE_CORRUPT');
  });

  it('a stored data field without a version: ERR_STORE_CORRUPT, not absent', async () => {
    const store = await open('dmg-f:');
    await store.putEntry('e1', { spiffeId: 'spiffe://td/x' }, null);
    await raw.hdel(await onlyKey('dmg-f:*entr*'), 'v');
    expect((await rejection(store.getEntry('e1'))).code).toBe('ERR_STORE_CORRUPT');
    expect((await rejection(store.putEntry('e1', { b: 1 }, null))).code).toBe('ERR_STORE_CORRUPT');
  });
});
