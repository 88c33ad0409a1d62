// The agent API's enrolment: the unauthenticated bundle route, POST /v1/agent/attest with a join
// token and a CSR (what it issues, what it refuses, failing closed on the audit log), and the limit
// on refused join tokens per source address. Through app.request() on the agent-app fixture.
import type { KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createCsrDer, csrPem, newKeyAndCsr } from '../../src/agent/index.js';
import { createAgentApp } from '../../src/api/agent-app.js';
import {
  BundleSet,
  bundleContentEquals,
  marshalBundle,
  parseBundle,
} from '../../src/bundle/index.js';
import { StoreError } from '../../src/errors.js';
import { parseTrustDomain } from '../../src/spiffeid/index.js';
import { verifyX509Svid } from '../../src/svid/index.js';
import {
  type AttestBody,
  TD,
  auditEvents,
  broker,
  call,
  clock,
  createEntry,
  deps,
  enrol,
  expectError,
  json,
  newToken,
  nowMs,
  research,
  solo,
  useAgentAppFixture,
} from './agent-app-fixture.js';

useAgentAppFixture();

describe('GET /v1/agent/bundle', () => {
  it('serves our bundle, byte for byte what marshalBundle gives, without authentication', async () => {
    const response = await call('/v1/agent/bundle');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    const bytes = Buffer.from(await response.arrayBuffer());
    expect(bytes.equals(marshalBundle(broker.ca.localBundle()))).toBe(true);
  });

  it('unknown routes and methods are 404 ERR_API_NOT_FOUND, with or without a certificate', async () => {
    const agent = await enrol(solo);
    for (const socket of [undefined, agent.socket]) {
      await expectError(await call('/v1/agent/nothing', { socket }), 404, 'ERR_API_NOT_FOUND');
      await expectError(
        await call('/v1/agent/x509svid', { method: 'GET', socket }),
        404,
        'ERR_API_NOT_FOUND',
      );
      await expectError(
        await call('/v1/agent/bundle', { method: 'POST', body: {}, socket }),
        404,
        'ERR_API_NOT_FOUND',
      );
    }
  });
});
describe('POST /v1/agent/attest', () => {
  it('ID-12: a template entry yields a fresh instance id per enrolment; the chain verifies', async () => {
    const ownBundle = new BundleSet([broker.ca.localBundle()]);
    const bodies: AttestBody[] = [];
    const keys: KeyObject[] = [];
    for (let i = 0; i < 2; i++) {
      const { publicKey, csrDer } = newKeyAndCsr();
      // First with PEM, then with base64 DER: both are accepted.
      const csr = i === 0 ? csrPem(csrDer) : csrDer.toString('base64');
      const response = await call('/v1/agent/attest', {
        body: { joinToken: await newToken(research), csr },
      });
      expect(response.status).toBe(200);
      bodies.push(await json<AttestBody>(response));
      keys.push(publicKey);
    }
    const [a, b] = bodies as [AttestBody, AttestBody];
    expect(a.instanceId).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(a.instanceId).not.toBe(b.instanceId);
    expect(a.spiffeId).not.toBe(b.spiffeId);
    for (const [index, body] of bodies.entries()) {
      expect(body.spiffeId).toBe(`spiffe://${TD}/agents/research/instance/${body.instanceId}`);
      expect(body.entryId).toBe(research.id);
      expect(body.brokerSpiffeId).toBe(broker.agentApiSpiffeId);
      // The bundle is a SPIFFE JSON object (not a string) equal to ours.
      expect(typeof body.bundle).toBe('object');
      const bundle = parseBundle(JSON.stringify(body.bundle), parseTrustDomain(TD));
      expect(bundleContentEquals(bundle, broker.ca.localBundle())).toBe(true);
      const chain = body.x509Svid.chain.map((b64) => Buffer.from(b64, 'base64'));
      const verified = verifyX509Svid(chain, ownBundle, { now: new Date(nowMs()) });
      expect(verified.spiffeId.toString()).toBe(body.spiffeId);
      expect(verified.expiresAt.toISOString()).toBe(body.x509Svid.expiresAt);
      // The certificate carries the CSR's key.
      const spki = keys[index]?.export({ format: 'der', type: 'spki' });
      expect(verified.leaf.subjectPublicKeyInfo.equals(spki as Buffer)).toBe(true);
    }
    const used = auditEvents.filter(
      (e) => e.type === 'token.used' && e.details?.['spiffeId'] === a.spiffeId,
    );
    expect(used).toHaveLength(1);
  });

  it('a fixed-ID entry gives exactly its ID and instanceId null', async () => {
    const agent = await enrol(solo);
    expect(agent.spiffeId).toBe(`spiffe://${TD}/agents/solo`);
    expect(agent.instanceId).toBeNull();
  });

  it('the SVID lifetime is bounded by the entry ttlSeconds', async () => {
    const entry = await createEntry('agents/short', { ttlSeconds: 120 });
    const before = nowMs();
    const { csrDer } = newKeyAndCsr();
    const response = await call('/v1/agent/attest', {
      body: { joinToken: await newToken(entry), csr: csrPem(csrDer) },
    });
    expect(response.status).toBe(200);
    const expiresAt = Date.parse((await json<AttestBody>(response)).x509Svid.expiresAt);
    expect(expiresAt).toBeLessThanOrEqual(before + 121_000);
    expect(expiresAt).toBeGreaterThan(before + 100_000);
  });

  const goodCsr = csrPem(newKeyAndCsr().csrDer);
  it.each([
    ['missing csr', { joinToken: 'fbjt_x' }],
    ['missing joinToken', { csr: goodCsr }],
    ['an extra field', { joinToken: 'fbjt_x', csr: goodCsr, spiffeId: `spiffe://${TD}/x` }],
    ['a non-string joinToken', { joinToken: 42, csr: goodCsr }],
    ['a non-string csr', { joinToken: 'fbjt_x', csr: { der: 'AAAA' } }],
    ['an empty csr', { joinToken: 'fbjt_x', csr: '' }],
    ['an oversize joinToken', { joinToken: `fbjt_${'a'.repeat(300)}`, csr: goodCsr }],
    ['an oversize csr', { joinToken: 'fbjt_x', csr: 'A'.repeat(16 * 1024 + 1) }],
    ['a csr that is neither PEM nor base64', { joinToken: 'fbjt_x', csr: 'not a csr!' }],
    [
      'a PEM csr with a non-base64 body',
      {
        joinToken: 'fbjt_x',
        csr: '-----BEGIN CERTIFICATE REQUEST-----\n@@@@\n-----END CERTIFICATE REQUEST-----\n',
      },
    ],
    ['a JSON array body', [1, 2]],
    ['a body that is not JSON', '{"joinToken":'],
  ])('%s → 400 ERR_API_VALIDATION', async (_name, body) => {
    await expectError(await call('/v1/agent/attest', { body }), 400, 'ERR_API_VALIDATION');
  });

  it('a base64 blob that is not a CSR → 400 ERR_CA_CSR_INVALID, and the token is not spent', async () => {
    const token = await newToken(solo);
    const response = await call('/v1/agent/attest', {
      body: { joinToken: token, csr: Buffer.from('hello, not a csr').toString('base64') },
    });
    await expectError(response, 400, 'ERR_CA_CSR_INVALID');
    const retry = await call('/v1/agent/attest', {
      body: { joinToken: token, csr: csrPem(newKeyAndCsr().csrDer) },
    });
    expect(retry.status).toBe(200);
  });
});

