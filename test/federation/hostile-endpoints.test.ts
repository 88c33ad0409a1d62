// Hostile partner bundle endpoints over real TLS on 127.0.0.1 (FED-21..27, FED-32, BUNDLE-7/14/28). Each case
// first gives the relationship a good bundle, turns the endpoint hostile and refreshes: the last good bundle
// stays trusted and stored (same digest, FED-41), the status records the exact error code, and a later good
// refresh succeeds. Also: wrong trust domain content (FED-26), empty bundles (FED-35), pending/suspended
// relationships never fetched (FED-3), deletion incl. races (FED-60), two schedulers on one Redis fetching
// each partner once per round (FED-43), and rollback + force through a running broker's admin API.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { bundleDigest } from '../../src/bundle/index.js';
import type { ErrorCode } from '../../src/errors.js';
import {
  MAX_REDIRECTS,
  createScheduler,
  type Profile,
  type RefreshOutcome,
  type RelationshipInput,
} from '../../src/federation/index.js';
import { createFileStore, createRedisStore, type Store } from '../../src/store/index.js';
import { verifyX509Svid } from '../../src/svid/index.js';
import { admin, startTestBroker } from '../helpers/broker.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import {
  createPartnerPki,
  createWebRoot,
  endlessSlowBody,
  hugeBody,
  identityOf,
  neverAnswer,
  redirect,
  serve,
  startEndpointServer,
  startPlainHttpServer,
  status,
  trustedDigest,
  createHarness,
  type EndpointServer,
  type Harness,
  type PartnerPki,
  type TlsIdentity,
  type WebRoot,
} from './support.js';

const TD = 'partner.test';
const DAY_MS = 86_400_000;
const MIB = 1024 * 1024;

let partner: PartnerPki;
let other: PartnerPki;
let web: WebRoot;
let webIdentity: TlsIdentity;
let server: EndpointServer;
let plain: Awaited<ReturnType<typeof startPlainHttpServer>>;
const live = new Set<() => void>();
const harnesses: Harness[] = [];

beforeAll(async () => {
  partner = await createPartnerPki(TD);
  other = await createPartnerPki('other.test');
  web = await createWebRoot();
  webIdentity = await web.serverIdentity();
  server = await startEndpointServer(webIdentity);
  plain = await startPlainHttpServer();
});

afterEach(async () => {
  for (const stop of [...live]) stop();
  await Promise.all(harnesses.splice(0).map((h) => h.close()));
});

afterAll(async () => {
  await server?.close();
  await plain?.close();
});

function goodIdentity(profile: Profile): TlsIdentity {
  return profile === 'https_web' ? webIdentity : identityOf(partner.endpointSvid);
}

function relationshipInput(profile: Profile, url = `${server.origin}/bundle`): RelationshipInput {
  return profile === 'https_web'
    ? { trustDomain: TD, url, profile, caPem: web.caPem }
    : {
        trustDomain: TD,
        url,
        profile,
        endpointSpiffeId: partner.endpointId,
        bootstrapBundle: partner.bundleJson(1),
      };
}

/** Fetch limits the test can change between refreshes (the service reads them on every refresh). */
interface MutableFetchOptions {
  totalTimeoutMs: number;
  connectTimeoutMs: number;
}

async function harness(fetchOptions?: MutableFetchOptions): Promise<Harness> {
  const h = await createHarness({
    fetchOptions: fetchOptions ?? { totalTimeoutMs: 10_000, connectTimeoutMs: 5_000 },
  });
  harnesses.push(h);
  return h;
}

/** The partner's workload SVID verifies through the federation's trust view (what agents get). */
function partnerSvidTrusted(h: Harness): boolean {
  try {
    verifyX509Svid([partner.workloadSvid.der], h.federation, { now: new Date(h.nowMs()) });
    return true;
  } catch {
    return false;
  }
}

interface CaseContext {
  readonly h: Harness;
  readonly profile: Profile;
  readonly fetchOptions: MutableFetchOptions;
  readonly goodDigest: string;
  readonly requestsBefore: number;
}

interface HostileCase {
  readonly name: string;
  readonly profiles: readonly Profile[];
  readonly code: ErrorCode;
  /** HTTP requests the hostile refresh may cause at the endpoint (0: refused during the handshake). */
  readonly requests?: number;
  arrange(ctx: CaseContext): Promise<void> | void;
  check?(ctx: CaseContext, outcome: RefreshOutcome): Promise<void> | void;
}

