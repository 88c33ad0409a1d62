// Issue 15, finding 13: a hostile partner endpoint over real TLS serves sequence 30, then a bundle
// without spiffe_sequence, then sequence 1. The stricter FED-32 reading keeps the highest sequence
// ever accepted, so the rollback is refused with ERR_FEDERATION_BUNDLE_STALE, after a restart (file
// store reopened) and on another replica (a second service on the same redis-server) as well.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleDigest } from '../../src/bundle/index.js';
import type { RelationshipInput } from '../../src/federation/index.js';
import { createFileStore, createRedisStore, type Store } from '../../src/store/index.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import {
  createHarness,
  createPartnerPki,
  identityOf,
  serve,
  startEndpointServer,
  trustedDigest,
  type EndpointServer,
  type Harness,
  type PartnerPki,
} from './support.js';

const TD = 'partner.test';

/** The partner's bundle with `spiffe_sequence` removed (FED-32: "without a sequence number"). */
function sequenceLess(partner: PartnerPki): string {
  const doc = JSON.parse(partner.bundleJson(0)) as Record<string, unknown>;
  delete doc['spiffe_sequence'];
  return JSON.stringify(doc);
}

describe('FED-32 (stricter reading): no rollback through a sequence-less bundle', () => {
  let partner: PartnerPki;
  let server: EndpointServer;
  let redis: RedisServer;
  let dir: string;
  const cleanups: (() => Promise<void>)[] = [];

  const relationship = (): RelationshipInput => ({
    trustDomain: TD,
    url: `${server.origin}/bundle`,
    profile: 'https_spiffe',
    endpointSpiffeId: partner.endpointId,
    bootstrapBundle: partner.bundleJson(1),
  });

  beforeAll(async () => {
    partner = await createPartnerPki(TD);
    server = await startEndpointServer(identityOf(partner.endpointSvid));
    redis = await startRedisServer();
    dir = await mkdtemp(join(tmpdir(), 'fedbroker-watermark-'));
  });
  afterAll(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    await server.close();
    await redis?.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  async function harnessOn(store: Store): Promise<Harness> {
    const h = await createHarness({ store });
    cleanups.push(() => h.close());
    return h;
  }

  /** 30, then sequence-less: both accepted; returns the digest of the sequence-less bundle. */
  async function thirtyThenSequenceLess(h: Harness): Promise<string> {
    await h.approved(relationship());
    server.handler = serve(partner.bundleJson(30));
    expect((await h.federation.refresh(TD)).error).toBeUndefined();
    expect((await h.store.getBundle(TD))?.sequence).toBe('30');
    const plain = sequenceLess(partner);
    server.handler = serve(plain);
    expect((await h.federation.refresh(TD)).error).toBeUndefined();
    const stored = await h.store.getBundle(TD);
    expect(stored?.sequence).toBeNull();
    expect(stored?.highestSequence).toBe('30');
    return bundleDigest(plain);
  }

  async function expectRollbackRefused(h: Harness, keptDigest: string): Promise<void> {
    server.handler = serve(partner.bundleJson(1));
    const outcome = await h.federation.refresh(TD);
    expect(outcome.error?.code).toBe('ERR_FEDERATION_BUNDLE_STALE');
    expect((await h.store.getBundle(TD))?.digest).toBe(keptDigest);
  }

  it('FED-32: 30, then no sequence, then 1 is refused as a rollback (file store, and after a restart)', async () => {
    const storeDir = join(dir, 'store');
    const first = await createFileStore({ dir: storeDir });
    const h = await harnessOn(first);
    const kept = await thirtyThenSequenceLess(h);
    await expectRollbackRefused(h, kept);
    expect(trustedDigest(h.federation, TD)).toBe(kept);
    // A higher one is still accepted.
    server.handler = serve(partner.bundleJson(31));
    expect((await h.federation.refresh(TD)).error).toBeUndefined();
    // Back to sequence-less, then restart: the highest sequence (31) is on disk.
    server.handler = serve(sequenceLess(partner));
    expect((await h.federation.refresh(TD)).error).toBeUndefined();
    await first.close();

    const reopened = await createFileStore({ dir: storeDir });
    cleanups.push(() => reopened.close());
    const after = await harnessOn(reopened);
    expect((await reopened.getBundle(TD))?.highestSequence).toBe('31');
    await expectRollbackRefused(after, bundleDigest(sequenceLess(partner)));
  });

  it('FED-32: the rollback is refused on another replica sharing the redis store', async () => {
    const [storeA, storeB] = await Promise.all(
      [1, 2].map(() => createRedisStore({ url: redis.url, keyPrefix: 'watermark:' })),
    );
    cleanups.push(
      () => (storeA as Store).close(),
      () => (storeB as Store).close(),
    );
    const a = await harnessOn(storeA as Store);
    const b = await harnessOn(storeB as Store);
    const kept = await thirtyThenSequenceLess(a);
    // Replica B fetches the rolled-back bundle: the shared record refuses it.
    await expectRollbackRefused(b, kept);
  });

  it('FED-33: an operator can still force the lower bundle (the highest sequence restarts)', async () => {
    const store = await createFileStore({ dir: join(dir, 'forced') });
    cleanups.push(() => store.close());
    const h = await harnessOn(store);
    await thirtyThenSequenceLess(h);
    const forced = await h.federation.forceBundle(TD, partner.bundleJson(1), {
      actor: 'admin:test',
      reason: 'partner reset its sequence',
    });
    expect(forced.stored.highestSequence).toBe('1');
    server.handler = serve(partner.bundleJson(2));
    expect((await h.federation.refresh(TD)).error).toBeUndefined();
  });
});
