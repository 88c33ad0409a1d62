// The agent API's mTLS (simulated with the socket binding @hono/node-server sets, carrying REAL
// certificate chains) on every authenticated route, then renewal (POST /v1/agent/x509svid) and
// JWT-SVIDs (POST /v1/agent/jwtsvid). Through app.request() on the agent-app fixture.
import { describe, expect, it } from 'vitest';
import { createCsrDer, csrPem, newKeyAndCsr } from '../../src/agent/index.js';
import { peerChainDer } from '../../src/api/agent-app.js';
import { BundleSet } from '../../src/bundle/index.js';
import { validateJwtSvid, verifyX509Svid } from '../../src/svid/index.js';
import { createCa, createLeaf } from '../helpers/pki.js';
import {
  PARTNER,
  TD,
  auditEvents,
  broker,
  call,
  clock,
  createEntry,
  enrol,
  expectError,
  json,
  nowMs,
  partnerCa,
  research,
  socketFor,
  solo,
  useAgentAppFixture,
} from './agent-app-fixture.js';

useAgentAppFixture();

describe('mTLS on the agent routes', () => {
  const routes: [string, string, unknown][] = [
    ['POST', '/v1/agent/x509svid', { csr: csrPem(newKeyAndCsr().csrDer) }],
    ['POST', '/v1/agent/jwtsvid', { audience: ['svc'] }],
    ['GET', '/v1/agent/bundles', undefined],
    ['GET', '/v1/agent/bundles/watch', undefined],
    ['POST', '/v1/agent/jwt/validate', { token: 'a.b.c', audience: 'svc' }],
  ];

  it.each(routes)(
    '%s %s without a client certificate → 401 ERR_API_UNAUTHENTICATED',
    async (method, path, body) => {
      // No node binding at all, a socket without TLS, and TLS without a peer certificate ({} / null).
      for (const socket of [
        undefined,
        {},
        { getPeerCertificate: () => ({}) },
        { getPeerCertificate: () => null },
      ]) {
        await expectError(
          await call(path, { method, body, socket }),
          401,
          'ERR_API_UNAUTHENTICATED',
        );
      }
    },
  );

  it.each(routes)(
    'X509-31: %s %s with a foreign CA claiming our trust domain → 401',
    async (method, path, body) => {
      const foreign = await createCa({ trustDomain: TD });
      const leaf = await createLeaf(foreign, { spiffeIds: [`spiffe://${TD}/agents/solo`] });
      // The foreign root is sent too (self-issued: its own issuer in node's object graph).
      const socket = socketFor([leaf.der, foreign.der]);
      await expectError(await call(path, { method, body, socket }), 401, 'ERR_API_UNAUTHENTICATED');
    },
  );

  it.each(routes)(
    'X509-31: %s %s with a trusted partner SVID → 401 (agents are ours only)',
    async (method, path, body) => {
      const leaf = await createLeaf(partnerCa, { spiffeIds: [`spiffe://${PARTNER}/agents/solo`] });
      const socket = socketFor([leaf.der]);
      await expectError(await call(path, { method, body, socket }), 401, 'ERR_API_UNAUTHENTICATED');
    },
  );

  it.each(routes)('%s %s with an expired SVID → 401', async (method, path, body) => {
    const { publicKey } = newKeyAndCsr();
    const issued = await broker.ca.issueX509Svid({
      spiffeId: `spiffe://${TD}/agents/solo`,
      publicKey,
      ttlSeconds: 60,
    });
    const socket = socketFor(issued.chainDer);
    clock.advanceMs(120_000);
    try {
      const message = await expectError(
        await call(path, { method, body, socket }),
        401,
        'ERR_API_UNAUTHENTICATED',
      );
      expect(message).toContain('ERR_SVID_CERT_EXPIRED');
    } finally {
      clock.advanceMs(-120_000);
    }
  });

  it.each(routes)(
    '%s %s with a valid SVID of ours that no entry grants → 403 ERR_API_FORBIDDEN',
    async (method, path, body) => {
      for (const id of [`spiffe://${TD}/spiffe/bundle-endpoint`, broker.agentApiSpiffeId]) {
        const own = await broker.ca.issueOwnSvid(id);
        await expectError(
          await call(path, { method, body, socket: socketFor(own.chainDer) }),
          403,
          'ERR_API_FORBIDDEN',
        );
      }
    },
  );

  it.each(routes)(
    '%s %s by an agent whose entry was deleted after enrolment → 403',
    async (method, path, body) => {
      const entry = await createEntry('agents/deleted');
      const agent = await enrol(entry);
      await broker.registration.deleteEntry(entry.id);
      await expectError(
        await call(path, { method, body, socket: agent.socket }),
        403,
        'ERR_API_FORBIDDEN',
      );
    },
  );

  it('peerChainDer stops at a self-issued certificate and at a missing link', async () => {
    const root = await createCa({ trustDomain: TD });
    const intermediate = await createCa({ issuer: root });
    const leaf = await createLeaf(intermediate);
    expect(peerChainDer(socketFor([leaf.der, intermediate.der, root.der]))).toEqual([
      leaf.der,
      intermediate.der,
      root.der,
    ]);
    expect(peerChainDer(socketFor([leaf.der]))).toEqual([leaf.der]);
    expect(peerChainDer(undefined)).toBeUndefined();
    expect(peerChainDer({ getPeerCertificate: () => ({}) })).toBeUndefined();
  });
});

