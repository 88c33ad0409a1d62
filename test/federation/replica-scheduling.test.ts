// Two federation services with schedulers on one redis-server, partners over real TLS on 127.0.0.1
// (FED-43): each partner fetched once per round whichever replica does it, and a stale due list
// fetches nothing.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createScheduler } from '../../src/federation/index.js';
import { createRedisStore, type Store } from '../../src/store/index.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import {
  createHarness,
  createPartnerPki,
  startEndpointServer,
  trustedDigest,
  type Harness,
  type PartnerPki,
} from './support.js';
import { harnesses, useHostileWorld, web, webIdentity } from './hostile-fixture.js';

useHostileWorld();

/** Approves one https_web relationship per partner, its bundle at `${origin}/<trust domain>`. */
async function approveAll(h: Harness, pkis: readonly PartnerPki[], origin: string): Promise<void> {
  for (const p of pkis) {
    await h.approved({
      trustDomain: p.trustDomain,
      url: `${origin}/${p.trustDomain}`,
      profile: 'https_web',
      caPem: web.caPem,
    });
  }
}

describe('FED-43: two federation services with schedulers on one redis-server', () => {
  let redis: RedisServer;
  const stores: Store[] = [];

  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterAll(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
    await redis?.cleanup();
  });

  /** Two replicas: a harness each, on its own connection to the redis-server, one clock for both. */
  async function twoReplicas(keyPrefix: string) {
    const clock = { ms: Date.now() };
    const opened = await Promise.all(
      [1, 2].map(() => createRedisStore({ url: redis.url, keyPrefix })),
    );
    stores.push(...opened);
    const [storeA, storeB] = opened as [Store, Store];
    const a = await createHarness({ store: storeA, clock });
    const b = await createHarness({ store: storeB, clock });
    harnesses.push(a, b);
    return { clock, storeB, a, b };
  }

  it('FED-43: each partner is fetched exactly once per round, whichever replica does it', async () => {
    const PARTNERS = 24;
    const { clock, storeB, a, b } = await twoReplicas('fed43:');
    // Both replicas run as main.ts runs them: subscribed to the store's change notifications.
    const running = new AbortController();
    await a.federation.start(running.signal);
    await b.federation.start(running.signal);
    const shared = await startEndpointServer(webIdentity);
    try {
      const pkis = await Promise.all(
        Array.from({ length: PARTNERS }, (_, i) => createPartnerPki(`p${i}.test`)),
      );
      const bodies = new Map(pkis.map((p) => [`/${p.trustDomain}`, p.bundleJson(1)]));
      shared.handler = (req, res) => {
        const body = bodies.get(new URL(req.url ?? '/', 'https://x').pathname);
        res.writeHead(body === undefined ? 404 : 200, { 'content-type': 'application/json' });
        res.end(body ?? '');
      };
      // Relationships are created through replica A; replica B sees them through the shared store.
      await approveAll(a, pkis, shared.origin);
      const schedulerOf = (h: Harness, replicaId: string) =>
        createScheduler(
          { federation: h.federation, locks: h.store, now: h.nowMs, logger: h.logger, replicaId },
          { maxConcurrent: 4 },
        );
      const schedulers = [schedulerOf(a, 'replica-a'), schedulerOf(b, 'replica-b')];
      const paths = [...bodies.keys()].sort();

      for (let round = 1; round <= 2; round++) {
        const done = await Promise.all(schedulers.map((s) => s.tick()));
        // Every partner was fetched exactly `round` times in total, by one replica or the other.
        expect(paths.map((path) => shared.byPath.get(path) ?? 0)).toEqual(paths.map(() => round));
        expect(shared.requests).toBe(round * PARTNERS);
        expect([...done[0]!, ...done[1]!].sort()).toEqual(pkis.map((p) => p.trustDomain).sort());
        // FED-34: what a replica fetched itself is in its trust view as soon as its tick resolves,
        // even with refreshes running concurrently (no update of the trust view is lost).
        for (const [index, h] of [a, b].entries()) {
          for (const td of done[index]!) {
            expect(trustedDigest(h.federation, td), td).toBe((await h.store.getBundle(td))?.digest);
          }
        }
        // Nothing is due again until the next interval (FED-40: 300 s hint, ±10% jitter).
        expect(await a.federation.due(clock.ms)).toEqual([]);
        expect(await b.federation.due(clock.ms)).toEqual([]);
        for (const p of pkis) bodies.set(`/${p.trustDomain}`, p.bundleJson(round + 1));
        clock.ms += 400_000;
      }
      // Both replicas end up trusting every partner, whichever replica fetched it (the other learns
      // through the store's notifications, so wait for them to arrive).
      await vi.waitFor(
        () => {
          expect(a.federation.trustedBundles().size).toBe(PARTNERS);
          expect(b.federation.trustedBundles().size).toBe(PARTNERS);
        },
        { timeout: 10_000, interval: 20 },
      );
      for (const p of pkis) {
        expect((await storeB.getBundle(p.trustDomain))?.sequence).toBe('2');
      }
    } finally {
      running.abort();
      await shared.close();
    }
  });

  it('FED-43: a replica whose due list went stale while the other replica refreshed fetches nothing', async () => {
    const PARTNERS = 6;
    const { a, b } = await twoReplicas('fed43-stale:');
    const pkis = await Promise.all(
      Array.from({ length: PARTNERS }, (_, i) => createPartnerPki(`s${i}.test`)),
    );
    const shared = await startEndpointServer(webIdentity, (req, res) => {
      const td = new URL(req.url ?? '/', 'https://x').pathname.slice(1);
      const p = pkis.find((x) => x.trustDomain === td);
      res.writeHead(p === undefined ? 404 : 200, { 'content-type': 'application/json' });
      res.end(p?.bundleJson(1) ?? '');
    });
    try {
      await approveAll(a, pkis, shared.origin);
      const deps = (h: Harness, replicaId: string) => ({
        locks: h.store,
        now: h.nowMs,
        logger: h.logger,
        replicaId,
      });
      const schedulerA = createScheduler({ federation: a.federation, ...deps(a, 'replica-a') });
      // Replica B reads its due list, then replica A runs a whole round before B goes on: the
      // interleaving a slow tick on B meets in production.
      let ranA: string[] = [];
      const schedulerB = createScheduler({
        federation: {
          refresh: (td, context) => b.federation.refresh(td, context),
          isDue: (td, ms) => b.federation.isDue(td, ms),
          due: async (ms) => {
            const due = await b.federation.due(ms);
            ranA = await schedulerA.tick();
            return due;
          },
        },
        ...deps(b, 'replica-b'),
      });
      const ranB = await schedulerB.tick();
      expect(ranA).toHaveLength(PARTNERS);
      expect(ranB).toEqual([]);
      expect(shared.requests).toBe(PARTNERS);
      for (const p of pkis) expect(shared.byPath.get(`/${p.trustDomain}`)).toBe(1);
    } finally {
      await shared.close();
    }
  });
});
