// The trust view follows the stored partner bundle even when a step after the store write fails or a
// notification between replicas is lost (FED-31, FED-34), and a refresh in flight while an admin
// changes the relationship keeps nothing it fetched under the old settings (FED-3, FED-24). Real TLS
// on 127.0.0.1, the embedded file store, and a real redis-server for the two-replica cases.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { bundleDigest } from '../../src/bundle/index.js';
import type { AuditSink } from '../../src/federation/index.js';
import { createFileStore, createRedisStore, type Store } from '../../src/store/index.js';
import { verifyX509Svid } from '../../src/svid/index.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import {
  harnesses,
  other,
  partner,
  server,
  TD,
  useHostileWorld,
  web,
  webIdentity,
} from './hostile-fixture.js';
import {
  createHarness,
  serve,
  startEndpointServer,
  trustedDigest,
  type EndpointServer,
  type Handler,
  type Harness,
} from './support.js';

useHostileWorld();

const FIVE_MINUTES = 301_000;

/** Whether a leaf that `other`'s CA signed for the partner's trust domain verifies against `h`'s view. */
async function rogueVerifier(h: Harness): Promise<() => boolean> {
  const rogue = Buffer.from((await other.leaf({ spiffeIds: [`spiffe://${TD}/payments`] })).der);
  return () => {
    try {
      verifyX509Svid([rogue], h.federation, { now: new Date(h.nowMs()) });
      return true;
    } catch {
      return false;
    }
  };
}

/** An approved https_web partner whose bundle (sequence 5) also holds `other`'s CA, fetched once. */
async function partnerWithExtraCa(h: Harness): Promise<void> {
  await h.approved({
    trustDomain: TD,
    url: `${server.origin}/b`,
    profile: 'https_web',
    caPem: web.caPem,
  });
  server.handler = serve(partner.bundleJson(5, [other.ca]));
  expect((await h.federation.refresh(TD)).ok).toBe(true);
}

