// Issue 15 finding 9 on a real redis-server stalled with SIGSTOP: a lock whose acquisition timed out
// never takes effect once the server runs again, for the store alone and for entry creation through a
// real broker's admin API (no false 409 ERR_REGISTRATION_ENTRY_EXISTS afterwards).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisStore, type Store } from '../../src/store/index.js';
import { admin } from '../helpers/broker.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { rejection } from './contract.js';
import { resumeAndDrain, useBrokerOn } from './redis-stall-kit.js';

const COMMAND_TIMEOUT_MS = 300;

let server: RedisServer;
const stores: Store[] = [];

beforeAll(async () => {
  server = await startRedisServer();
});

afterAll(async () => {
  server.resume();
  await Promise.all(stores.splice(0).map((s) => s.close()));
  await server.cleanup();
});

async function open(prefix: string, commandTimeoutMs = COMMAND_TIMEOUT_MS): Promise<Store> {
  const store = await createRedisStore({
    url: server.url,
    keyPrefix: prefix,
    commandTimeoutMs,
    connectTimeoutMs: 2000,
  });
  stores.push(store);
  return store;
}

describe('store locks during a redis stall (issue 15 finding 9)', () => {
  it('an acquire that timed out during a SIGSTOP stall never holds the lock after SIGCONT', async () => {
    const store = await open('stall-a:');
    // A running broker has its scripts cached on the server already (EVALSHA finds them).
    expect(await store.acquireLock('warm-up', 'me', 1000)).toBe(true);
    expect(await store.releaseLock('warm-up', 'me')).toBe(true);
    server.pause();
    try {
      const error = await rejection(store.acquireLock('create', 'timed-out-owner', 10_000));
      expect(error.code).toBe('ERR_STORE_UNAVAILABLE');
    } finally {
      await resumeAndDrain(server, store);
    }
    expect(await store.lockHolder('create')).toBeUndefined();
    expect(await store.acquireLock('create', 'next-owner', 1000)).toBe(true);
    expect(await store.lockHolder('create')).toBe('next-owner');
  });

  it('an acquire the server answers in time still takes the lock (the deadline is on its clock)', async () => {
    const store = await open('stall-b:');
    expect(await store.acquireLock('lease', 'me', 5000)).toBe(true);
    expect(await store.acquireLock('lease', 'other', 5000)).toBe(false);
    expect(await store.releaseLock('lease', 'me')).toBe(true);
  });
});

describe('entry creation on a real broker after a redis stall (issue 15 finding 9)', () => {
  const getBroker = useBrokerOn(() => server, 'stall.example', 'stall-broker:');

  it('a create that failed during the stall leaves no lock: the next create answers 201', async () => {
    const broker = getBroker();
    server.pause();
    let during: { status: number; body: Record<string, unknown> };
    try {
      during = await admin(broker, 'POST', '/v1/admin/entries', {
        spiffeId: 'spiffe://stall.example/workload/during-stall',
      });
    } finally {
      await resumeAndDrain(server, broker.store);
    }
    expect(during.status).toBe(503);
    expect((during.body['error'] as { code: string }).code).toBe('ERR_STORE_UNAVAILABLE');

    const after = await admin(broker, 'POST', '/v1/admin/entries', {
      spiffeId: 'spiffe://stall.example/workload/after-stall',
    });
    expect(after.status, JSON.stringify(after.body)).toBe(201);
  }, 60_000);
});