// POST /v1/agent/attest, continued: refused CSR signatures and join tokens.
describe('POST /v1/agent/attest', () => {
  it('a CSR with a bad signature → 400 ERR_CA_CSR_SIGNATURE, and the token is NOT spent', async () => {
    const token = await newToken(research);
    const { csrDer } = newKeyAndCsr();
    const forged = Buffer.from(csrDer);
    // The last byte is inside the ECDSA signature's s integer: still DER, no longer valid.
    forged[forged.length - 1] = (forged[forged.length - 1] ?? 0) ^ 0x01;
    await expectError(
      await call('/v1/agent/attest', { body: { joinToken: token, csr: csrPem(forged) } }),
      400,
      'ERR_CA_CSR_SIGNATURE',
    );
    // Someone else's key in the CSR signed by another key: also refused.
    const mine = newKeyAndCsr();
    const theirs = newKeyAndCsr();
    const mismatched = createCsrDer(mine.privateKey, theirs.publicKey);
    await expectError(
      await call('/v1/agent/attest', { body: { joinToken: token, csr: csrPem(mismatched) } }),
      400,
      'ERR_CA_CSR_SIGNATURE',
    );
    const retry = await call('/v1/agent/attest', {
      body: { joinToken: token, csr: csrPem(newKeyAndCsr().csrDer) },
    });
    expect(retry.status).toBe(200);
  });

  it('an unknown or malformed token → 401 ERR_REGISTRATION_TOKEN_INVALID', async () => {
    const csr = csrPem(newKeyAndCsr().csrDer);
    for (const joinToken of [`fbjt_${'A'.repeat(43)}`, 'fbjt_short', 'something-else']) {
      await expectError(
        await call('/v1/agent/attest', { body: { joinToken, csr } }),
        401,
        'ERR_REGISTRATION_TOKEN_INVALID',
      );
    }
  });

  it('a reused token → 401 ERR_REGISTRATION_TOKEN_INVALID', async () => {
    const token = await newToken(research);
    const first = await call('/v1/agent/attest', {
      body: { joinToken: token, csr: csrPem(newKeyAndCsr().csrDer) },
    });
    expect(first.status).toBe(200);
    await expectError(
      await call('/v1/agent/attest', {
        body: { joinToken: token, csr: csrPem(newKeyAndCsr().csrDer) },
      }),
      401,
      'ERR_REGISTRATION_TOKEN_INVALID',
    );
  });

  it('an expired token → 401 ERR_REGISTRATION_TOKEN_INVALID', async () => {
    const token = await newToken(solo, 30);
    clock.advanceMs(31_000);
    try {
      await expectError(
        await call('/v1/agent/attest', {
          body: { joinToken: token, csr: csrPem(newKeyAndCsr().csrDer) },
        }),
        401,
        'ERR_REGISTRATION_TOKEN_INVALID',
      );
    } finally {
      clock.advanceMs(-31_000);
    }
  });

  it('fails closed: when token.used cannot be written the enrolment answers 503 and no SVID, even though svid.issued was', async () => {
    const written: string[] = [];
    const failing = createAgentApp(
      deps({
        audit: async (event) => {
          if (event.type === 'token.used') {
            // Settles after svid.issued has been written: the answer must still wait for it.
            await new Promise((resolve) => setTimeout(resolve, 50));
            throw new StoreError('ERR_STORE_UNAVAILABLE', 'audit log unavailable');
          }
          written.push(event.type);
        },
      }),
    );
    const response = await call('/v1/agent/attest', {
      app: failing,
      body: { joinToken: await newToken(solo), csr: csrPem(newKeyAndCsr().csrDer) },
    });
    const text = await response.text();
    expect(response.status, text).toBe(503);
    expect(JSON.parse(text)).toMatchObject({ error: { code: 'ERR_STORE_UNAVAILABLE' } });
    expect(text).not.toContain('x509Svid');
    expect(written).toEqual(['svid.issued']);
  });

  it('a token is spent last: an enrolment answered 503 (an audit record not written) leaves it for a retry, which enrols', async () => {
    const failing = createAgentApp(
      deps({
        audit: async (event) => {
          if (event.type === 'svid.issued') {
            throw new StoreError('ERR_STORE_UNAVAILABLE', 'audit log unavailable');
          }
        },
      }),
    );
    const token = await newToken(solo);
    const body = (): { joinToken: string; csr: string } => ({
      joinToken: token,
      csr: csrPem(newKeyAndCsr().csrDer),
    });
    const refused = await call('/v1/agent/attest', { app: failing, body: body() });
    expect(refused.status, await refused.text()).toBe(503);
    const retried = await call('/v1/agent/attest', { body: body() });
    expect(retried.status, await retried.clone().text()).toBe(200);
    expect((await json<{ spiffeId: string }>(retried)).spiffeId).toBe(`spiffe://${TD}/agents/solo`);
    // Spent by that enrolment now.
    await expectError(
      await call('/v1/agent/attest', { body: body() }),
      401,
      'ERR_REGISTRATION_TOKEN_INVALID',
    );
  });

  it('concurrent enrolments with one token: exactly one SVID is handed out, the others are refused', async () => {
    const token = await newToken(solo);
    const before = auditEvents.length;
    const app = createAgentApp(deps()); // its own limit on refusals per address
    const responses = await Promise.all(
      Array.from({ length: 10 }, () =>
        call('/v1/agent/attest', {
          app,
          body: { joinToken: token, csr: csrPem(newKeyAndCsr().csrDer) },
        }),
      ),
    );
    const statuses = responses.map((r) => r.status).sort();
    expect(statuses).toEqual([200, ...Array.from({ length: 9 }, () => 401)]);
    // The others were refused before any record or signature: one enrolment of a token at a time.
    const events = auditEvents.slice(before).map((event) => event.type);
    expect(events.sort()).toEqual(['svid.issued', 'token.used']);
  });

  it('a token whose entry was deleted → 401 ERR_REGISTRATION_TOKEN_INVALID', async () => {
    const entry = await createEntry('agents/gone');
    const token = await newToken(entry);
    await broker.registration.deleteEntry(entry.id);
    await expectError(
      await call('/v1/agent/attest', {
        body: { joinToken: token, csr: csrPem(newKeyAndCsr().csrDer) },
      }),
      401,
      'ERR_REGISTRATION_TOKEN_INVALID',
    );
  });
});

