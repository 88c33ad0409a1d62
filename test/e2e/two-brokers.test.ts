// Two brokers (a.test, b.test) federate over real TLS on 127.0.0.1: invite → accept → approve on both
// sides, each fetches the other's bundle (https_spiffe and https_web), then a.test rotates its CA and JWT
// key through a full cycle on an injected clock while b.test keeps verifying a.test SVIDs at every step.
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Broker } from '../../src/main.js';
import { validateJwtSvid, verifyX509Svid } from '../../src/svid/index.js';
import { admin, startTestBroker } from '../helpers/broker.js';
import { createWebPki } from '../helpers/web-pki.js';

let clockMs = Date.now();
const now = (): Date => new Date(clockMs);
const nowMs = (): number => clockMs;

async function federate(from: Broker, to: Broker, caPem?: string): Promise<void> {
  const invite = await admin<{ trustDomain: string }>(from, 'POST', '/v1/admin/invites', {});
  expect(invite.status, JSON.stringify(invite.body)).toBe(201);
  const accepted = await admin<{ relationship: { state: string } }>(
    to,
    'POST',
    '/v1/admin/invites/accept',
    {
      invite: JSON.stringify(invite.body),
      ...(caPem === undefined ? {} : { caPem }),
    },
  );
  expect(accepted.status, JSON.stringify(accepted.body)).toBe(201);
  expect(accepted.body.relationship.state).toBe('pending');
  // Pending: nothing fetched, nothing trusted.
  expect(to.federation.trustedBundles([invite.body.trustDomain]).size).toBe(0);
  const approved = await admin(
    to,
    'POST',
    `/v1/admin/relationships/${invite.body.trustDomain}/approve`,
    { reason: 'e2e' },
  );
  expect(approved.status).toBe(200);
}

async function mintAt(broker: Broker, path: string) {
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const x509 = await broker.ca.issueX509Svid({
    spiffeId: `spiffe://${broker.ca.trustDomain.name}${path}`,
    publicKey,
  });
  const jwt = await broker.ca.issueJwtSvid({
    spiffeId: `spiffe://${broker.ca.trustDomain.name}${path}`,
    audience: ['partner-api'],
  });
  return { x509, jwt };
}

describe.each(['https_spiffe', 'https_web'] as const)(
  'two brokers federating over %s',
  (profile) => {
    let a: Broker;
    let b: Broker;
    const pki = profile === 'https_web' ? createWebPki() : undefined;

    beforeAll(async () => {
      clockMs = Date.now();
      a = await startTestBroker({
        trustDomain: 'a.test',
        profile,
        ...(pki ? { webPki: pki } : {}),
        now: nowMs,
      });
      b = await startTestBroker({
        trustDomain: 'b.test',
        profile,
        ...(pki ? { webPki: pki } : {}),
        now: nowMs,
      });
      await federate(a, b, pki?.caPem);
      await federate(b, a, pki?.caPem);
    });
    afterAll(async () => {
      await a?.stop();
      await b?.stop();
    });

    it('FED-21 each broker fetches and trusts the other bundle; FED-30 each under its own trust domain', async () => {
      const ab = await b.federation.refresh('a.test');
      const ba = await a.federation.refresh('b.test');
      expect(ab.error, JSON.stringify(ab.error)).toBeUndefined();
      expect(ba.error).toBeUndefined();
      expect(ab.log?.peer?.identity).toBe(
        profile === 'https_spiffe'
          ? 'spiffe://a.test/spiffe/bundle-endpoint'
          : 'IP Address:127.0.0.1, DNS:localhost',
      );
      expect(
        b.federation
          .trustedBundles()
          .trustDomains()
          .map((td) => td.name),
      ).toEqual(['a.test']);
      expect(
        a.federation
          .trustedBundles()
          .trustDomains()
          .map((td) => td.name),
      ).toEqual(['b.test']);
    });

    it('X509-25 JWT-16 b.test verifies a.test SVIDs, and a.test verifies b.test SVIDs, with the partner bundle only', async () => {
      await b.federation.refresh('a.test');
      await a.federation.refresh('b.test');
      const fromA = await mintAt(a, '/agents/planner/instance/1');
      const fromB = await mintAt(b, '/agents/carrier/instance/7');
      expect(
        verifyX509Svid(fromA.x509.chainDer, b.federation, { now: now() }).spiffeId.toString(),
      ).toBe('spiffe://a.test/agents/planner/instance/1');
      expect(
        verifyX509Svid(fromB.x509.chainDer, a.federation, { now: now() }).spiffeId.toString(),
      ).toBe('spiffe://b.test/agents/carrier/instance/7');
      expect(
        validateJwtSvid(fromA.jwt.token, b.federation, {
          audience: 'partner-api',
          now: now(),
        }).spiffeId.toString(),
      ).toBe('spiffe://a.test/agents/planner/instance/1');
      // a.test does not trust its own SVIDs through the partner view: bundles are never pooled.
      expect(() => verifyX509Svid(fromA.x509.chainDer, a.federation, { now: now() })).toThrow(
        expect.objectContaining({ code: 'ERR_SVID_NO_BUNDLE' }),
      );
    });
  },
);

