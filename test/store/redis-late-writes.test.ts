// Review 12 F2 on a real redis-server stalled with SIGSTOP: a write answered ERR_STORE_UNAVAILABLE
// never takes effect when the server runs again (each write script carries a deadline on Redis's own
// clock), for the store alone and for an approval through a real broker's admin API (FED-3: no
// change without its audit record).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisStore, type Store } from '../../src/store/index.js';
import { admin } from '../helpers/broker.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import {
  ACQUIRE_LOCK,
  APPEND_AUDIT,
  CONSUME_TOKEN,
  DELETE_VERSIONED,
  PUT_BUNDLE,
  PUT_LOCAL_BUNDLE,
  PUT_VERSIONED,
  RENEW_LOCK,
  WRITE_COMMAND,
} from '../../src/store/redis/scripts.js';
import { bundleInput, chained, rejection, TD } from './contract.js';
import { startHoldProxy } from './redis-hold-proxy.js';
import { resumeAndDrain, useBrokerOn } from './redis-stall-kit.js';

const COMMAND_TIMEOUT_MS = 300;
const TOKEN = 'f'.repeat(64);

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

describe('store writes during a redis stall (review 12 F2)', () => {
  it('writes answered ERR_STORE_UNAVAILABLE during a SIGSTOP stall change nothing after SIGCONT', async () => {
    const store = await createRedisStore({
      url: server.url,
      keyPrefix: 'late-a:',
      commandTimeoutMs: COMMAND_TIMEOUT_MS,
    });
    stores.push(store);
    // A running broker has its scripts cached on the server already (EVALSHA finds them).
    await store.putRelationship(TD, { state: 'pending' }, null);
    await store.putRelationship('gone.example', { state: 'pending' }, null);
    await store.putBundle(bundleInput('1'));
    await store.appendAudit(chained('first'));
    await store.putToken({ hash: TOKEN, expiresAt: Date.now() + 600_000, data: {} });
    await store.consumeToken('e'.repeat(64), Date.now());
    await store.deleteRelationship('absent.example', 'any');
    expect(await store.acquireLock('lease', 'me', 60_000)).toBe(true);

    server.pause();
    const codes: Record<string, unknown> = {};
    try {
      const writes: Record<string, Promise<unknown>> = {
        putRelationship: store.putRelationship(TD, { state: 'active' }, 1),
        deleteRelationship: store.deleteRelationship('gone.example', 'any'),
        putBundle: store.putBundle(bundleInput('2', 'k2')),
        appendAudit: store.appendAudit(chained('second')),
        consumeToken: store.consumeToken(TOKEN, Date.now()),
        renewLock: store.renewLock('lease', 'me', 600_000),
      };
      for (const [name, write] of Object.entries(writes)) {
        codes[name] = (await rejection(write)).code;
      }
    } finally {
      await resumeAndDrain(server, store);
    }
    expect(Object.values(codes)).toEqual(Array(6).fill('ERR_STORE_UNAVAILABLE'));
    // Queued scripts have run (or been refused) by now: ping answered after them on one connection.
    expect((await store.getRelationship(TD))?.value).toEqual({ state: 'pending' });
    expect(await store.getRelationship('gone.example')).toBeDefined();
    expect((await store.getBundle(TD))?.sequence).toBe('1');
    expect((await store.lastAudit())?.type).toBe('first');
    expect((await store.listTokens(Date.now())).map((t) => t.hash)).toEqual([TOKEN]);
    expect(await store.consumeToken(TOKEN, Date.now())).toBeDefined();
  });
});

