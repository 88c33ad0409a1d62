// The agent API through app.request(): join-token enrolment, then mTLS (simulated with the socket
// binding @hono/node-server sets, carrying REAL certificate chains) for renewal, JWT-SVIDs, the
// bundles an entry allows (FED-30: keyed by trust domain, never pooled), the watch stream and
// JWT-SVID validation. Built on a real test broker's ca, registration and federation.
import { X509Certificate, type KeyObject } from 'node:crypto';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCsrDer, csrPem, newKeyAndCsr } from '../../src/agent/index.js';
import { createAgentApp, peerChainDer, type AgentDeps } from '../../src/api/agent-app.js';
import {
  type Bundle,
  BundleSet,
  bundleContentEquals,
  marshalBundle,
  parseBundle,
} from '../../src/bundle/index.js';
import { StoreError } from '../../src/errors.js';
import type { Entry } from '../../src/registration/index.js';
import type { Broker } from '../../src/main.js';
import { parseSpiffeId, parseTrustDomain } from '../../src/spiffeid/index.js';
import { validateJwtSvid, verifyX509Svid } from '../../src/svid/index.js';
import { startTestBroker } from '../helpers/broker.js';
import { bundlesEventBody, SseReader, type SseEvent } from '../helpers/sse-reader.js';
import { bundleOf, createCa, createJwtKey, createLeaf, type TestJwtKey } from '../helpers/pki.js';

const TD = 'agents.test';
const PARTNER = 'partner.test';
const OTHER = 'other.test';
const UNREACHABLE = 'https://127.0.0.1:9/bundle';
const HEARTBEAT_MS = 150;

type AgentApp = ReturnType<typeof createAgentApp>;
type AuditEvent = Parameters<AgentDeps['audit']>[0];

/** The broker's clock (and the app's): real time plus an offset a test may move. */
let clockOffsetMs = 0;
const nowMs = (): number => Date.now() + clockOffsetMs;

let broker: Broker;
let controller: AbortController;
let app: AgentApp;
const auditEvents: AuditEvent[] = [];

let partnerCa: Awaited<ReturnType<typeof createCa>>;
let partnerJwt: TestJwtKey;
let otherCa: Awaited<ReturnType<typeof createCa>>;
let otherJwt: TestJwtKey;
/** Template entry federating with PARTNER only. */
let research: Entry;
/** Fixed-ID entry without federatesWith. */
let solo: Entry;
let entryCounter = 0;

function deps(overrides: Partial<AgentDeps> = {}): AgentDeps {
  return {
    ca: broker.ca,
    registration: broker.registration,
    federation: broker.federation,
    audit: async (event) => {
      auditEvents.push(event);
    },
    logger: { info() {}, warn() {}, error() {} },
    now: nowMs,
    serverSpiffeId: () => broker.agentApiSpiffeId,
    signal: controller.signal,
    watchHeartbeatMs: HEARTBEAT_MS,
    ...overrides,
  };
}

// --- mTLS simulation -----------------------------------------------------------------------------

interface DetailedCert {
  raw: Buffer;
  fingerprint256: string;
  issuerCertificate?: DetailedCert;
}

/**
 * Node's detailed peer certificate for a chain as sent (leaf first): each certificate links to the
 * next; a self-issued last certificate is its own issuer, otherwise the link is absent.
 */
function peerCertificateOf(chain: readonly Buffer[]): DetailedCert {
  const certs = chain.map((der) => ({ der, x509: new X509Certificate(der) }));
  const nodes: DetailedCert[] = certs.map(({ der, x509 }) => ({
    raw: der,
    fingerprint256: x509.fingerprint256,
  }));
  nodes.forEach((node, index) => {
    const next = nodes[index + 1];
    if (next !== undefined) node.issuerCertificate = next;
    else if (certs[index]?.x509.checkIssued(certs[index].x509)) node.issuerCertificate = node;
  });
  const leaf = nodes[0];
  if (leaf === undefined) throw new TypeError('empty chain');
  return leaf;
}

function socketFor(chain: readonly Buffer[]): { getPeerCertificate(detailed?: boolean): unknown } {
  const leaf = peerCertificateOf(chain);
  return { getPeerCertificate: () => leaf };
}

