// The agent API fixture for the agent-app-*.test.ts files, through app.request(): a real test broker
// (ca, registration, federation) with two partners, join-token enrolment, and mTLS simulated with
// the socket binding @hono/node-server sets, carrying REAL certificate chains.
import { X509Certificate, type KeyObject } from 'node:crypto';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, expect } from 'vitest';
import { csrPem, newKeyAndCsr } from '../../src/agent/index.js';
import { createAgentApp, type AgentDeps } from '../../src/api/agent-app.js';
import { type Bundle, parseBundle } from '../../src/bundle/index.js';
import type { Entry } from '../../src/registration/index.js';
import type { Broker } from '../../src/main.js';
import { parseTrustDomain } from '../../src/spiffeid/index.js';
import { approvePartner, startTestBroker } from '../helpers/broker.js';
import { testClock } from '../helpers/clock.js';
import { bundleOf, createCa, createJwtKey, type TestJwtKey } from '../helpers/pki.js';

export const TD = 'agents.test';
export const PARTNER = 'partner.test';
export const OTHER = 'other.test';
export const HEARTBEAT_MS = 150;

export type AgentApp = ReturnType<typeof createAgentApp>;
export type AuditEvent = Parameters<AgentDeps['audit']>[0];

/** The broker's clock (and the app's): real time plus an offset a test may move (and move back). */
export const clock = testClock(Date.now(), { followWallClock: true });
export const nowMs = clock.nowMs;

export let broker: Broker;
let controller: AbortController;
export let app: AgentApp;
export const auditEvents: AuditEvent[] = [];

export let partnerCa: Awaited<ReturnType<typeof createCa>>;
export let partnerJwt: TestJwtKey;
export let otherCa: Awaited<ReturnType<typeof createCa>>;
export let otherJwt: TestJwtKey;
/** Template entry federating with PARTNER only. */
export let research: Entry;
/** Fixed-ID entry without federatesWith. */
export let solo: Entry;
let entryCounter = 0;

export function deps(overrides: Partial<AgentDeps> = {}): AgentDeps {
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

export function socketFor(chain: readonly Buffer[]): {
  getPeerCertificate(detailed?: boolean): unknown;
} {
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

export async function call(path: string, options: CallOptions = {}): Promise<Response> {
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

export async function json<T = Record<string, unknown>>(response: Response): Promise<T> {
  return (await response.json()) as T;
}

export async function expectError(
  response: Response,
  status: number,
  code: string,
): Promise<string> {
  const text = await response.text();
  expect({ status: response.status, text }).toMatchObject({ status });
  const body = JSON.parse(text) as { error: { code: string; message: string; requestId: string } };
  expect(body.error.code).toBe(code);
  expect(typeof body.error.requestId).toBe('string');
  return body.error.message;
}

// --- agents --------------------------------------------------------------------------------------

export interface AttestBody {
  spiffeId: string;
  instanceId: string | null;
  entryId: string;
  brokerSpiffeId: string;
  bundle: Record<string, unknown>;
  x509Svid: { chain: string[]; expiresAt: string };
}

export interface Agent {
  readonly spiffeId: string;
  readonly instanceId: string | null;
  readonly chain: Buffer[];
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly socket: unknown;
}

export async function newToken(entry: Entry, ttlSeconds?: number): Promise<string> {
  const created = await broker.registration.createToken(entry.id, {
    actor: 'test',
    ...(ttlSeconds === undefined ? {} : { ttlSeconds }),
  });
  return created.token;
}

export async function enrol(entry: Entry): Promise<Agent> {
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

export async function createEntry(
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
export async function addPartner(trustDomain: string, bundle: Bundle): Promise<void> {
  await approvePartner(broker, trustDomain, bundle);
}

/** The bundles of a /bundles body (or watch event), re-parsed per trust domain key. */
export function bundlesOf(body: { bundles: Record<string, unknown> }): Map<string, Bundle> {
  const out = new Map<string, Bundle>();
  for (const [name, value] of Object.entries(body.bundles)) {
    out.set(name, parseBundle(JSON.stringify(value), parseTrustDomain(name)));
  }
  return out;
}

export async function partnerJwtSvid(
  key: TestJwtKey,
  claims: { sub: string; aud: string | string[] },
): Promise<string> {
  const iat = Math.floor(nowMs() / 1000);
  return new SignJWT({ ...claims, iat, exp: iat + 300 })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
    .sign(key.privateKey);
}

// --- setup ---------------------------------------------------------------------------------------

/**
 * Starts the fixture for the calling test file: a test broker, the app on it, the two partners and
 * the `research` and `solo` entries before its tests; the broker stops and watches end after them.
 */
export function useAgentAppFixture(): void {
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
    solo = await broker.registration.createEntry(
      { spiffeId: `spiffe://${TD}/agents/solo` },
      'test',
    );
  });

  afterAll(async () => {
    controller?.abort();
    await broker?.stop();
  });
}
