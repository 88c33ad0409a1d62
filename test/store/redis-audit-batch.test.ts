// Review 12 F4 on a real redis-server: audit appends of one replica go to Redis in group commits
// instead of racing each other (1000 at once had ~270 answered 503 and cost ~310k Redis commands);
// appends of different replicas still compete safely through the script's last-id check.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  chainTrimmedEvent,
  createAuditRecorder,
  verifyStoredAudit,
} from '../../src/audit/index.js';
import { createRedisStore, type Store } from '../../src/store/index.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { chained, checkChain, rejection } from './contract.js';

let server: RedisServer;
let probe: Redis;
const stores: Store[] = [];

beforeAll(async () => {
  server = await startRedisServer();
  probe = new Redis(server.url);
});

afterAll(async () => {
  probe.disconnect();
  await Promise.all(stores.splice(0).map((s) => s.close()));
  await server.cleanup();
});

async function open(prefix: string, auditMaxLength?: number): Promise<Store> {
  const store = await createRedisStore(
    {
      url: server.url,
      keyPrefix: prefix,
      ...(auditMaxLength === undefined ? {} : { auditMaxLength }),
    },
    auditMaxLength === undefined ? {} : { auditTrimmed: chainTrimmedEvent },
  );
  stores.push(store);
  return store;
}

async function commandsProcessed(): Promise<number> {
  const stats = await probe.info('stats');
  return Number(/total_commands_processed:(\d+)/.exec(stats)?.[1]);
}

describe('audit appends of one redis store (review 12 F4)', () => {
  it('1000 concurrent appends on one store all succeed, in one chain, with a few Redis commands each', async () => {
    const store = await open('batch-a:');
    await store.appendAudit(chained('warm'));
    const before = await commandsProcessed();
    const results = await Promise.allSettled(
      Array.from({ length: 1000 }, () => store.appendAudit(chained('svid.issued'))),
    );
    const commands = (await commandsProcessed()) - before;
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    const records = await store.listAudit({ limit: 2000 });
    expect(records).toHaveLength(1001);
    checkChain(records);
    // Before: about 310 commands per append (optimistic retries), now one XADD each plus a few per batch.
    expect(commands).toBeLessThan(3 * 1000);
  });

  it('appends of one store take ids in the order asked; a builder that throws fails its own append only', async () => {
    const store = await open('batch-b:');
    const failing = store.appendAudit(() => {
      throw new TypeError('builder refused');
    });
    const others = Array.from({ length: 5 }, () => store.appendAudit(chained('entry.created')));
    const error = await rejection(failing);
    expect(error).toBeInstanceOf(TypeError);
    expect((await Promise.all(others)).map((r) => r.id)).toEqual([1, 2, 3, 4, 5]);
    checkChain(await store.listAudit({ limit: 10 }));
  });

  it('two replicas appending at once past a small cap: all succeed and the trimmed chain verifies', async () => {
    const [a, b] = [await open('batch-c:', 25), await open('batch-c:', 25)];
    if (a === undefined || b === undefined) throw new Error('stores not opened');
    const record = (store: Store) => createAuditRecorder({ store, now: Date.now });
    const results = await Promise.allSettled(
      [a, b].flatMap((store) =>
        Array.from({ length: 200 }, (_, i) =>
          record(store)({ type: 'svid.issued', actor: `${i}` }),
        ),
      ),
    );
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    const kept = await a.listAudit({ limit: 1000 });
    expect(kept.length).toBeLessThanOrEqual(25);
    const verified = await verifyStoredAudit((fromId, limit) => a.readStoredAudit(fromId, limit));
    expect(verified.ok).toBe(true);
    expect(verified.trimmed?.events).toBeGreaterThan(0);
    expect(kept.at(-1)?.id).toBeGreaterThanOrEqual(400);
  });
});
