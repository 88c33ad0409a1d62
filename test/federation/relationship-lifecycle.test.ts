// Relationship lifecycle against a real TLS partner endpoint on 127.0.0.1: pending, rejected and
// suspended relationships never fetched nor trusted (FED-3); deletion incl. races with an in-flight
// fetch and with the bundle write (FED-60).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createScheduler } from '../../src/federation/index.js';
import { createFileStore, type Store } from '../../src/store/index.js';
import {
  createHarness,
  serve,
  startEndpointServer,
  trustedDigest,
  type Harness,
} from './support.js';
import {
  BOTH,
  TD,
  goodIdentity,
  harness,
  partner,
  partnerSvidTrusted,
  relationshipInput,
  useHostileWorld,
  webIdentity,
} from './hostile-fixture.js';

useHostileWorld();

/** The scheduler of a broker running alone (one replica). */
function singleScheduler(h: Harness) {
  return createScheduler({
    federation: h.federation,
    locks: h.store,
    now: h.nowMs,
    logger: h.logger,
    replicaId: 'r1',
  });
}

describe('relationship lifecycle and fetching (FED-3, FED-60)', () => {
  it.each(BOTH)(
    'FED-3: a pending %s relationship is never fetched and never trusted',
    async (profile) => {
      const h = await harness();
      const counter = await startEndpointServer(
        goodIdentity(profile),
        serve(partner.bundleJson(5)),
      );
      try {
        await h.federation.create(relationshipInput(profile, `${counter.origin}/bundle`), {
          actor: 'admin:test',
        });
        expect((await h.federation.get(TD)).relationship.state).toBe('pending');
        const scheduler = singleScheduler(h);
        expect(await h.federation.due(h.nowMs())).toEqual([]);
        expect(await scheduler.tick()).toEqual([]);
        h.advance(2 * 3600_000);
        expect(await scheduler.tick()).toEqual([]);
        await expect(h.federation.refresh(TD)).rejects.toMatchObject({
          code: 'ERR_FEDERATION_TRANSITION',
        });
        expect(await h.federation.refreshOnUnknownKey(TD)).toBe(false);
        expect(counter.requests).toBe(0);
        // Not trusted, not even the https_spiffe bootstrap bundle (it is seeded on approval only).
        expect(trustedDigest(h.federation, TD)).toBeUndefined();
        expect(h.federation.trustedBundles().size).toBe(0);
        expect(h.federation.trustedBundles([TD]).size).toBe(0);
        expect(partnerSvidTrusted(h)).toBe(false);
        expect(await h.store.getBundle(TD)).toBeUndefined();

        // Rejected: the same.
        await h.federation.transition(TD, 'reject', { actor: 'admin:test' });
        h.advance(2 * 3600_000);
        expect(await scheduler.tick()).toEqual([]);
        expect(counter.requests).toBe(0);
        expect(h.federation.trustedBundles().size).toBe(0);
      } finally {
        await counter.close();
      }
    },
  );

  it('FED-3: a suspended relationship is not fetched and not trusted until resumed', async () => {
    const h = await harness();
    const counter = await startEndpointServer(webIdentity, serve(partner.bundleJson(5)));
    try {
      await h.approved(relationshipInput('https_web', `${counter.origin}/bundle`));
      const scheduler = singleScheduler(h);
      expect(await scheduler.tick()).toEqual([TD]);
      expect(counter.requests).toBe(1);
      expect(partnerSvidTrusted(h)).toBe(true);

      await h.federation.transition(TD, 'suspend', { actor: 'admin:test' });
      expect(h.federation.trustedBundles().size).toBe(0);
      expect(partnerSvidTrusted(h)).toBe(false);
      h.advance(2 * 3600_000);
      expect(await h.federation.due(h.nowMs())).toEqual([]);
      expect(await scheduler.tick()).toEqual([]);
      await expect(h.federation.refresh(TD)).rejects.toMatchObject({
        code: 'ERR_FEDERATION_TRANSITION',
      });
      expect(counter.requests).toBe(1);

      await h.federation.transition(TD, 'resume', { actor: 'admin:test' });
      expect(partnerSvidTrusted(h)).toBe(true);
      expect(await scheduler.tick()).toEqual([TD]);
      expect(counter.requests).toBe(2);
    } finally {
      await counter.close();
    }
  });

  it('FED-60: deleting a relationship removes its bundle, status and trust, and stops polling', async () => {
    const h = await harness();
    const counter = await startEndpointServer(webIdentity, serve(partner.bundleJson(5)));
    try {
      await h.approved(relationshipInput('https_web', `${counter.origin}/bundle`));
      expect((await h.federation.refresh(TD)).error).toBeUndefined();
      expect(await h.store.getBundle(TD)).toBeDefined();
      expect(partnerSvidTrusted(h)).toBe(true);
      let changes = 0;
      h.federation.onChange(() => (changes += 1));

      await h.federation.delete(TD, { actor: 'admin:test' });

      expect(await h.store.getBundle(TD)).toBeUndefined();
      expect(await h.store.bundleHistory(TD)).toEqual([]);
      expect(await h.store.getRefreshStatus(TD)).toBeUndefined();
      expect(h.federation.trustedBundles().size).toBe(0);
      expect(partnerSvidTrusted(h)).toBe(false);
      expect(changes).toBeGreaterThanOrEqual(1);
      expect(h.audit.some((e) => e.type === 'relationship.deleted')).toBe(true);
      const scheduler = singleScheduler(h);
      h.advance(2 * 3600_000);
      expect(await scheduler.tick()).toEqual([]);
      expect(counter.requests).toBe(1);
      await expect(h.federation.refresh(TD)).rejects.toMatchObject({
        code: 'ERR_FEDERATION_RELATIONSHIP_NOT_FOUND',
      });
    } finally {
      await counter.close();
    }
  });

  it('FED-60: a relationship deleted while its fetch is in flight leaves no bundle or status behind', async () => {
    const h = await harness();
    const counter = await startEndpointServer(webIdentity);
    try {
      await h.approved(relationshipInput('https_web', `${counter.origin}/bundle`));
      const body = partner.bundleJson(5);
      // The partner answers only after the operator has deleted the relationship.
      counter.handler = (_req, res) => {
        void h.federation.delete(TD, { actor: 'admin:test' }).then(() => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(body);
        });
      };
      const outcome = await h.federation.refresh(TD);
      expect(counter.requests).toBe(1);
      expect(outcome.ok).toBe(false);
      expect(outcome.error?.code).toBe('ERR_FEDERATION_RELATIONSHIP_NOT_FOUND');
      expect(await h.store.getRelationship(TD)).toBeUndefined();
      expect(await h.store.getBundle(TD)).toBeUndefined();
      expect(await h.store.getRefreshStatus(TD)).toBeUndefined();
      expect(h.federation.trustedBundles().size).toBe(0);

      // Re-establishing starts from scratch (FED-60): nothing stale is trusted on approval.
      counter.handler = serve(partner.bundleJson(6));
      await h.approved(relationshipInput('https_web', `${counter.origin}/bundle`));
      expect(h.federation.trustedBundles().size).toBe(0);
      const view = await h.federation.get(TD);
      expect(view.status.lastSuccessAtMs).toBeNull();
      expect((await h.federation.refresh(TD)).error).toBeUndefined();
      expect((await h.store.getBundle(TD))?.sequence).toBe('6');
    } finally {
      await counter.close();
    }
  });
});