// --- requests ------------------------------------------------------------------------------------

interface CallOptions {
  readonly method?: string;
  readonly body?: unknown;
  readonly socket?: unknown;
  readonly app?: AgentApp;
}

async function call(path: string, options: CallOptions = {}): Promise<Response> {
  const { body, socket } = options;
  const init: RequestInit = {
    method: options.method ?? (body === undefined ? 'GET' : 'POST'),
    ...(body === undefined
      ? {}
      : {
          headers: { 'content-type': 'application/json' },
          body: typeof body === 'string' ? body : JSON.stringify(body),
        }),
  };
  return (options.app ?? app).request(
    path,
    init,
    socket === undefined ? undefined : { incoming: { socket } },
  );
}

async function json<T = Record<string, unknown>>(response: Response): Promise<T> {
  return (await response.json()) as T;
}

async function expectError(response: Response, status: number, code: string): Promise<string> {
  const text = await response.text();
  expect({ status: response.status, text }).toMatchObject({ status });
  const body = JSON.parse(text) as { error: { code: string; message: string; requestId: string } };
  expect(body.error.code).toBe(code);
  expect(typeof body.error.requestId).toBe('string');
  return body.error.message;
}

// --- agents --------------------------------------------------------------------------------------

interface AttestBody {
  spiffeId: string;
  instanceId: string | null;
  entryId: string;
  brokerSpiffeId: string;
  bundle: Record<string, unknown>;
  x509Svid: { chain: string[]; expiresAt: string };
}

interface Agent {
  readonly spiffeId: string;
  readonly instanceId: string | null;
  readonly chain: Buffer[];
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly socket: unknown;
}

async function newToken(entry: Entry, ttlSeconds?: number): Promise<string> {
  const created = await broker.registration.createToken(entry.id, {
    actor: 'test',
    ...(ttlSeconds === undefined ? {} : { ttlSeconds }),
  });
  return created.token;
}

async function enrol(entry: Entry): Promise<Agent> {
  const { privateKey, publicKey, csrDer } = newKeyAndCsr();
  const response = await call('/v1/agent/attest', {
    body: { joinToken: await newToken(entry), csr: csrPem(csrDer) },
  });
  expect(response.status).toBe(200);
  const body = await json<AttestBody>(response);
  const chain = body.x509Svid.chain.map((b64) => Buffer.from(b64, 'base64'));
  return {
    spiffeId: body.spiffeId,
    instanceId: body.instanceId,
    chain,
    privateKey,
    publicKey,
    socket: socketFor(chain),
  };
}

async function createEntry(
  path: string,
  options: { federatesWith?: string[]; ttlSeconds?: number } = {},
): Promise<Entry> {
  entryCounter += 1;
  return broker.registration.createEntry(
    { spiffeId: `spiffe://${TD}/${path}-${entryCounter}`, ...options },
    'test',
  );
}

/** A partner relationship, approved, with `bundle` forced in (no network fetch). */
async function addPartner(trustDomain: string, bundle: Bundle): Promise<void> {
  await broker.federation.create(
    { trustDomain, url: UNREACHABLE, profile: 'https_web' },
    { actor: 'test' },
  );
  await broker.federation.transition(trustDomain, 'approve', { actor: 'test' });
  await broker.federation.forceBundle(trustDomain, marshalBundle(bundle).toString('utf8'), {
    actor: 'test',
  });
}

/** The bundles of a /bundles body (or watch event), re-parsed per trust domain key. */
function bundlesOf(body: { bundles: Record<string, unknown> }): Map<string, Bundle> {
  const out = new Map<string, Bundle>();
  for (const [name, value] of Object.entries(body.bundles)) {
    out.set(name, parseBundle(JSON.stringify(value), parseTrustDomain(name)));
  }
  return out;
}

async function partnerJwtSvid(
  key: TestJwtKey,
  claims: { sub: string; aud: string | string[] },
): Promise<string> {
  const iat = Math.floor(nowMs() / 1000);
  return new SignJWT({ ...claims, iat, exp: iat + 300 })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
    .sign(key.privateKey);
}

// --- setup ---------------------------------------------------------------------------------------