describe('a write script that reaches redis after its caller gave up (review 12 F2)', () => {
  /** Each write script, the call that sends it, and what the store must still read afterwards. */
  const cases: {
    name: string;
    sha: string;
    write: (store: Store) => Promise<unknown>;
    unchanged: (store: Store) => Promise<void>;
  }[] = [
    {
      name: 'putRelationship',
      sha: PUT_VERSIONED.sha,
      write: (store) => store.putRelationship(TD, { state: 'active' }, 1),
      unchanged: async (store) =>
        expect(await store.getRelationship(TD)).toEqual({
          value: { state: 'pending' },
          version: 1,
        }),
    },
    {
      name: 'deleteRelationship',
      sha: DELETE_VERSIONED.sha,
      write: (store) => store.deleteRelationship(TD, 1),
      unchanged: async (store) => expect(await store.getRelationship(TD)).toBeDefined(),
    },
    {
      name: 'putBundle',
      sha: PUT_BUNDLE.sha,
      write: (store) => store.putBundle(bundleInput('2', 'k2')),
      unchanged: async (store) => expect((await store.getBundle(TD))?.sequence).toBe('1'),
    },
    {
      name: 'putLocalBundle',
      sha: PUT_LOCAL_BUNDLE.sha,
      write: (store) =>
        store.putLocalBundle({ raw: '{"keys":[2]}', sequence: '2', publishedAt: 2 }),
      unchanged: async (store) => expect((await store.getLocalBundle())?.sequence).toBe('1'),
    },
    {
      name: 'appendAudit',
      sha: APPEND_AUDIT.sha,
      write: (store) => store.appendAudit(chained('second')),
      unchanged: async (store) => expect((await store.lastAudit())?.type).toBe('first'),
    },
    {
      name: 'consumeToken',
      sha: CONSUME_TOKEN.sha,
      write: (store) => store.consumeToken(TOKEN, Date.now()),
      unchanged: async (store) =>
        expect((await store.listTokens(Date.now())).map((t) => t.hash)).toEqual([TOKEN]),
    },
    {
      name: 'acquireLock',
      sha: ACQUIRE_LOCK.sha,
      write: (store) => store.acquireLock('new-lease', 'me', 60_000),
      unchanged: async (store) => expect(await store.lockHolder('new-lease')).toBeUndefined(),
    },
    {
      name: 'renewLock',
      sha: RENEW_LOCK.sha,
      write: (store) => store.renewLock('lease', 'me', 600_000),
      unchanged: async (store) => {
        await new Promise((resolve) => setTimeout(resolve, 1200));
        expect(await store.lockHolder('lease')).toBeUndefined();
      },
    },
    {
      name: 'deleteToken',
      sha: WRITE_COMMAND.sha,
      write: (store) => store.deleteToken(TOKEN),
      unchanged: async (store) => expect(await store.listTokens(Date.now())).toHaveLength(1),
    },
    {
      name: 'putToken',
      sha: WRITE_COMMAND.sha,
      write: (store) =>
        store.putToken({ hash: 'c'.repeat(64), expiresAt: Date.now() + 600_000, data: {} }),
      unchanged: async (store) => expect(await store.listTokens(Date.now())).toHaveLength(1),
    },
    {
      name: 'deleteBundle',
      sha: WRITE_COMMAND.sha,
      write: (store) => store.deleteBundle(TD),
      unchanged: async (store) => expect(await store.bundleHistory(TD)).toHaveLength(1),
    },
    {
      name: 'putRefreshStatus',
      sha: WRITE_COMMAND.sha,
      write: (store) => store.putRefreshStatus(TD, { due: 2 }),
      unchanged: async (store) => expect(await store.getRefreshStatus(TD)).toEqual({ due: 1 }),
    },
  ];

  it.each(cases)('$name held back past the command timeout never takes effect', async (c) => {
    const proxy = await startHoldProxy(server.port);
    const store = await createRedisStore({
      url: proxy.url,
      keyPrefix: `held-${c.name}:`,
      commandTimeoutMs: COMMAND_TIMEOUT_MS,
    });
    try {
      await store.putRelationship(TD, { state: 'pending' }, null);
      await store.putBundle(bundleInput('1'));
      await store.putLocalBundle({ raw: '{"keys":[1]}', sequence: '1', publishedAt: 1 });
      await store.appendAudit(chained('first'));
      await store.putToken({ hash: TOKEN, expiresAt: Date.now() + 600_000, data: {} });
      await store.consumeToken('e'.repeat(64), Date.now());
      expect(await store.acquireLock('lease', 'me', 1000)).toBe(true);
      expect(await store.renewLock('lease', 'me', 1000)).toBe(true);
      await store.acquireLock('warm', 'me', 1);
      await store.deleteRelationship('absent.example', 'any');
      await store.putRefreshStatus(TD, { due: 1 });

      proxy.holdFrom(c.sha);
      const error = await rejection(c.write(store));
      expect(error.code).toBe('ERR_STORE_UNAVAILABLE');
      expect(proxy.holding()).toBe(true);
      // The script reaches Redis now, after its caller was told it failed.
      proxy.release();
      await store.ping();
      await c.unchanged(store);
    } finally {
      proxy.release();
      await store.close();
      await proxy.close();
    }
  });
});

describe('an approval during a redis stall on a real broker (review 12 F2, FED-3)', () => {
  const getBroker = useBrokerOn(() => server, 'late.example', 'late-broker:');

  it('an approve answered 503 leaves the relationship pending, with no unaudited change', async () => {
    const broker = getBroker();
    const created = await admin(broker, 'POST', '/v1/admin/relationships', {
      trustDomain: 'partner.example',
      url: 'https://127.0.0.1:9/bundle',
      profile: 'https_web',
    });
    expect(created.status).toBe(201);
    // Redis stalls just as the compare-and-set write is sent (a GC pause, a slow fsync, a VM freeze).
    const store = broker.store as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
    const original = store['putRelationship'];
    if (original === undefined) throw new Error('store has no putRelationship');
    store['putRelationship'] = (...args: unknown[]) => {
      store['putRelationship'] = original;
      const written = original(...args);
      server.pause();
      return written;
    };
    let approve: { status: number; body: Record<string, unknown> };
    try {
      approve = await admin(broker, 'POST', '/v1/admin/relationships/partner.example/approve', {});
    } finally {
      store['putRelationship'] = original;
      await resumeAndDrain(server, broker.store);
    }
    expect(approve.status).toBe(503);
    expect((approve.body['error'] as { code: string }).code).toBe('ERR_STORE_UNAVAILABLE');
    const stored = await broker.store.getRelationship('partner.example');
    expect(stored?.value['state']).toBe('pending');
    const types = (await broker.store.listAudit({ limit: 100 })).map((r) => r.type);
    expect(types).not.toContain('relationship.approved');

    const again = await admin(
      broker,
      'POST',
      '/v1/admin/relationships/partner.example/approve',
      {},
    );
    expect(again.status, JSON.stringify(again.body)).toBe(200);
  }, 60_000);
});
