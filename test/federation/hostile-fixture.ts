// Shared fixture of the hostile partner endpoint tests (FED-21..27, FED-32, FED-41): the partner PKIs, one
// scriptable bundle endpoint over real TLS on 127.0.0.1 per test file, and the case runner that turns it
// hostile after a good bundle and checks the last good bundle stays trusted, stored and then replaced.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { bundleDigest } from '../../src/bundle/index.js';
import type { ErrorCode } from '../../src/errors.js';
import type { Profile, RefreshOutcome, RelationshipInput } from '../../src/federation/index.js';
import { verifyX509Svid } from '../../src/svid/index.js';
import {
  createPartnerPki,
  createWebRoot,
  identityOf,
  serve,
  startEndpointServer,
  startPlainHttpServer,
  trustedDigest,
  createHarness,
} from './support.js';
import type { EndpointServer, Harness, PartnerPki, TlsIdentity, WebRoot } from './support.js';

export const TD = 'partner.test';

// Set by the hooks useHostileWorld registers (live bindings: importers see the current values).
export let partner: PartnerPki;
export let other: PartnerPki;
export let web: WebRoot;
export let webIdentity: TlsIdentity;
export let server: EndpointServer;
export let plain: Awaited<ReturnType<typeof startPlainHttpServer>>;
/** Endless bodies and hung responses to stop after each test. */
export const live = new Set<() => void>();
/** Harnesses to close after each test. */
export const harnesses: Harness[] = [];

/** Registers the calling test file's hooks: PKIs and endpoints before all, cleanup after each and all. */
export function useHostileWorld(): void {
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
}

export function goodIdentity(profile: Profile): TlsIdentity {
  return profile === 'https_web' ? webIdentity : identityOf(partner.endpointSvid);
}

export function relationshipInput(
  profile: Profile,
  url = `${server.origin}/bundle`,
): RelationshipInput {
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
export interface MutableFetchOptions {
  totalTimeoutMs: number;
  connectTimeoutMs: number;
}

export async function harness(fetchOptions?: MutableFetchOptions): Promise<Harness> {
  const h = await createHarness({
    fetchOptions: fetchOptions ?? { totalTimeoutMs: 10_000, connectTimeoutMs: 5_000 },
  });
  harnesses.push(h);
  return h;
}

/** The partner's workload SVID verifies through the federation's trust view (what agents get). */
export function partnerSvidTrusted(h: Harness): boolean {
  try {
    verifyX509Svid([partner.workloadSvid.der], h.federation, { now: new Date(h.nowMs()) });
    return true;
  } catch {
    return false;
  }
}

export interface CaseContext {
  readonly h: Harness;
  readonly profile: Profile;
  readonly fetchOptions: MutableFetchOptions;
  readonly goodDigest: string;
  readonly requestsBefore: number;
}

export interface HostileCase {
  readonly name: string;
  readonly profiles: readonly Profile[];
  readonly code: ErrorCode;
  /** HTTP requests the hostile refresh may cause at the endpoint (0: refused during the handshake). */
  readonly requests?: number;
  arrange(ctx: CaseContext): Promise<void> | void;
  check?(ctx: CaseContext, outcome: RefreshOutcome): Promise<void> | void;
}

export const BOTH = ['https_web', 'https_spiffe'] as const;

/** Runs each case under each of its profiles: hostile refresh refused, last good bundle kept (FED-41). */
export function describeHostileCases(CASES: readonly HostileCase[]): void {
  describe.each(BOTH)(
    'hostile %s partner endpoint keeps the last good bundle (FED-41)',
    (profile) => {
      const cases = CASES.filter((c) => c.profiles.includes(profile));

      it.each(cases)('$name', async (c) => {
        server.setIdentity(goodIdentity(profile));
        server.handler = serve(partner.bundleJson(5));
        const fetchOptions: MutableFetchOptions = {
          totalTimeoutMs: 10_000,
          connectTimeoutMs: 5_000,
        };
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
}
