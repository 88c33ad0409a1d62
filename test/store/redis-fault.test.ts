// Fault tests on a real redis-server: stopped mid-run, calls fail fast with ERR_STORE_UNAVAILABLE;
// restarted (AOF on), the same store instance recovers by itself with every earlier write intact.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHANNELS, createRedisStore, type Store } from '../../src/store/index.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { bundleInput, chained, TD } from './contract.js';

/** Only to detect a hang: far above the configured timeouts, never a performance assertion. */
const HANG_BOUND_MS = 10_000;
const COMMAND_TIMEOUT_MS = 500;

let server: RedisServer;
const stores: Store[] = [];

beforeAll(async () => {
  server = await startRedisServer({ appendOnly: true });
});

afterAll(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
  await server.cleanup();
});

async function open(): Promise<Store> {
  const store = await createRedisStore({
    url: server.url,
    keyPrefix: 'fault:',
    commandTimeoutMs: COMMAND_TIMEOUT_MS,
    connectTimeoutMs: 1000,
  });
  stores.push(store);
  return store;
}

/** The code a promise rejects with; fails the test if it resolves or does not settle in time. */
async function settledCode(promise: Promise<unknown>): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('call did not settle: hang')), HANG_BOUND_MS);
  });
  try {
    await Promise.race([promise, hang]);
  } catch (error) {
    return (error as { code?: unknown }).code ?? (error as Error).message;
  } finally {
    clearTimeout(timer);
  }
  return 'resolved';
}

async function eventually(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('redis store while redis-server is down', () => {
  it('fails fast, then recovers without being recreated and loses nothing', async () => {
    const store = await open();
    await store.putBundle(bundleInput('4'));
    await store.putRelationship(TD, { state: 'active' }, null);
    await store.putToken({ hash: 'survivor', expiresAt: 9_000, data: {} });
    await store.appendAudit(chained('before'));
    const received: string[] = [];
    await store.subscribe(CHANNELS.bundleChanged(TD), (m) => received.push(m));

    // A crash, not a clean shutdown: appendfsync always keeps every acknowledged write.
    await server.stop('SIGKILL');

    const calls: [string, () => Promise<unknown>][] = [
      ['getBundle', () => store.getBundle(TD)],
      ['putBundle', () => store.putBundle(bundleInput('5'))],
      ['listBundles', () => store.listBundles()],
      ['putRelationship', () => store.putRelationship(TD, { state: 'x' }, 1)],
      ['consumeToken', () => store.consumeToken('survivor', 1)],
      ['acquireLock', () => store.acquireLock('l', 'me', 1000)],
      ['appendAudit', () => store.appendAudit(chained('during'))],
      ['listAudit', () => store.listAudit({ limit: 10 })],
      ['publish', () => store.publish(CHANNELS.bundleChanged(TD), 'lost')],
      ['subscribe', () => store.subscribe('other', () => undefined)],
      ['ping', () => store.ping()],
    ];
    const codes = await Promise.all(
      calls.map(async ([name, call]) => [name, await settledCode(call())]),
    );
    expect(codes).toEqual(calls.map(([name]) => [name, 'ERR_STORE_UNAVAILABLE']));

    // A new store cannot start while Redis is down either, and says so within its connect timeout.
    expect(await settledCode(open())).toBe('ERR_STORE_UNAVAILABLE');

    await server.start();
    await eventually(async () => (await store.ping(), true), 'reconnect');

    expect((await store.getBundle(TD))?.sequence).toBe('4');
    expect((await store.getRelationship(TD))?.version).toBe(1);
    expect(await store.consumeToken('survivor', 1)).toBeDefined();
    expect((await store.lastAudit())?.type).toBe('before');
    expect((await store.putBundle(bundleInput('5'))).outcome).toBe('replaced');

    // The subscription made before the outage is back: another client's message reaches it.
    const other = await open();
    await eventually(async () => {
      await other.publish(CHANNELS.bundleChanged(TD), 'after');
      await new Promise((resolve) => setTimeout(resolve, 50));
      return received.includes('after');
    }, 'resubscription');
    expect(received).not.toContain('lost');
  });

  it('gives up on a hung server after the command timeout and works once it answers again', async () => {
    const store = await open();
    await store.putBundle(bundleInput('1', 'hung', 'hung.example'));
    server.pause();
    try {
      const codes = await Promise.all([
        settledCode(store.getBundle('hung.example')),
        settledCode(store.putBundle(bundleInput('2', 'hung', 'hung.example'))),
        settledCode(store.consumeToken('nothing', 1)),
        settledCode(store.ping()),
      ]);
      expect(codes).toEqual(Array(4).fill('ERR_STORE_UNAVAILABLE'));
    } finally {
      server.resume();
    }
    await eventually(async () => (await store.ping(), true), 'answers again');
    expect((await store.getBundle('hung.example'))?.raw).toContain('hung');
  });
});