describe('POST /v1/agent/attest: refused join tokens per source address', () => {
  const from = (remoteAddress: string): { remoteAddress: string } => ({ remoteAddress });

  it('past 10 refused tokens in a minute an address gets 429 ERR_API_RATE_LIMITED at once, even with a good token (not spent); other addresses enrol', async () => {
    const limited = createAgentApp(deps());
    const csr = csrPem(newKeyAndCsr().csrDer);
    const guess = (i: number): string => `fbjt_${String(i).padStart(43, 'A')}`;
    for (let i = 0; i < 10; i++) {
      await expectError(
        await call('/v1/agent/attest', {
          app: limited,
          socket: from('192.0.2.7'),
          body: { joinToken: guess(i), csr },
        }),
        401,
        'ERR_REGISTRATION_TOKEN_INVALID',
      );
    }
    const token = await newToken(solo);
    const refused = await call('/v1/agent/attest', {
      app: limited,
      socket: from('192.0.2.7'),
      body: { joinToken: token, csr },
    });
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
    await expectError(refused, 429, 'ERR_API_RATE_LIMITED');
    // Refused before anything else: not even a broken body is read.
    await expectError(
      await call('/v1/agent/attest', { app: limited, socket: from('192.0.2.7'), body: 'not json' }),
      429,
      'ERR_API_RATE_LIMITED',
    );
    // The token was not spent, and another address is not held back.
    const enrolled = await call('/v1/agent/attest', {
      app: limited,
      socket: from('198.51.100.9'),
      body: { joinToken: token, csr },
    });
    expect(enrolled.status).toBe(200);
    // Once the window is over the address may try again.
    clock.advanceMs(60_000);
    try {
      const again = await call('/v1/agent/attest', {
        app: limited,
        socket: from('192.0.2.7'),
        body: { joinToken: await newToken(solo), csr: csrPem(newKeyAndCsr().csrDer) },
      });
      expect(again.status).toBe(200);
    } finally {
      clock.advanceMs(-60_000);
    }
  });

  it('refused CSRs count against an address like refused tokens (no checking signatures without end for a caller without a token); good enrolments do not', async () => {
    const limited = createAgentApp(deps());
    const source = from('192.0.2.8');
    const good = (): string => csrPem(newKeyAndCsr().csrDer);
    for (let i = 0; i < 3; i++) {
      const ok = await call('/v1/agent/attest', {
        app: limited,
        socket: source,
        body: { joinToken: await newToken(solo), csr: good() },
      });
      expect(ok.status).toBe(200);
    }
    const der = newKeyAndCsr().csrDer;
    der[der.length - 1] = (der[der.length - 1] as number) ^ 1;
    const refused = [
      { csr: 'bm90IGEgY3Ny', code: 'ERR_CA_CSR_INVALID' },
      { csr: csrPem(der), code: 'ERR_CA_CSR_SIGNATURE' },
    ];
    const unknownToken = `fbjt_${'B'.repeat(43)}`;
    for (let i = 0; i < 10; i++) {
      const { csr, code } = refused[i % 2] as (typeof refused)[number];
      await expectError(
        await call('/v1/agent/attest', {
          app: limited,
          socket: source,
          body: { joinToken: unknownToken, csr },
        }),
        400,
        code,
      );
    }
    await expectError(
      await call('/v1/agent/attest', {
        app: limited,
        socket: source,
        body: { joinToken: unknownToken, csr: csrPem(der) },
      }),
      429,
      'ERR_API_RATE_LIMITED',
    );
    // The address is now held back before its CSR is checked; a good token sent meanwhile is not
    // spent, and another address is not held back.
    const token = await newToken(solo);
    await expectError(
      await call('/v1/agent/attest', {
        app: limited,
        socket: source,
        body: { joinToken: token, csr: good() },
      }),
      429,
      'ERR_API_RATE_LIMITED',
    );
    const elsewhere = await call('/v1/agent/attest', {
      app: limited,
      socket: from('198.51.100.10'),
      body: { joinToken: token, csr: good() },
    });
    expect(elsewhere.status).toBe(200);
  });
});
