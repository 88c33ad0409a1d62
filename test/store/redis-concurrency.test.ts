// Concurrency against a real redis-server through separate connections: one-time tokens, sequence races,
// leases between replicas and the audit chain under competing appenders.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisStore, type Store } from '../../src/store/index.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { bundleInput, chained, checkChain } from './contract.js';

let server: RedisServer;
const stores: Store[] = [];

async function replicas(count: number, prefix: string): Promise<Store[]> {
  const opened = await Promise.all(
    Array.from({ length: count }, () => createRedisStore({ url: server.url, keyPrefix: prefix })),
  );
  stores.push(...opened);
  return opened;
}

beforeAll(async () => {
  server = await startRedisServer();
});

afterAll(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
  await server.cleanup();
});

describe('redis store under concurrency', () => {
  it('gives one join token to exactly one of 50 consumers on separate connections', async () => {
    const prefix = `c:${randomUUID()}:`;
    const consumers = await replicas(50, prefix);
    const [issuer] = consumers;
    for (let round = 0; round < 5; round++) {
      const hash = `token-${round}`;
      await issuer?.putToken({ hash, expiresAt: 10_000, data: { round } });
      const results = await Promise.all(consumers.map((s) => s.consumeToken(hash, 1_000)));
      const winners = results.filter((r) => r !== undefined);
      expect(winners).toHaveLength(1);
      expect(winners[0]?.data).toEqual({ round });
    }
  });

  it('FED-32: sequence 6 stays when it is written before 5', async () => {
    const [a, b] = await replicas(2, `c:${randomUUID()}:`);
    await a?.putBundle(bundleInput('6'));
    await expect(b?.putBundle(bundleInput('5'))).rejects.toMatchObject({
      code: 'ERR_STORE_STALE_SEQUENCE',
    });
    expect((await a?.getBundle('partner.example'))?.sequence).toBe('6');
  });

  it('FED-32: sequence 6 replaces 5 when it is written after it', async () => {
    const [a, b] = await replicas(2, `c:${randomUUID()}:`);
    await b?.putBundle(bundleInput('5'));
    await a?.putBundle(bundleInput('6'));
    expect((await b?.getBundle('partner.example'))?.sequence).toBe('6');
  });

  it('FED-32: two writers racing 5 and 6 always end with 6; 5 is stale or superseded', async () => {
    const [a, b] = await replicas(2, `c:${randomUUID()}:`);
    if (a === undefined || b === undefined) throw new Error('no replicas');
    let staleCount = 0;
    for (let round = 0; round < 40; round++) {
      const td = `race-${round}.example`;
      // Alternate who starts first so both interleavings get exercised.
      const writes =
        round % 2 === 0
          ? [a.putBundle(bundleInput('5', 'five', td)), b.putBundle(bundleInput('6', 'six', td))]
          : [b.putBundle(bundleInput('6', 'six', td)), a.putBundle(bundleInput('5', 'five', td))];
      const results = await Promise.allSettled(writes);
      for (const result of results) {
        if (result.status === 'rejected') {
          expect(result.reason).toMatchObject({ code: 'ERR_STORE_STALE_SEQUENCE' });
          staleCount++;
        }
      }
      expect((await a.getBundle(td))?.sequence).toBe('6');
      const history = (await b.bundleHistory(td)).map((x) => x.sequence);
      expect([['6'], ['6', '5']]).toContainEqual(history);
    }
    expect(staleCount).toBeGreaterThan(0);
  });

  it('FED-43: two replicas competing for a lease get exactly one holder', async () => {
    const [a, b] = await replicas(2, `c:${randomUUID()}:`);
    if (a === undefined || b === undefined) throw new Error('no replicas');
    for (let round = 0; round < 30; round++) {
      const [gotA, gotB] = await Promise.all([
        a.acquireLock('refresh:partner.example', 'replica-a', 5_000),
        b.acquireLock('refresh:partner.example', 'replica-b', 5_000),
      ]);
      expect(Number(gotA) + Number(gotB)).toBe(1);
      const holder = gotA ? 'replica-a' : 'replica-b';
      expect(await a.lockHolder('refresh:partner.example')).toBe(holder);
      expect(await (gotA ? b : a).releaseLock('refresh:partner.example', 'intruder')).toBe(false);
      expect(await (gotA ? a : b).releaseLock('refresh:partner.example', holder)).toBe(true);
    }
  });

  it('keeps the audit chain intact with appenders on five connections', async () => {
    const writers = await replicas(5, `c:${randomUUID()}:`);
    await Promise.all(
      writers.flatMap((w) => Array.from({ length: 10 }, () => w.appendAudit(chained('event')))),
    );
    const all = await writers[0]?.listAudit({ limit: 1000 });
    expect(all?.map((r) => r.id)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    checkChain(all ?? []);
  });
});