describe('FED-31, FED-34: the trust view follows the stored partner bundle', () => {
  it('FED-31: a bundle.changed event that cannot be written does not keep a removed CA trusted', async () => {
    let failChanged = false;
    const audit: AuditSink = async (event) => {
      if (event.type === 'bundle.changed' && failChanged) {
        failChanged = false;
        throw new Error('audit log unavailable');
      }
    };
    const h = await createHarness({ audit });
    harnesses.push(h);
    await partnerWithExtraCa(h);
    const trusted = await rogueVerifier(h);
    expect(trusted()).toBe(true);

    // The partner removes `other`'s CA (FED-31); the audit write of that change fails.
    server.handler = serve(partner.bundleJson(6));
    failChanged = true;
    const outcome = await h.federation.refresh(TD);
    expect(outcome.ok).toBe(false);
    const stored = await h.store.getBundle(TD);
    expect(stored?.sequence).toBe('6');
    expect(trustedDigest(h.federation, TD)).toBe(bundleDigest(partner.bundleJson(6)));
    expect(trusted()).toBe(false);
  });

  it('FED-34: a view left behind by a failed reload is repaired by the next refresh, though the bundle is unchanged', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fed-view-'));
    const clock = { ms: Date.now() };
    const fileStore = await createFileStore({ dir }, { now: () => clock.ms });
    // Fails the next bundle read: the trust view's reload after the store write (https_web reads
    // the partner's bundle nowhere else during a refresh).
    let failNextRead = false;
    const store: Store = new Proxy(fileStore, {
      get(target, key, receiver) {
        if (key === 'getBundle') {
          return async (trustDomain: string) => {
            if (failNextRead) {
              failNextRead = false;
              throw new Error('store read failed');
            }
            return target.getBundle(trustDomain);
          };
        }
        if (key === 'close') {
          return async () => {
            await target.close();
            await rm(dir, { recursive: true, force: true });
          };
        }
        const value: unknown = Reflect.get(target, key, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const h = await createHarness({ store, clock });
    harnesses.push(h);
    await partnerWithExtraCa(h);
    const trusted = await rogueVerifier(h);

    server.handler = serve(partner.bundleJson(6));
    failNextRead = true;
    const failed = await h.federation.refresh(TD);
    expect(failed.ok).toBe(false);
    expect((await h.store.getBundle(TD))?.sequence).toBe('6');
    expect(trusted()).toBe(true); // the view is behind the store

    h.advance(FIVE_MINUTES);
    const next = await h.federation.refresh(TD);
    expect(next.ok).toBe(true);
    expect(next.update?.outcome).toBe('unchanged');
    expect(trustedDigest(h.federation, TD)).toBe(bundleDigest(partner.bundleJson(6)));
    expect(trusted()).toBe(false);
    expect(h.logs.map((l) => l.message)).toContain(
      'trust view was behind the stored partner bundle; reloaded',
    );
    await store.close();
  });
});

describe('FED-34: two replicas on one redis-server, a change notification lost', () => {
  let redis: RedisServer;
  const stores: Store[] = [];
  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterAll(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
    await redis?.cleanup();
  });

  /** Replica A drops what it publishes (a lost pub/sub message); B reloads every `reloadMs`. */
  async function replicas(keyPrefix: string, reloadMs?: number) {
    const clock = { ms: Date.now() };
    const [storeA, storeB] = (await Promise.all(
      [1, 2].map(() => createRedisStore({ url: redis.url, keyPrefix })),
    )) as [Store, Store];
    stores.push(storeA, storeB);
    let dropPublished = false;
    const lossy: Store = new Proxy(storeA, {
      get(target, key, receiver) {
        if (key === 'publish' && dropPublished) return async () => undefined;
        const value: unknown = Reflect.get(target, key, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const a = await createHarness({ store: lossy, clock });
    const b = await createHarness({
      store: storeB,
      clock,
      ...(reloadMs === undefined ? {} : { reloadIntervalMs: reloadMs }),
    });
    harnesses.push(a, b);
    const stop = new AbortController();
    await a.federation.start(stop.signal);
    await b.federation.start(stop.signal);
    return { a, b, stop, loseMessages: () => (dropPublished = true) };
  }

  it('FED-34: the replica that missed the message drops the removed CA at its next periodic reload', async () => {
    const { a, b, stop, loseMessages } = await replicas('fed34-reload:', 200);
    try {
      await partnerWithExtraCa(a);
      await vi.waitFor(() =>
        expect(trustedDigest(b.federation, TD)).toBe(trustedDigest(a.federation, TD)),
      );
      const trustedByB = await rogueVerifier(b);
      expect(trustedByB()).toBe(true);

      loseMessages();
      server.handler = serve(partner.bundleJson(6));
      expect((await a.federation.refresh(TD)).update?.outcome).toBe('replaced');
      await vi.waitFor(() => expect(trustedByB()).toBe(false), { timeout: 5_000 });
      expect(trustedDigest(b.federation, TD)).toBe(bundleDigest(partner.bundleJson(6)));
    } finally {
      stop.abort();
    }
  });

  it('FED-60: the replica that missed a deletion stops trusting the partner at its next periodic reload', async () => {
    const { a, b, stop, loseMessages } = await replicas('fed60-reload:', 200);
    try {
      await partnerWithExtraCa(a);
      await vi.waitFor(() => expect(b.federation.trustedBundles().size).toBe(1));
      loseMessages();
      await a.federation.delete(TD, { actor: 'admin:test' });
      expect(await b.store.getRelationship(TD)).toBeUndefined();
      await vi.waitFor(() => expect(trustedDigest(b.federation, TD)).toBeUndefined(), {
        timeout: 5_000,
      });
      expect(b.federation.trustedBundles().size).toBe(0);
    } finally {
      stop.abort();
    }
  });

  it('FED-34: without the periodic reload, the replica repairs its view at its own next refresh', async () => {
    const { a, b, stop, loseMessages } = await replicas('fed34-refresh:');
    try {
      await partnerWithExtraCa(a);
      await vi.waitFor(() =>
        expect(trustedDigest(b.federation, TD)).toBe(trustedDigest(a.federation, TD)),
      );
      const trustedByB = await rogueVerifier(b);

      loseMessages();
      server.handler = serve(partner.bundleJson(6));
      expect((await a.federation.refresh(TD)).update?.outcome).toBe('replaced');
      expect(trustedByB()).toBe(true); // B missed the message (its periodic reload is 30 s away)

      b.advance(FIVE_MINUTES);
      const own = await b.federation.refresh(TD);
      expect(own.update?.outcome).toBe('unchanged');
      expect(trustedByB()).toBe(false);
    } finally {
      stop.abort();
    }
  });
});

describe('FED-3, FED-24: a relationship changed while its bundle is being fetched', () => {
  let newEndpoint: EndpointServer;
  beforeAll(async () => {
    newEndpoint = await startEndpointServer(webIdentity);
  });
  afterAll(async () => {
    await newEndpoint?.close();
  });

  it('FED-3: the bundle fetched from the old URL is discarded and the new URL is fetched at once', async () => {
    const h = await createHarness();
    harnesses.push(h);
    await h.approved({
      trustDomain: TD,
      url: `${server.origin}/b`,
      profile: 'https_web',
      caPem: web.caPem,
    });
    server.handler = serve(partner.bundleJson(5));
    expect((await h.federation.refresh(TD)).ok).toBe(true);

    // The old endpoint (the admin is moving off it) answers only after the change.
    const fromOld = partner.bundleJson(9, [other.ca]);
    let release: (() => void) | undefined;
    const reached = new Promise<void>((resolve) => {
      server.handler = ((_req, res) => {
        release = () => res.writeHead(200, { 'content-type': 'application/json' }).end(fromOld);
        resolve();
      }) as Handler;
    });
    newEndpoint.handler = serve(partner.bundleJson(7));
    h.advance(FIVE_MINUTES);
    const inFlight = h.federation.refresh(TD);
    await reached;
    await h.federation.update(TD, { url: `${newEndpoint.origin}/b` }, { actor: 'admin:test' });
    release?.();
    const outcome = await inFlight;

    expect(outcome.ok).toBe(false);
    expect(outcome.error?.code).toBe('ERR_FEDERATION_RELATIONSHIP_CHANGED');
    expect((await h.store.getBundle(TD))?.sequence).toBe('5');
    expect(trustedDigest(h.federation, TD)).toBe(bundleDigest(partner.bundleJson(5)));
    // The change's "fetch now" stands: due at once, from the new URL.
    expect(await h.federation.due(h.nowMs())).toEqual([TD]);
    const next = await h.federation.refresh(TD);
    expect(next.ok).toBe(true);
    expect(next.log?.url).toBe(`${newEndpoint.origin}/b`);
    expect((await h.store.getBundle(TD))?.sequence).toBe('7');
    expect(h.audit.filter((e) => e.type === 'bundle.refused')).toEqual([]);
  });
});