const BOTH = ['https_web', 'https_spiffe'] as const;

function withPrivateMember(json: string): string {
  const doc = JSON.parse(json) as { keys: Record<string, unknown>[] };
  const jwt = doc.keys.find((k) => k['use'] === 'jwt-svid');
  if (jwt === undefined) throw new Error('fixture has no jwt-svid entry');
  jwt['d'] = Buffer.alloc(32, 7).toString('base64url');
  return JSON.stringify(doc);
}

const CASES: readonly HostileCase[] = [
  {
    name: 'FED-23: endpoint presents another SPIFFE ID of the partner trust domain',
    profiles: ['https_spiffe'],
    code: 'ERR_FEDERATION_FETCH_ENDPOINT_ID',
    requests: 0,
    async arrange() {
      const impostor = await partner.leaf({ spiffeIds: [`spiffe://${TD}/not-the-endpoint`] });
      server.setIdentity(identityOf(impostor));
    },
  },
  {
    name: 'FED-23: endpoint chain from another trust domain (its own ID)',
    profiles: ['https_spiffe'],
    code: 'ERR_FEDERATION_FETCH_TLS',
    requests: 0,
    arrange() {
      server.setIdentity(identityOf(other.endpointSvid));
    },
  },
  {
    name: 'FED-23: endpoint claims the configured ID but chains to another trust domain CA',
    profiles: ['https_spiffe'],
    code: 'ERR_FEDERATION_FETCH_TLS',
    requests: 0,
    async arrange() {
      const forged = await other.leaf({ spiffeIds: [partner.endpointId] });
      server.setIdentity(identityOf(forged));
    },
  },
  {
    name: 'FED-23 X509-26: expired endpoint X509-SVID',
    profiles: ['https_spiffe'],
    code: 'ERR_FEDERATION_FETCH_TLS',
    requests: 0,
    async arrange() {
      const expired = await partner.leaf({
        spiffeIds: [partner.endpointId],
        notBefore: new Date(Date.now() - 2 * DAY_MS),
        notAfter: new Date(Date.now() - DAY_MS),
      });
      server.setIdentity(identityOf(expired));
    },
  },
  {
    name: 'FED-22: server chain from another PKI (not the configured roots)',
    profiles: ['https_web'],
    code: 'ERR_FEDERATION_FETCH_TLS',
    requests: 0,
    async arrange() {
      const stranger = await createWebRoot();
      server.setIdentity(await stranger.serverIdentity());
    },
  },
  {
    name: 'FED-22: expired server certificate',
    profiles: ['https_web'],
    code: 'ERR_FEDERATION_FETCH_TLS',
    requests: 0,
    async arrange() {
      server.setIdentity(
        await web.serverIdentity({
          notBefore: new Date(Date.now() - 2 * DAY_MS),
          notAfter: new Date(Date.now() - DAY_MS),
        }),
      );
    },
  },
  {
    name: 'FED-22: certificate for another host name',
    profiles: ['https_web'],
    code: 'ERR_FEDERATION_FETCH_TLS',
    requests: 0,
    async arrange() {
      server.setIdentity(await web.serverIdentity({ dnsNames: ['elsewhere.test'], ips: [] }));
    },
  },
  {
    name: 'FED-21: HTTP 500',
    profiles: BOTH,
    code: 'ERR_FEDERATION_FETCH_STATUS',
    requests: 1,
    arrange() {
      server.handler = status(500);
    },
  },
  {
    name: 'FED-21: HTTP 404',
    profiles: BOTH,
    code: 'ERR_FEDERATION_FETCH_STATUS',
    requests: 1,
    arrange() {
      server.handler = status(404);
    },
  },
  {
    name: 'FED-21: HTTP 204 (not 200) with no body',
    profiles: ['https_web'],
    code: 'ERR_FEDERATION_FETCH_STATUS',
    requests: 1,
    arrange() {
      server.handler = status(204);
    },
  },
  {
    name: 'FED-21 BUNDLE-7: 10 MiB body with Content-Length',
    profiles: BOTH,
    code: 'ERR_FEDERATION_FETCH_TOO_LARGE',
    requests: 1,
    arrange() {
      server.handler = hugeBody(10 * MIB, true);
    },
  },
  {
    name: 'FED-21 BUNDLE-7: 10 MiB chunked body without Content-Length',
    profiles: BOTH,
    code: 'ERR_FEDERATION_FETCH_TOO_LARGE',
    requests: 1,
    check(_ctx, outcome) {
      // The reader stopped right after the limit instead of taking all 10 MiB.
      expect(outcome.log?.bytes).toBeGreaterThan(MIB);
      expect(outcome.log?.bytes).toBeLessThan(2 * MIB);
    },
    arrange() {
      server.handler = hugeBody(10 * MIB, false);
    },
  },
  {
    name: 'FED-21: endless slow body hits the total timeout',
    profiles: BOTH,
    code: 'ERR_FEDERATION_FETCH_TIMEOUT',
    requests: 1,
    arrange(ctx) {
      ctx.fetchOptions.totalTimeoutMs = 300;
      server.handler = endlessSlowBody(live);
    },
  },
  {
    name: 'FED-21: response headers never come',
    profiles: ['https_web'],
    code: 'ERR_FEDERATION_FETCH_TIMEOUT',
    requests: 1,
    arrange(ctx) {
      ctx.fetchOptions.totalTimeoutMs = 300;
      server.handler = neverAnswer(live);
    },
  },
  {
    name: 'FED-25: redirect to http: is never followed',
    profiles: BOTH,
    code: 'ERR_FEDERATION_FETCH_REDIRECT',
    requests: 1,
    arrange() {
      server.handler = redirect(plain.url);
    },
    check() {
      expect(plain.requests).toBe(0);
    },
  },
  {
    name: `FED-25: redirect loop stops after ${MAX_REDIRECTS} hops`,
    profiles: BOTH,
    code: 'ERR_FEDERATION_FETCH_REDIRECT',
    requests: MAX_REDIRECTS + 1,
    arrange() {
      server.handler = redirect(`${server.origin}/bundle`);
    },
    check(_ctx, outcome) {
      expect(outcome.log?.redirects).toHaveLength(MAX_REDIRECTS);
    },
  },
  {
    name: 'BUNDLE-28: invalid JSON',
    profiles: BOTH,
    code: 'ERR_BUNDLE_JSON',
    requests: 1,
    arrange() {
      server.handler = serve('{"keys":[{"kty":"EC",');
    },
  },
  {
    name: 'BUNDLE-3: keys missing',
    profiles: ['https_web'],
    code: 'ERR_BUNDLE_KEYS_MISSING',
    requests: 1,
    arrange() {
      server.handler = serve('{"spiffe_sequence":9}');
    },
  },
  {
    name: 'BUNDLE-7: duplicate member names',
    profiles: ['https_web'],
    code: 'ERR_BUNDLE_DUPLICATE_MEMBER',
    requests: 1,
    arrange() {
      server.handler = serve('{"keys":[],"keys":[],"spiffe_sequence":9}');
    },
  },
  {
    name: 'BUNDLE-4: spiffe_sequence as a string',
    profiles: ['https_web'],
    code: 'ERR_BUNDLE_SEQUENCE',
    requests: 1,
    arrange() {
      server.handler = serve('{"keys":[],"spiffe_sequence":"9"}');
    },
  },
  {
    name: 'BUNDLE-14: a JWK with a private key member (d) rejects the document and raises an alert',
    profiles: BOTH,
    code: 'ERR_BUNDLE_PRIVATE_KEY',
    requests: 1,
    arrange() {
      server.handler = serve(withPrivateMember(partner.bundleJson(9)));
    },
    check(ctx) {
      const alerts = ctx.h.logs.filter((l) => l.fields['alert'] === 'partner-private-key');
      expect(alerts).toHaveLength(1);
      expect(JSON.stringify(ctx.h.logs)).not.toContain(Buffer.alloc(32, 7).toString('base64url'));
      const refused = ctx.h.audit.filter((e) => e.type === 'bundle.refused');
      expect(refused.at(-1)?.details?.['alert']).toBe('partner-private-key');
    },
  },
  {
    name: 'FED-32: sequence rollback is refused; the operator can force it (FED-33)',
    profiles: BOTH,
    code: 'ERR_FEDERATION_BUNDLE_STALE',
    requests: 1,
    arrange() {
      server.handler = serve(partner.bundleJson(3));
    },
    async check(ctx) {
      const stale = partner.bundleJson(3);
      const forced = await ctx.h.federation.forceBundle(TD, stale, {
        actor: 'admin:test',
        reason: 'partner reset its sequence',
      });
      expect(forced.outcome).toBe('replaced');
      expect(forced.stored.sequence).toBe('3');
      expect((await ctx.h.store.getBundle(TD))?.digest).toBe(bundleDigest(stale));
      expect(trustedDigest(ctx.h.federation, TD)).toBe(bundleDigest(stale));
      expect(ctx.h.audit.some((e) => e.type === 'bundle.forced')).toBe(true);
      // FED-33: the forced bundle stays current; the endpoint serving the same document is a no-op.
      const same = await ctx.h.federation.refresh(TD);
      expect(same.ok).toBe(true);
      expect(same.update?.outcome).toBe('unchanged');
    },
  },
];