describe('a.test rotates its CA and JWT key through a full cycle; b.test keeps verifying (FED-50, FED-51, FED-55)', () => {
  let a: Broker;
  let b: Broker;

  beforeAll(async () => {
    clockMs = Date.now();
    a = await startTestBroker({ trustDomain: 'a.test', now: nowMs });
    b = await startTestBroker({ trustDomain: 'b.test', now: nowMs });
    await federate(a, b);
    expect((await b.federation.refresh('a.test')).ok).toBe(true);
  });
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
  });

  it('every valid a.test SVID verifies at b.test at every step, and spiffe_sequence only grows', async () => {
    const issued: Awaited<ReturnType<typeof mintAt>>[] = [];
    const x509Authorities = new Set<string>();
    const jwtKids = new Set<string>();
    let lastSequence = -1n;
    let lastStoredSequence = -1n;
    const stepMs = 5 * 60_000;
    // caTtl is 2 h: 40 steps of 5 min walk prepare → publish → activate → retire → removal at least once.
    for (let step = 0; step < 40; step++) {
      clockMs += stepMs;
      await a.ca.rotate(clockMs);
      await a.renewBundleEndpointSvid();
      const refreshed = await b.federation.refresh('a.test');
      expect(refreshed.error, `step ${step}`).toBeUndefined();

      const sequence = a.ca.localBundle().sequence ?? 0n;
      expect(sequence >= lastSequence, `own sequence at step ${step}`).toBe(true);
      lastSequence = sequence;
      const stored = BigInt((await b.store.getBundle('a.test'))?.sequence ?? '0');
      expect(stored >= lastStoredSequence, `stored sequence at step ${step}`).toBe(true);
      lastStoredSequence = stored;

      const minted = await mintAt(a, `/agents/step/${step}`);
      issued.push(minted);
      x509Authorities.add(minted.x509.authorityId);
      jwtKids.add(minted.jwt.kid);
      for (const svid of issued) {
        if (svid.x509.notAfter.getTime() > clockMs) {
          expect(
            verifyX509Svid(svid.x509.chainDer, b.federation, { now: now() }).spiffeId.toString(),
          ).toBe(svid.x509.spiffeId.toString());
        }
        if (svid.jwt.expiresAt.getTime() > clockMs) {
          expect(
            validateJwtSvid(svid.jwt.token, b.federation, {
              audience: 'partner-api',
              now: now(),
            }).spiffeId.toString(),
          ).toBe(svid.jwt.spiffeId.toString());
        }
      }
    }
    // A full cycle happened: new authorities signed, old ones were removed from the partner's view.
    expect(x509Authorities.size).toBeGreaterThanOrEqual(2);
    expect(jwtKids.size).toBeGreaterThanOrEqual(2);
    const partnerView = b.federation.trustedBundles().bundles()[0];
    expect(partnerView?.x509Authorities.length).toBeLessThan(x509Authorities.size + 1);
    const states = a.ca.authorities('x509').map((au) => au.state);
    expect(states).toContain('active');
  });
});
