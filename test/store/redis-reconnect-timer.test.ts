// Review 15 F3 on a real redis-server: ioredis's socket timeout (the store's 2 x commandTimeout)
// kept the timer of a connection that closed for another reason, and that timer then destroyed the
// reconnected, healthy connection. The store clears it when a connection closes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisStore, type Store } from '../../src/store/index.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { startHoldProxy, type HoldProxy } from './redis-hold-proxy.js';

const COMMAND_TIMEOUT_MS = 500;

let server: RedisServer;
let proxy: HoldProxy;
let store: Store;

beforeAll(async () => {
  server = await startRedisServer();
  proxy = await startHoldProxy(server.port);
  store = await createRedisStore({
    url: proxy.url,
    keyPrefix: 'timer:',
    commandTimeoutMs: COMMAND_TIMEOUT_MS,
  });
});

afterAll(async () => {
  await store?.close();
  await proxy?.close();
  await server?.cleanup();
});

describe('a connection reset while a command waits', () => {
  it('the reconnected connection is not dropped later by the timer of the old connection', async () => {
    proxy.swallow();
    const lost = store.ping().catch(() => 'failed'); // never reaches Redis
    await new Promise((resolve) => setTimeout(resolve, 50));
    proxy.reset();
    await lost;
    for (let i = 0; ; i++) {
      if (
        await store.ping().then(
          () => true,
          () => false,
        )
      )
        break;
      if (i > 200) throw new Error('the store did not reconnect');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    // Healthy traffic for three socket timeouts: the old timer fired 2 x commandTimeout after the
    // lost ping was sent, destroying the new connection and failing the calls on it.
    const failures: string[] = [];
    const calls: Promise<void>[] = [];
    const until = Date.now() + 3 * 2 * COMMAND_TIMEOUT_MS;
    while (Date.now() < until) {
      calls.push(
        store.getRelationship('partner.example').then(
          () => undefined,
          (error: Error) => {
            failures.push(error.message);
          },
        ),
      );
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await Promise.all(calls);
    expect(calls.length).toBeGreaterThan(100);
    expect(failures).toEqual([]);
  });
});
