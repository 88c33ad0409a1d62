// Hostile partner bundle documents over real TLS on 127.0.0.1 (FED-21, BUNDLE-3/4/7/14/28): oversized,
// malformed or carrying a private key, each refused with the last good bundle kept (FED-41); and what a
// well-formed fetched bundle means: bound to the configured trust domain (FED-26), empty ones (FED-35).
import { describe, expect, it } from 'vitest';
import { bundleDigest } from '../../src/bundle/index.js';
import { verifyX509Svid } from '../../src/svid/index.js';
import { hugeBody, serve, startEndpointServer, trustedDigest } from './support.js';
import {
  BOTH,
  TD,
  describeHostileCases,
  harness,
  other,
  partner,
  partnerSvidTrusted,
  relationshipInput,
  server,
  useHostileWorld,
  web,
  webIdentity,
} from './hostile-fixture.js';
import type { HostileCase } from './hostile-fixture.js';

const MIB = 1024 * 1024;

useHostileWorld();

function withPrivateMember(json: string): string {
  const doc = JSON.parse(json) as { keys: Record<string, unknown>[] };
  const jwt = doc.keys.find((k) => k['use'] === 'jwt-svid');
  if (jwt === undefined) throw new Error('fixture has no jwt-svid entry');
  jwt['d'] = Buffer.alloc(32, 7).toString('base64url');
  return JSON.stringify(doc);
}

const CASES: readonly HostileCase[] = [
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
];

describeHostileCases(CASES);

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