describe.each(BOTH)(
  'hostile %s partner endpoint keeps the last good bundle (FED-41)',
  (profile) => {
    const cases = CASES.filter((c) => c.profiles.includes(profile));

    it.each(cases)('$name', async (c) => {
      server.setIdentity(goodIdentity(profile));
      server.handler = serve(partner.bundleJson(5));
      const fetchOptions: MutableFetchOptions = { totalTimeoutMs: 10_000, connectTimeoutMs: 5_000 };
      const h = await harness(fetchOptions);
      await h.approved(relationshipInput(profile));

      // A good bundle first, so there is a last good one.
      const first = await h.federation.refresh(TD);
      expect(first.error).toBeUndefined();
      const good = await h.store.getBundle(TD);
      expect(good?.sequence).toBe('5');
      const goodDigest = good?.digest as string;
      expect(trustedDigest(h.federation, TD)).toBe(goodDigest);
      expect(partnerSvidTrusted(h)).toBe(true);
      const historyBefore = (await h.store.bundleHistory(TD)).length;
      const ctx: CaseContext = {
        h,
        profile,
        fetchOptions,
        goodDigest,
        requestsBefore: server.requests,
      };

      await c.arrange(ctx);
      const outcome = await h.federation.refresh(TD);

      expect(outcome.ok).toBe(false);
      expect(outcome.error?.code).toBe(c.code);
      const view = await h.federation.get(TD);
      expect(view.status.lastError?.code).toBe(c.code);
      expect(view.status.consecutiveFailures).toBe(1);
      expect(view.status.digest).toBe(goodDigest);
      // The store still holds the last good bundle, byte for byte, and nothing was added to history.
      expect((await h.store.getBundle(TD))?.digest).toBe(goodDigest);
      expect(await h.store.bundleHistory(TD)).toHaveLength(historyBefore);
      // The trust view still has it: partner SVIDs keep validating.
      expect(trustedDigest(h.federation, TD)).toBe(goodDigest);
      expect(partnerSvidTrusted(h)).toBe(true);
      if (c.requests !== undefined) expect(server.requests - ctx.requestsBefore).toBe(c.requests);
      await c.check?.(ctx, outcome);

      // The service keeps working: the endpoint heals and the next refresh applies a new bundle.
      for (const stop of [...live]) stop();
      fetchOptions.totalTimeoutMs = 10_000;
      server.setIdentity(goodIdentity(profile));
      const healed = partner.bundleJson(6, [other.ca]);
      server.handler = serve(healed);
      const again = await h.federation.refresh(TD);
      expect(again.error).toBeUndefined();
      expect(again.update?.outcome).toBe('replaced');
      expect((await h.store.getBundle(TD))?.digest).toBe(bundleDigest(healed));
      expect(trustedDigest(h.federation, TD)).toBe(bundleDigest(healed));
      const healedView = await h.federation.get(TD);
      expect(healedView.status.lastError).toBeNull();
      expect(healedView.status.consecutiveFailures).toBe(0);
    });
  },
);