describe('FED-60: deletion racing the write of a fetched bundle', () => {
  it('FED-60: a relationship deleted while its fetched bundle is being stored leaves nothing behind', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fedbroker-fed-race-'));
    const real = await createFileStore({ dir });
    let onPut: (() => Promise<void>) | undefined;
    // The real store, with the operator's delete landing just before the bundle write.
    const racing: Store = {
      ...real,
      putBundle: async (input, putOptions) => {
        const hook = onPut;
        onPut = undefined;
        await hook?.();
        return real.putBundle(input, putOptions);
      },
    };
    const h = await createHarness({ store: racing });
    const counter = await startEndpointServer(webIdentity, serve(partner.bundleJson(5)));
    try {
      await h.approved(relationshipInput('https_web', `${counter.origin}/bundle`));
      onPut = () => h.federation.delete(TD, { actor: 'admin:test' });
      const outcome = await h.federation.refresh(TD);
      expect(counter.requests).toBe(1);
      expect(onPut).toBeUndefined();
      expect(outcome.ok).toBe(false);
      expect(outcome.error?.code).toBe('ERR_FEDERATION_RELATIONSHIP_NOT_FOUND');
      expect(await real.getRelationship(TD)).toBeUndefined();
      expect(await real.getBundle(TD)).toBeUndefined();
      expect(await real.getRefreshStatus(TD)).toBeUndefined();
      expect(h.federation.trustedBundles().size).toBe(0);
    } finally {
      await counter.close();
      await h.close();
      await real.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