beforeAll(async () => {
  broker = await startTestBroker({ trustDomain: TD, now: nowMs });
  controller = new AbortController();
  app = createAgentApp(deps());
  partnerCa = await createCa({ trustDomain: PARTNER });
  partnerJwt = await createJwtKey('ES256');
  otherCa = await createCa({ trustDomain: OTHER });
  otherJwt = await createJwtKey('ES256');
  await addPartner(PARTNER, bundleOf(PARTNER, [partnerCa], [partnerJwt]));
  await addPartner(OTHER, bundleOf(OTHER, [otherCa], [otherJwt]));
  research = await broker.registration.createEntry(
    { spiffeId: `spiffe://${TD}/agents/research/instance/{instance}`, federatesWith: [PARTNER] },
    'test',
  );
  solo = await broker.registration.createEntry({ spiffeId: `spiffe://${TD}/agents/solo` }, 'test');
});

afterAll(async () => {
  controller?.abort();
  await broker?.stop();
});

// --- tests ---------------------------------------------------------------------------------------

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
    clockOffsetMs += 31_000;
    try {
      await expectError(
        await call('/v1/agent/attest', {
          body: { joinToken: token, csr: csrPem(newKeyAndCsr().csrDer) },
        }),
        401,
        'ERR_REGISTRATION_TOKEN_INVALID',
      );
    } finally {
      clockOffsetMs -= 31_000;
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
    clockOffsetMs += 60_000;
    try {
      const again = await call('/v1/agent/attest', {
        app: limited,
        socket: from('192.0.2.7'),
        body: { joinToken: await newToken(solo), csr: csrPem(newKeyAndCsr().csrDer) },
      });
      expect(again.status).toBe(200);
    } finally {
      clockOffsetMs -= 60_000;
    }
  });

  it('bad CSRs and good enrolments do not count against an address; only refused tokens do', async () => {
    const limited = createAgentApp(deps());
    for (let i = 0; i < 12; i++) {
      await expectError(
        await call('/v1/agent/attest', {
          app: limited,
          socket: from('192.0.2.8'),
          body: { joinToken: `fbjt_${'B'.repeat(43)}`, csr: 'bm90IGEgY3Ny' },
        }),
        400,
        'ERR_CA_CSR_INVALID',
      );
    }
    const ok = await call('/v1/agent/attest', {
      app: limited,
      socket: from('192.0.2.8'),
      body: { joinToken: await newToken(solo), csr: csrPem(newKeyAndCsr().csrDer) },
    });
    expect(ok.status).toBe(200);
  });
});

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
    clockOffsetMs += 120_000;
    try {
      const message = await expectError(
        await call(path, { method, body, socket }),
        401,
        'ERR_API_UNAUTHENTICATED',
      );
      expect(message).toContain('ERR_SVID_CERT_EXPIRED');
    } finally {
      clockOffsetMs -= 120_000;
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

describe('GET /v1/agent/bundles', () => {
  it('FED-30: an entry federating with a partner gets own + partner, keyed by trust domain, never pooled', async () => {
    const agent = await enrol(research);
    const response = await call('/v1/agent/bundles', { socket: agent.socket });
    expect(response.status).toBe(200);
    const bundles = bundlesOf(await json<{ bundles: Record<string, unknown> }>(response));
    expect([...bundles.keys()]).toEqual([PARTNER, TD].sort());
    expect(bundleContentEquals(bundles.get(TD) as Bundle, broker.ca.localBundle())).toBe(true);
    const partner = bundles.get(PARTNER) as Bundle;
    expect(partner.x509Authorities.map((a) => a.fingerprintSha256)).toEqual(
      bundleOf(PARTNER, [partnerCa]).x509Authorities.map((a) => a.fingerprintSha256),
    );
    expect([...partner.jwtAuthorities.keys()]).toEqual([partnerJwt.kid]);
    // Never pooled: our bundle holds none of the partner's keys.
    const own = bundles.get(TD) as Bundle;
    expect(own.jwtAuthorities.has(partnerJwt.kid)).toBe(false);
    expect(own.x509Authorities.length).toBe(broker.ca.localBundle().x509Authorities.length);
  });

  it('FED-30: an entry without federatesWith gets only our bundle; an active partner not listed is absent', async () => {
    const agent = await enrol(solo);
    const response = await call('/v1/agent/bundles', { socket: agent.socket });
    expect(response.status).toBe(200);
    const bundles = bundlesOf(await json<{ bundles: Record<string, unknown> }>(response));
    expect([...bundles.keys()]).toEqual([TD]);
    // OTHER is active and trusted by the broker, yet the research entry does not list it.
    expect(broker.federation.trustedBundles([OTHER]).size).toBe(1);
    const researcher = await enrol(research);
    const theirs = bundlesOf(
      await json<{ bundles: Record<string, unknown> }>(
        await call('/v1/agent/bundles', { socket: researcher.socket }),
      ),
    );
    expect(theirs.has(OTHER)).toBe(false);
  });

  it('a listed partner that is not (yet) trusted is simply absent', async () => {
    const entry = await createEntry('agents/unknown-partner', { federatesWith: ['nobody.test'] });
    const agent = await enrol(entry);
    const bundles = bundlesOf(
      await json<{ bundles: Record<string, unknown> }>(
        await call('/v1/agent/bundles', { socket: agent.socket }),
      ),
    );
    expect([...bundles.keys()]).toEqual([TD]);
  });

  it('a suspended partner disappears (and comes back on resume)', async () => {
    const fleeting = 'fleeting.test';
    await addPartner(fleeting, bundleOf(fleeting, [await createCa({ trustDomain: fleeting })]));
    const entry = await createEntry('agents/fleeting', { federatesWith: [fleeting] });
    const agent = await enrol(entry);
    const names = async (): Promise<string[]> => [
      ...bundlesOf(
        await json<{ bundles: Record<string, unknown> }>(
          await call('/v1/agent/bundles', { socket: agent.socket }),
        ),
      ).keys(),
    ];
    expect(await names()).toEqual([fleeting, TD].sort());
    await broker.federation.transition(fleeting, 'suspend', { actor: 'test' });
    expect(await names()).toEqual([TD]);
    await broker.federation.transition(fleeting, 'resume', { actor: 'test' });
    expect(await names()).toEqual([fleeting, TD].sort());
  });
});

describe('GET /v1/agent/bundles/watch', () => {
  it('sends the allowed set, then a new event on partner bundle change and on suspension', async () => {
    const watched = 'watched.test';
    const firstCa = await createCa({ trustDomain: watched });
    await addPartner(watched, bundleOf(watched, [firstCa]));
    const entry = await createEntry('agents/watcher', { federatesWith: [watched] });
    const agent = await enrol(entry);
    const response = await call('/v1/agent/bundles/watch', { socket: agent.socket });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const sse = new SseReader(response.body);
    try {
      const first = await sse.nextOf('bundles');
      let bundles = bundlesOf(bundlesEventBody(first));
      expect([...bundles.keys()]).toEqual([TD, watched].sort());
      expect(bundles.get(watched)?.x509Authorities.map((a) => a.fingerprintSha256)).toEqual(
        bundleOf(watched, [firstCa]).x509Authorities.map((a) => a.fingerprintSha256),
      );

      // FED-31: the partner's new bundle replaces the old one.
      const secondCa = await createCa({ trustDomain: watched });
      await broker.federation.forceBundle(
        watched,
        marshalBundle(bundleOf(watched, [secondCa])).toString('utf8'),
        { actor: 'test' },
      );
      const second = await sse.nextOf('bundles');
      expect(Number(second.id)).toBeGreaterThan(Number(first.id));
      bundles = bundlesOf(bundlesEventBody(second));
      expect(bundles.get(watched)?.x509Authorities.map((a) => a.fingerprintSha256)).toEqual(
        bundleOf(watched, [secondCa]).x509Authorities.map((a) => a.fingerprintSha256),
      );

      await broker.federation.transition(watched, 'suspend', { actor: 'test' });
      const third = await sse.nextOf('bundles');
      expect([...bundlesOf(bundlesEventBody(third)).keys()]).toEqual([TD]);
    } finally {
      await sse.cancel();
    }
  });

  it('a change of our own bundle (a prepared JWT key is published) sends a new event', async () => {
    const agent = await enrol(solo);
    const response = await call('/v1/agent/bundles/watch', { socket: agent.socket });
    const sse = new SseReader(response.body);
    try {
      const first = bundlesOf(bundlesEventBody(await sse.nextOf('bundles'))).get(TD) as Bundle;
      const prepared = await broker.ca.prepare('jwt');
      const second = bundlesOf(bundlesEventBody(await sse.nextOf('bundles'))).get(TD) as Bundle;
      expect(first.jwtAuthorities.has(prepared.id)).toBe(false);
      expect(second.jwtAuthorities.has(prepared.id)).toBe(true);
      expect(bundleContentEquals(second, broker.ca.localBundle())).toBe(true);
    } finally {
      await sse.cancel();
    }
  });

  it('changes to partners the entry does not list send nothing new (only keep-alives)', async () => {
    const agent = await enrol(solo);
    const response = await call('/v1/agent/bundles/watch', { socket: agent.socket });
    const sse = new SseReader(response.body);
    try {
      await sse.nextOf('bundles');
      await broker.federation.forceBundle(
        OTHER,
        marshalBundle(
          bundleOf(OTHER, [otherCa, await createCa({ trustDomain: OTHER })], [otherJwt]),
        ).toString('utf8'),
        { actor: 'test' },
      );
      await expect(sse.next(HEARTBEAT_MS * 4)).rejects.toThrow(/no SSE data/);
    } finally {
      await sse.cancel();
    }
  });

  it('deleting the entry sends `event: end` and closes the stream', async () => {
    const entry = await createEntry('agents/watch-deleted');
    const agent = await enrol(entry);
    const response = await call('/v1/agent/bundles/watch', { socket: agent.socket });
    const sse = new SseReader(response.body);
    try {
      await sse.nextOf('bundles');
      await broker.registration.deleteEntry(entry.id);
      const end = await sse.next();
      expect(end).not.toBe('closed');
      expect((end as SseEvent).event).toBe('end');
      expect(await sse.next()).toBe('closed');
    } finally {
      await sse.cancel();
    }
  });

  it('deleting the entry ends the stream at once, without waiting for a heartbeat', async () => {
    const local = createAgentApp(deps({ watchHeartbeatMs: 60_000 }));
    const entry = await createEntry('agents/watch-deleted-now');
    const agent = await enrol(entry);
    const response = await call('/v1/agent/bundles/watch', { socket: agent.socket, app: local });
    const sse = new SseReader(response.body);
    try {
      await sse.nextOf('bundles');
      await broker.registration.deleteEntry(entry.id);
      // Well under the 60 s heartbeat: only the registration change notification can wake it.
      const end = await sse.next(5_000);
      expect(end).not.toBe('closed');
      expect((end as SseEvent).event).toBe('end');
    } finally {
      await sse.cancel();
    }
  });

  it('the stream ends when the SVID expires', async () => {
    const { publicKey } = newKeyAndCsr();
    const issued = await broker.ca.issueX509Svid({
      spiffeId: `spiffe://${TD}/agents/solo`,
      publicKey,
      ttlSeconds: 60,
    });
    const response = await call('/v1/agent/bundles/watch', {
      socket: socketFor(issued.chainDer),
    });
    const sse = new SseReader(response.body);
    try {
      await sse.nextOf('bundles');
      clockOffsetMs += 120_000;
      const end = await sse.next();
      expect((end as SseEvent).event).toBe('end');
      expect(await sse.next()).toBe('closed');
    } finally {
      clockOffsetMs -= 120_000;
      await sse.cancel();
    }
  });

  it('aborting the broker signal ends the stream; a watch opened after shutdown ends at once', async () => {
    const own = new AbortController();
    const local = createAgentApp(deps({ signal: own.signal, watchHeartbeatMs: 60_000 }));
    const agent = await enrol(solo);
    const response = await call('/v1/agent/bundles/watch', { socket: agent.socket, app: local });
    const sse = new SseReader(response.body);
    try {
      await sse.nextOf('bundles');
      own.abort();
      expect(await sse.next()).toBe('closed');
    } finally {
      await sse.cancel();
    }
    const late = await call('/v1/agent/bundles/watch', { socket: agent.socket, app: local });
    const lateSse = new SseReader(late.body);
    try {
      // The stream closes at once instead of idling until a heartbeat.
      expect(await lateSse.next(2_000)).toBe('closed');
    } finally {
      await lateSse.cancel();
    }
  });

  it('a change signalled while the stream is busy is not lost (no heartbeat needed)', async () => {
    // A federation view that changes, and says so, while the stream builds its first event.
    const extraTd = 'late.test';
    const extra = bundleOf(extraTd, [await createCa({ trustDomain: extraTd })]);
    const entry = await createEntry('agents/race', { federatesWith: [extraTd] });
    const listeners = new Set<() => void>();
    let withExtra = false;
    let reads = 0;
    const federation: AgentDeps['federation'] = {
      trustedBundles(names) {
        reads += 1;
        const set = withExtra && names?.includes(extraTd) ? [extra] : [];
        if (reads === 1) {
          withExtra = true;
          for (const listener of listeners) listener();
        }
        return new BundleSet(set);
      },
      onChange(listener) {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
      refreshOnUnknownKey: async () => false,
    };
    const own = new AbortController();
    const local = createAgentApp(
      deps({ federation, signal: own.signal, watchHeartbeatMs: 60_000 }),
    );
    const agent = await enrol(entry);
    const response = await call('/v1/agent/bundles/watch', { socket: agent.socket, app: local });
    const sse = new SseReader(response.body);
    try {
      const first = await sse.nextOf('bundles');
      expect([...bundlesOf(bundlesEventBody(first)).keys()]).toEqual([TD]);
      const second = await sse.nextOf('bundles', 3_000);
      expect([...bundlesOf(bundlesEventBody(second)).keys()]).toEqual([extraTd, TD].sort());
    } finally {
      own.abort();
      await sse.cancel();
    }
  });
});

describe('GET /v1/agent/bundles/watch failures', () => {
  it('a failure inside the stream closes it and goes to the log, not to the caller', async () => {
    const errors: { message: string; fields: Readonly<Record<string, unknown>> | undefined }[] = [];
    let lookups = 0;
    const registration: AgentDeps['registration'] = {
      enrol: (token) => broker.registration.enrol(token),
      async entryFor(id) {
        lookups += 1;
        // 1: the mTLS check, 2: the first event; then the store "goes away".
        if (lookups >= 3) throw new Error('store went away');
        return broker.registration.entryFor(id);
      },
    };
    const own = new AbortController();
    const local = createAgentApp(
      deps({
        registration,
        signal: own.signal,
        logger: {
          info() {},
          warn() {},
          error: (message, fields) => errors.push({ message, fields }),
        },
      }),
    );
    const agent = await enrol(solo);
    const response = await call('/v1/agent/bundles/watch', { socket: agent.socket, app: local });
    const sse = new SseReader(response.body);
    try {
      await sse.nextOf('bundles');
      expect(await sse.next()).toBe('closed');
      expect(errors).toHaveLength(1);
      expect(errors[0]?.fields?.['error']).toBe('store went away');
    } finally {
      own.abort();
      await sse.cancel();
    }
  });
});

describe('POST /v1/agent/jwt/validate', () => {
  it('JWT-16: a partner JWT-SVID validates for an agent whose entry federates with the partner', async () => {
    const agent = await enrol(research);
    const token = await partnerJwtSvid(partnerJwt, {
      sub: `spiffe://${PARTNER}/payments`,
      aud: 'research-api',
    });
    const response = await call('/v1/agent/jwt/validate', {
      body: { token, audience: 'research-api' },
      socket: agent.socket,
    });
    expect(response.status).toBe(200);
    const body = await json<{
      spiffeId: string;
      trustDomain: string;
      audience: string[];
      expiresAt: string;
      claims: Record<string, unknown>;
    }>(response);
    expect(body.spiffeId).toBe(`spiffe://${PARTNER}/payments`);
    expect(body.trustDomain).toBe(PARTNER);
    expect(body.audience).toEqual(['research-api']);
    expect(body.claims['sub']).toBe(`spiffe://${PARTNER}/payments`);
    expect(typeof body.claims['exp']).toBe('number');
    expect(new Date((body.claims['exp'] as number) * 1000).toISOString()).toBe(body.expiresAt);
  });

  it('FED-30/JWT-16: the same token for an agent without the partner → 400 ERR_SVID_JWT_NO_BUNDLE', async () => {
    const agent = await enrol(solo);
    const token = await partnerJwtSvid(partnerJwt, {
      sub: `spiffe://${PARTNER}/payments`,
      aud: 'research-api',
    });
    await expectError(
      await call('/v1/agent/jwt/validate', {
        body: { token, audience: 'research-api' },
        socket: agent.socket,
      }),
      400,
      'ERR_SVID_JWT_NO_BUNDLE',
    );
  });

  it('FED-30/JWT-17: a token claiming the partner but signed with another trusted domain key is refused', async () => {
    // OTHER's key is trusted by the broker, and this entry lists both partners: still only
    // PARTNER's own keys may verify PARTNER's IDs (one bundle per trust domain, never pooled).
    const entry = await createEntry('agents/both', { federatesWith: [PARTNER, OTHER] });
    const agent = await enrol(entry);
    const token = await partnerJwtSvid(otherJwt, {
      sub: `spiffe://${PARTNER}/payments`,
      aud: 'research-api',
    });
    await expectError(
      await call('/v1/agent/jwt/validate', {
        body: { token, audience: 'research-api' },
        socket: agent.socket,
      }),
      400,
      'ERR_SVID_JWT_KID_UNKNOWN',
    );
    // The same key signing an OTHER ID is fine for this agent.
    const own = await partnerJwtSvid(otherJwt, {
      sub: `spiffe://${OTHER}/api`,
      aud: 'research-api',
    });
    const response = await call('/v1/agent/jwt/validate', {
      body: { token: own, audience: 'research-api' },
      socket: agent.socket,
    });
    expect(response.status).toBe(200);
    expect((await json<{ trustDomain: string }>(response)).trustDomain).toBe(OTHER);
  });

  it('JWT-19: wrong audience → 400 ERR_SVID_JWT_AUD', async () => {
    const agent = await enrol(research);
    const token = await partnerJwtSvid(partnerJwt, {
      sub: `spiffe://${PARTNER}/payments`,
      aud: 'someone-else',
    });
    await expectError(
      await call('/v1/agent/jwt/validate', {
        body: { token, audience: 'research-api' },
        socket: agent.socket,
      }),
      400,
      'ERR_SVID_JWT_AUD',
    );
  });

  it('JWT-10: a malformed token → 400 ERR_SVID_JWT_MALFORMED', async () => {
    const agent = await enrol(solo);
    await expectError(
      await call('/v1/agent/jwt/validate', {
        body: { token: 'not-a-jwt', audience: 'x' },
        socket: agent.socket,
      }),
      400,
      'ERR_SVID_JWT_MALFORMED',
    );
  });

  it('our own JWT-SVID validates for another agent', async () => {
    const issuer = await enrol(research);
    const minted = await call('/v1/agent/jwtsvid', {
      body: { audience: ['solo-api'] },
      socket: issuer.socket,
    });
    const { token } = await json<{ token: string }>(minted);
    const verifier = await enrol(solo);
    const response = await call('/v1/agent/jwt/validate', {
      body: { token, audience: 'solo-api' },
      socket: verifier.socket,
    });
    expect(response.status).toBe(200);
    const body = await json<{ spiffeId: string; trustDomain: string }>(response);
    expect(body.spiffeId).toBe(issuer.spiffeId);
    expect(body.trustDomain).toBe(TD);
    expect(parseSpiffeId(body.spiffeId).trustDomain.name).toBe(TD);
  });

  it.each([
    ['missing token', { audience: 'x' }],
    ['missing audience', { token: 'a.b.c' }],
    ['an audience array', { token: 'a.b.c', audience: ['x'] }],
    ['an empty token', { token: '', audience: 'x' }],
    ['an oversize token', { token: 'a'.repeat(16 * 1024 + 1), audience: 'x' }],
    ['an extra field', { token: 'a.b.c', audience: 'x', trustDomain: PARTNER }],
  ])('%s → 400 ERR_API_VALIDATION', async (_name, body) => {
    const agent = await enrol(solo);
    await expectError(
      await call('/v1/agent/jwt/validate', { body, socket: agent.socket }),
      400,
      'ERR_API_VALIDATION',
    );
  });
});