describe('what a fetched bundle means (FED-26, FED-30, FED-35, BUNDLE-27)', () => {
  it('FED-26 FED-30: a bundle whose CA names another trust domain is bound to the configured one only', async () => {
    const h = await harness();
    server.setIdentity(webIdentity);
    server.handler = serve(partner.bundleJson(5));
    await h.approved(relationshipInput('https_web'));
    // other.test has its own relationship and bundle.
    const otherServer = await startEndpointServer(webIdentity, serve(other.bundleJson(1)));
    try {
      await h.approved({
        trustDomain: 'other.test',
        url: `${otherServer.origin}/bundle`,
        profile: 'https_web',
        caPem: web.caPem,
      });
      expect((await h.federation.refresh('other.test')).error).toBeUndefined();
      const otherDigest = (await h.store.getBundle('other.test'))?.digest;
      expect((await h.federation.refresh(TD)).error).toBeUndefined();

      // partner.test's endpoint now serves other.test's CA (URI SAN spiffe://other.test) and nothing else.
      const foreign = other.bundleJson(6);
      server.handler = serve(foreign);
      const outcome = await h.federation.refresh(TD);
      // Nothing in the body chooses the trust domain (FED-26): it is partner.test's bundle now.
      expect(outcome.ok).toBe(true);
      expect((await h.store.getBundle(TD))?.digest).toBe(bundleDigest(foreign));
      // other.test's stored bundle and trust are untouched (FED-30: never merged, never redirected).
      expect((await h.store.getBundle('other.test'))?.digest).toBe(otherDigest);
      expect(trustedDigest(h.federation, 'other.test')).toBe(otherDigest);
      // partner.test's SVIDs no longer verify: its own CA is gone from its bundle (FED-31 replace).
      expect(partnerSvidTrusted(h)).toBe(false);
      // An other.test SVID verifies against other.test's bundle only (X509-25), as before.
      expect(
        verifyX509Svid([other.workloadSvid.der], h.federation, {
          now: new Date(h.nowMs()),
        }).spiffeId.toString(),
      ).toBe('spiffe://other.test/workload');
      // A partner.test ID signed by the CA partner.test now publishes is partner.test's business
      // (X509-13 lets a CA sign for other trust domains); it is trusted only under partner.test.
      const crossSigned = await other.leaf({ spiffeIds: [`spiffe://${TD}/workload`] });
      expect(
        verifyX509Svid([crossSigned.der], h.federation.trustedBundles([TD]), {
          now: new Date(h.nowMs()),
        }).spiffeId.toString(),
      ).toBe(`spiffe://${TD}/workload`);
      expect(() =>
        verifyX509Svid([crossSigned.der], h.federation.trustedBundles(['other.test']), {
          now: new Date(h.nowMs()),
        }),
      ).toThrow(expect.objectContaining({ code: 'ERR_SVID_NO_BUNDLE' }));
    } finally {
      await otherServer.close();
    }
  });

  it.each([
    ['FED-35 BUNDLE-3: "keys": []', (seq: number) => `{"spiffe_sequence":${seq},"keys":[]}`],
    [
      'FED-35 BUNDLE-27: only entries we cannot use',
      (seq: number) =>
        `{"spiffe_sequence":${seq},"keys":[{"kty":"XYZ","use":"jwt-svid","kid":"k2"},{"kty":"EC","use":"X509-SVID","crv":"P-256"}]}`,
    ],
  ])('%s: a successfully fetched empty bundle removes trust', async (_name, body) => {
    const h = await harness();
    server.setIdentity(webIdentity);
    server.handler = serve(partner.bundleJson(5));
    await h.approved(relationshipInput('https_web'));
    expect((await h.federation.refresh(TD)).error).toBeUndefined();
    expect(partnerSvidTrusted(h)).toBe(true);
    let changes = 0;
    h.federation.onChange(() => (changes += 1));

    const empty = body(6);
    server.handler = serve(empty);
    const outcome = await h.federation.refresh(TD);

    expect(outcome.ok).toBe(true);
    expect(outcome.update?.outcome).toBe('replaced');
    expect(outcome.update?.bundle.isEmpty).toBe(true);
    expect((await h.store.getBundle(TD))?.digest).toBe(bundleDigest(empty));
    const view = await h.federation.get(TD);
    expect(view.status.lastError).toBeNull();
    expect(view.status.sequence).toBe('6');
    expect(changes).toBeGreaterThan(0);
    expect(partnerSvidTrusted(h)).toBe(false);
    expect(() =>
      verifyX509Svid([partner.workloadSvid.der], h.federation, { now: new Date(h.nowMs()) }),
    ).toThrow(expect.objectContaining({ code: 'ERR_SVID_NO_AUTHORITIES' }));
  });
});

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
        const scheduler = createScheduler({
          federation: h.federation,
          locks: h.store,
          now: h.nowMs,
          logger: h.logger,
          replicaId: 'r1',
        });
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
      const scheduler = createScheduler({
        federation: h.federation,
        locks: h.store,
        now: h.nowMs,
        logger: h.logger,
        replicaId: 'r1',
      });
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
      const scheduler = createScheduler({
        federation: h.federation,
        locks: h.store,
        now: h.nowMs,
        logger: h.logger,
        replicaId: 'r1',
      });
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

  it('FED-43: each partner is fetched exactly once per round, whichever replica does it', async () => {
    const PARTNERS = 24;
    const clock = { ms: Date.now() };
    const opened = await Promise.all(
      [1, 2].map(() => createRedisStore({ url: redis.url, keyPrefix: 'fed43:' })),
    );
    stores.push(...opened);
    const [storeA, storeB] = opened as [Store, Store];
    const a = await createHarness({ store: storeA, clock });
    const b = await createHarness({ store: storeB, clock });
    harnesses.push(a, b);
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
      for (const p of pkis) {
        await a.approved({
          trustDomain: p.trustDomain,
          url: `${shared.origin}/${p.trustDomain}`,
          profile: 'https_web',
          caPem: web.caPem,
        });
      }
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
    const clock = { ms: Date.now() };
    const opened = await Promise.all(
      [1, 2].map(() => createRedisStore({ url: redis.url, keyPrefix: 'fed43-stale:' })),
    );
    stores.push(...opened);
    const a = await createHarness({ store: opened[0] as Store, clock });
    const b = await createHarness({ store: opened[1] as Store, clock });
    harnesses.push(a, b);
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
      for (const p of pkis) {
        await a.approved({
          trustDomain: p.trustDomain,
          url: `${shared.origin}/${p.trustDomain}`,
          profile: 'https_web',
          caPem: web.caPem,
        });
      }
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

describe('FED-32 FED-33: rollback through a running broker and its admin API', () => {
  it('FED-32: the admin refresh reports the refused rollback; FED-33: the admin "force bundle" path accepts it', async () => {
    const broker = await startTestBroker({ trustDomain: 'us.test' });
    const endpoint = await startEndpointServer(webIdentity, serve(partner.bundleJson(5)));
    try {
      const created = await admin(broker, 'POST', '/v1/admin/relationships', {
        trustDomain: TD,
        url: `${endpoint.origin}/bundle`,
        profile: 'https_web',
        caPem: web.caPem,
      });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      expect(
        (await admin(broker, 'POST', `/v1/admin/relationships/${TD}/approve`, {})).status,
      ).toBe(200);
      const good = await admin<{ ok: boolean; sequence: string }>(
        broker,
        'POST',
        `/v1/admin/relationships/${TD}/refresh`,
        {},
      );
      expect(good.body).toMatchObject({ ok: true, sequence: '5' });
      const goodDigest = (await broker.store.getBundle(TD))?.digest;

      const stale = partner.bundleJson(3);
      endpoint.handler = serve(stale);
      const refused = await admin<{ ok: boolean; error: { code: string } }>(
        broker,
        'POST',
        `/v1/admin/relationships/${TD}/refresh`,
        {},
      );
      expect(refused.status).toBe(200);
      expect(refused.body.ok).toBe(false);
      expect(refused.body.error.code).toBe('ERR_FEDERATION_BUNDLE_STALE');
      expect((await broker.store.getBundle(TD))?.digest).toBe(goodDigest);
      expect(trustedDigest(broker.federation, TD)).toBe(goodDigest);

      const forced = await admin<{ outcome: string; sequence: string; digest: string }>(
        broker,
        'PUT',
        `/v1/admin/relationships/${TD}/bundle`,
        { bundle: stale, reason: 'partner reset its CA and sequence' },
      );
      expect(forced.status, JSON.stringify(forced.body)).toBe(200);
      expect(forced.body).toMatchObject({
        outcome: 'replaced',
        sequence: '3',
        digest: bundleDigest(stale),
      });
      expect(trustedDigest(broker.federation, TD)).toBe(bundleDigest(stale));
      // Without the token the same path is closed (FED-3: changes only through the authenticated API).
      const anonymous = await admin(
        broker,
        'PUT',
        `/v1/admin/relationships/${TD}/bundle`,
        { bundle: partner.bundleJson(1) },
        null,
      );
      expect(anonymous.status).toBe(401);
      expect(trustedDigest(broker.federation, TD)).toBe(bundleDigest(stale));
    } finally {
      await endpoint.close();
      await broker.stop();
    }
  });
});