describe('POST /v1/agent/x509svid', () => {
  it('renews the SAME SPIFFE ID (instance id kept) for a new key', async () => {
    const agent = await enrol(research);
    const { publicKey, csrDer } = newKeyAndCsr();
    const response = await call('/v1/agent/x509svid', {
      body: { csr: csrPem(csrDer) },
      socket: agent.socket,
    });
    expect(response.status).toBe(200);
    const body = await json<{
      spiffeId: string;
      instanceId: string | null;
      x509Svid: { chain: string[]; expiresAt: string };
    }>(response);
    expect(body.spiffeId).toBe(agent.spiffeId);
    expect(body.instanceId).toBe(agent.instanceId);
    // The body is the same x509Body shape, in the same order, as the enrolment answer's.
    expect(Object.keys(body)).toEqual(['spiffeId', 'instanceId', 'x509Svid']);
    expect(Object.keys(body.x509Svid)).toEqual(['chain', 'expiresAt']);
    const chain = body.x509Svid.chain.map((b64) => Buffer.from(b64, 'base64'));
    const verified = verifyX509Svid(chain, new BundleSet([broker.ca.localBundle()]), {
      now: new Date(nowMs()),
    });
    expect(verified.spiffeId.toString()).toBe(agent.spiffeId);
    const spki = publicKey.export({ format: 'der', type: 'spki' });
    expect(verified.leaf.subjectPublicKeyInfo.equals(spki)).toBe(true);
    expect(chain[0]?.equals(agent.chain[0] as Buffer)).toBe(false);
    // The renewed SVID authenticates in turn.
    const again = await call('/v1/agent/x509svid', {
      body: { csr: csrPem(newKeyAndCsr().csrDer) },
      socket: socketFor(chain),
    });
    expect(again.status).toBe(200);
    expect((await json<{ spiffeId: string }>(again)).spiffeId).toBe(agent.spiffeId);
    expect(
      auditEvents.some(
        (e) =>
          e.type === 'svid.issued' &&
          e.details?.['via'] === 'renew' &&
          e.details['spiffeId'] === agent.spiffeId,
      ),
    ).toBe(true);
  });

  it.each([
    ['missing csr', {}],
    ['an extra field', { csr: csrPem(newKeyAndCsr().csrDer), spiffeId: `spiffe://${TD}/x` }],
    ['a non-string csr', { csr: 7 }],
    ['an oversize csr', { csr: 'A'.repeat(16 * 1024 + 1) }],
    ['a csr that is neither PEM nor base64', { csr: '%%%' }],
  ])('%s → 400 ERR_API_VALIDATION', async (_name, body) => {
    const agent = await enrol(solo);
    await expectError(
      await call('/v1/agent/x509svid', { body, socket: agent.socket }),
      400,
      'ERR_API_VALIDATION',
    );
  });

  it('a CSR that is not a CSR or has a bad signature → 400 with the CA code', async () => {
    const agent = await enrol(solo);
    await expectError(
      await call('/v1/agent/x509svid', {
        body: { csr: Buffer.from('nope nope').toString('base64') },
        socket: agent.socket,
      }),
      400,
      'ERR_CA_CSR_INVALID',
    );
    const mine = newKeyAndCsr();
    const theirs = newKeyAndCsr();
    await expectError(
      await call('/v1/agent/x509svid', {
        body: { csr: csrPem(createCsrDer(mine.privateKey, theirs.publicKey)) },
        socket: agent.socket,
      }),
      400,
      'ERR_CA_CSR_SIGNATURE',
    );
  });
});

describe('POST /v1/agent/jwtsvid', () => {
  it('JWT-5: the token validates against our bundle with sub = the agent ID and the audience', async () => {
    const agent = await enrol(research);
    const response = await call('/v1/agent/jwtsvid', {
      body: { audience: ['svc-a', 'svc-b'] },
      socket: agent.socket,
    });
    expect(response.status).toBe(200);
    const body = await json<{ spiffeId: string; token: string; expiresAt: string }>(response);
    expect(body.spiffeId).toBe(agent.spiffeId);
    const result = validateJwtSvid(body.token, new BundleSet([broker.ca.localBundle()]), {
      audience: 'svc-b',
      now: new Date(nowMs()),
    });
    expect(result.spiffeId.toString()).toBe(agent.spiffeId);
    expect([...result.audience]).toEqual(['svc-a', 'svc-b']);
    expect(result.expiresAt.toISOString()).toBe(body.expiresAt);
  });

  it('the JWT-SVID lifetime is bounded by the entry ttlSeconds', async () => {
    const entry = await createEntry('agents/jwt-short', { ttlSeconds: 90 });
    const agent = await enrol(entry);
    const before = nowMs();
    const response = await call('/v1/agent/jwtsvid', {
      body: { audience: ['svc'] },
      socket: agent.socket,
    });
    expect(response.status).toBe(200);
    const expiresAt = Date.parse((await json<{ expiresAt: string }>(response)).expiresAt);
    expect(expiresAt).toBeLessThanOrEqual(before + 91_000);
  });

  it.each([
    ['an empty audience', { audience: [] }],
    ['too many audiences', { audience: Array.from({ length: 11 }, (_, i) => `svc-${i}`) }],
    ['an empty audience value', { audience: [''] }],
    ['an oversize audience value', { audience: ['a'.repeat(257)] }],
    ['a string audience', { audience: 'svc' }],
    ['missing audience', {}],
    ['an extra field', { audience: ['svc'], spiffeId: `spiffe://${TD}/agents/other` }],
  ])('%s → 400 ERR_API_VALIDATION', async (_name, body) => {
    const agent = await enrol(solo);
    await expectError(
      await call('/v1/agent/jwtsvid', { body, socket: agent.socket }),
      400,
      'ERR_API_VALIDATION',
    );
  });
});
