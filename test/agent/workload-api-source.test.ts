// createWorkloadApiSource against a mock Workload API server (@grpc/grpc-js from the published
// proto) on a real Unix socket: endpoint discovery (WAPI-17, CTS EP-1), the security header on
// every call (WAPI-5, EP-2), complete-state updates (WAPI-8, WA-3, XS-3, XF-3), discarded bad
// messages (WAPI-9, WA-2), status handling and reconnects (WAPI-6, WAPI-19, EP-5..7, WA-1, WA-4),
// JWT-SVIDs (JF-1..4), local JWT validation (JB-*) and per-trust-domain peer checks (WAPI-14, XF-1/2).
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { SignJWT, importJWK } from 'jose';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  authorizeAny,
  connectMtls,
  createMtlsServer,
  createWorkloadApiSource,
  peerIdOf,
  type WorkloadApiSource,
} from '../../src/agent/index.js';
import { isBrokerError } from '../../src/errors.js';
import { parseTrustDomain } from '../../src/spiffeid/index.js';
import { closeServer, listenLoopback } from '../helpers/agent.js';
import {
  createCa,
  createJwtKey,
  createLeaf,
  type TestCert,
  type TestJwtKey,
} from '../helpers/pki.js';
import {
  jwtBundlesResponse,
  startMockWorkloadApi,
  x509Response,
  type MockWorkloadApi,
  type SvidSpec,
} from '../helpers/workload-api-server.js';

const TD = 'example.org';
const FED = 'fed.example.org';
let ca: TestCert;
let fedCa: TestCert;
let a: SvidSpec;
let b: SvidSpec;
let fedPeer: SvidSpec;
let jwtKey: TestJwtKey;
let fedJwtKey: TestJwtKey;

const servers: MockWorkloadApi[] = [];
const sources: WorkloadApiSource[] = [];

async function mock(options: { tcp?: boolean } = {}): Promise<MockWorkloadApi> {
  const server = await startMockWorkloadApi(options);
  servers.push(server);
  return server;
}

async function source(
  server: MockWorkloadApi,
  extra: Parameters<typeof createWorkloadApiSource>[0] = {},
): Promise<WorkloadApiSource> {
  const created = await createWorkloadApiSource({
    env: { SPIFFE_ENDPOINT_SOCKET: server.address },
    backoff: { initialMs: 20, maxMs: 200 },
    ...extra,
  });
  sources.push(created);
  return created;
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return isBrokerError(error) ? error.code : `not coded: ${String(error)}`;
  }
  return 'no error';
}

function codeOfSync(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    return isBrokerError(error) ? error.code : `not coded: ${String(error)}`;
  }
  return 'no error';
}

/** Resolves at the next onUpdate('svid') after `action`. */
async function nextSvid(src: WorkloadApiSource, action: () => void): Promise<void> {
  const seen = new Promise<void>((resolve) => {
    const off = src.onUpdate((what) => {
      if (what === 'svid') {
        off();
        resolve();
      }
    });
  });
  action();
  await seen;
}

async function nextBundles(src: WorkloadApiSource, action: () => void): Promise<void> {
  const seen = new Promise<void>((resolve) => {
    const off = src.onUpdate((what) => {
      if (what === 'bundles') {
        off();
        resolve();
      }
    });
  });
  action();
  await seen;
}

function jwk(key: TestJwtKey, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...key.jwk, kid: key.kid, ...extra };
}

async function token(key: TestJwtKey, sub: string, aud: string | string[] = 'conformance') {
  return new SignJWT({ sub, aud })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(await importJWK(key.privateKey.export({ format: 'jwk' }), key.alg));
}

beforeAll(async () => {
  ca = await createCa({ trustDomain: TD });
  fedCa = await createCa({ trustDomain: FED });
  const leafA = await createLeaf(ca, { spiffeIds: [`spiffe://${TD}/a`] });
  const leafB = await createLeaf(ca, { spiffeIds: [`spiffe://${TD}/b`] });
  a = { spiffeId: `spiffe://${TD}/a`, leaf: leafA, bundle: [ca] };
  b = { spiffeId: `spiffe://${TD}/b`, leaf: leafB, bundle: [ca] };
  fedPeer = {
    spiffeId: `spiffe://${FED}/peer`,
    leaf: await createLeaf(fedCa, { spiffeIds: [`spiffe://${FED}/peer`] }),
    bundle: [fedCa],
  };
  jwtKey = await createJwtKey('ES256', 'own-1');
  fedJwtKey = await createJwtKey('ES256', 'fed-1');
});

afterEach(async () => {
  for (const src of sources.splice(0)) await src.close();
  for (const server of servers.splice(0)) await server.close();
});

describe('WAPI-17: finding the Workload API', () => {
  it('EP-1: from SPIFFE_ENDPOINT_SOCKET (unix:///path), and EP-2: every call carries the header', async () => {
    const server = await mock();
    server.push('FetchX509SVID', x509Response([a]));
    server.push('FetchJWTBundles', jwtBundlesResponse({ [`spiffe://${TD}`]: [jwk(jwtKey)] }));
    server.onJwtSvid(() => ({ svids: [{ spiffe_id: a.spiffeId, svid: 'x.y.z', hint: '' }] }));
    const src = await source(server);
    expect(src.endpoint.kind).toBe('unix');
    expect(src.x509Svid().spiffeId.toString()).toBe(a.spiffeId);
    await src.jwtSvid('conformance');
    await server.until(() => server.openStreams('FetchJWTBundles') === 1, 'jwt bundle stream');
    const methods = new Set(server.calls.map((call) => call.method));
    expect(methods).toEqual(new Set(['FetchX509SVID', 'FetchJWTBundles', 'FetchJWTSVID']));
    expect(server.calls.every((call) => call.header === 'true')).toBe(true);
  });

  it('an explicit socket (unix:/path or a bare absolute path) wins over the environment', async () => {
    const server = await mock();
    server.push('FetchX509SVID', x509Response([a]));
    for (const socket of [`unix:${server.socketPath}`, server.socketPath]) {
      const src = await source(server, {
        socket,
        env: { SPIFFE_ENDPOINT_SOCKET: 'unix:///nonexistent/elsewhere.sock' },
        jwtBundles: false,
      });
      expect(src.x509Svid().spiffeId.toString()).toBe(a.spiffeId);
    }
  });

  it('EP-3: a tcp://127.0.0.1:port endpoint works', async () => {
    const server = await mock({ tcp: true });
    server.push('FetchX509SVID', x509Response([a]));
    const src = await source(server, { jwtBundles: false });
    expect(src.endpoint.kind).toBe('tcp');
    expect(src.x509Svid().spiffeId.toString()).toBe(a.spiffeId);
  });

  it('EP-4 / WAPI-17: a bad address is refused before any connection (ERR_AGENT_WORKLOAD_ENDPOINT)', async () => {
    const server = await mock();
    server.push('FetchX509SVID', x509Response([a]));
    for (const address of [
      `unix://localhost${server.socketPath}`,
      'unix:relative.sock',
      `tcp://127.0.0.1:1/path`,
      '',
    ]) {
      expect(
        await codeOf(createWorkloadApiSource({ env: { SPIFFE_ENDPOINT_SOCKET: address } })),
      ).toBe('ERR_AGENT_WORKLOAD_ENDPOINT');
    }
    expect(await codeOf(createWorkloadApiSource({ env: {} }))).toBe('ERR_AGENT_WORKLOAD_ENDPOINT');
    expect(server.calls).toEqual([]);
  });

  it('EP-8: a socket that appears later is reached once it exists', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wapi-late-'));
    const path = join(dir, 'later.sock');
    const pending = createWorkloadApiSource({
      env: { SPIFFE_ENDPOINT_SOCKET: `unix://${path}` },
      backoff: { initialMs: 20, maxMs: 100 },
      jwtBundles: false,
    });
    const server = await startMockWorkloadApi({ socketPath: path });
    servers.push(server);
    server.push('FetchX509SVID', x509Response([b]));
    const src = await pending;
    sources.push(src);
    expect(src.x509Svid().spiffeId.toString()).toBe(b.spiffeId);
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('WAPI-8: every message is the complete state', () => {
  it('WA-3: the first SVID is the default identity; XS-3: a rotation applies at once', async () => {
    const server = await mock();
    server.push('FetchX509SVID', x509Response([a, b]));
    const src = await source(server, { jwtBundles: false });
    expect(src.x509Svid().spiffeId.toString()).toBe(a.spiffeId);
    expect(src.x509Svids().map((s) => s.spiffeId.toString())).toEqual([a.spiffeId, b.spiffeId]);
    await nextSvid(src, () => server.push('FetchX509SVID', x509Response([b, a])));
    expect(src.x509Svid().spiffeId.toString()).toBe(b.spiffeId);
    expect(src.x509Svid().privateKeyPem).toContain('PRIVATE KEY');
  });

  it('XF-1/XF-3: federated bundles arrive per trust domain and are dropped when a later message omits them', async () => {
    const server = await mock();
    server.push('FetchX509SVID', x509Response([a], { [`spiffe://${FED}`]: [fedCa] }));
    const src = await source(server, { jwtBundles: false });
    expect([...src.bundles()].map((bundle) => bundle.trustDomain.name)).toEqual([TD, FED].sort());
    expect(src.bundles().get(parseTrustDomain(FED))?.x509Authorities[0]?.der).toEqual(fedCa.der);
    await nextSvid(src, () => server.push('FetchX509SVID', x509Response([a])));
    expect(src.bundles().has(parseTrustDomain(FED))).toBe(false);
  });

  it.each<[string, (message: Record<string, unknown>) => void]>([
    ['empty svids', (m) => (m['svids'] = [])],
    ['empty spiffe_id', (m) => ((m['svids'] as Record<string, unknown>[])[0]!['spiffe_id'] = '')],
    [
      'empty x509_svid',
      (m) => ((m['svids'] as Record<string, unknown>[])[0]!['x509_svid'] = Buffer.alloc(0)),
    ],
    [
      'empty x509_svid_key',
      (m) => ((m['svids'] as Record<string, unknown>[])[0]!['x509_svid_key'] = Buffer.alloc(0)),
    ],
    [
      'empty bundle',
      (m) => ((m['svids'] as Record<string, unknown>[])[0]!['bundle'] = Buffer.alloc(0)),
    ],
    [
      'spiffe_id not the certificate ID',
      (m) => ((m['svids'] as Record<string, unknown>[])[0]!['spiffe_id'] = `spiffe://${TD}/other`),
    ],
    [
      'a key of another certificate',
      (m) =>
        ((m['svids'] as Record<string, unknown>[])[0]!['x509_svid_key'] = b.leaf
          .nodePrivateKey()
          .export({ format: 'der', type: 'pkcs8' })),
    ],
    [
      'garbage certificate bytes',
      (m) =>
        ((m['svids'] as Record<string, unknown>[])[0]!['x509_svid'] = Buffer.from([
          0x30, 0x82, 0xff,
        ])),
    ],
  ])(
    'WAPI-9 / WA-2: a message with %s is discarded; the previous SVID stays until the barrier',
    async (_name, spoil) => {
      const server = await mock();
      server.push('FetchX509SVID', x509Response([a]));
      const src = await source(server, { jwtBundles: false });
      const seen: string[] = [];
      src.onUpdate(() => seen.push(src.x509Svid().spiffeId.toString()));
      const bad = x509Response([b]);
      spoil(bad);
      server.push('FetchX509SVID', bad);
      expect(src.x509Svid().spiffeId.toString()).toBe(a.spiffeId);
      // Barrier: the stream is ordered, so once B shows, the bad message was handled (and dropped).
      await nextSvid(src, () => server.push('FetchX509SVID', x509Response([b])));
      expect(src.x509Svid().spiffeId.toString()).toBe(b.spiffeId);
      expect(seen.every((id) => id === b.spiffeId)).toBe(true);
    },
  );

  it('never serves an expired SVID', async () => {
    const server = await mock();
    server.push('FetchX509SVID', x509Response([a]));
    let offsetMs = 0;
    const src = await source(server, { jwtBundles: false, now: () => Date.now() + offsetMs });
    expect(src.x509Svid().spiffeId.toString()).toBe(a.spiffeId);
    offsetMs = 2 * 86_400_000;
    expect(codeOfSync(() => src.x509Svid())).toBe('ERR_AGENT_SVID_UNAVAILABLE');
    expect(src.x509Svids()).toEqual([]);
  });
});

describe('WAPI-6 / WAPI-19: statuses, retries and reconnects', () => {
  it('EP-5/EP-6: Unavailable and PermissionDenied at first are retried with backoff until an SVID arrives', async () => {
    const server = await mock();
    server.push('FetchX509SVID', x509Response([a]));
    server.failNext(
      'FetchX509SVID',
      { code: grpc.status.UNAVAILABLE },
      { code: grpc.status.PERMISSION_DENIED },
      { code: grpc.status.UNAVAILABLE },
    );
    const src = await source(server, { jwtBundles: false });
    expect(src.x509Svid().spiffeId.toString()).toBe(a.spiffeId);
    const x509Calls = server.calls.filter((call) => call.method === 'FetchX509SVID');
    expect(x509Calls).toHaveLength(4);
  });

  it('EP-7: InvalidArgument is reported (ERR_AGENT_WORKLOAD_API) and never retried', async () => {
    const server = await mock();
    server.failAlways('FetchX509SVID', { code: grpc.status.INVALID_ARGUMENT, details: 'no' });
    server.failAlways('FetchJWTBundles', { code: grpc.status.INVALID_ARGUMENT, details: 'no' });
    const failure = createWorkloadApiSource({
      env: { SPIFFE_ENDPOINT_SOCKET: server.address },
      backoff: { initialMs: 1, maxMs: 1 },
    });
    expect(await codeOf(failure)).toBe('ERR_AGENT_WORKLOAD_API');
    // Barrier: a second, healthy client's call is recorded after anything the first might still send.
    server.failAlways('FetchX509SVID', undefined);
    server.push('FetchX509SVID', x509Response([a]));
    await source(server, { jwtBundles: false });
    const first = server.calls.findIndex((call) => call.method === 'FetchX509SVID');
    const before = server.calls.slice(0, server.calls.length - 1);
    expect(before.filter((call) => call.method === 'FetchX509SVID')).toHaveLength(1);
    expect(first).toBeGreaterThanOrEqual(0);
  });

  it('WA-1: a stream the server ends is re-established, and the new state is served', async () => {
    const server = await mock();
    server.push('FetchX509SVID', x509Response([a]));
    const src = await source(server, { jwtBundles: false });
    await nextSvid(src, () => {
      server.push('FetchX509SVID', x509Response([b]));
      // The push above reached the open stream; now end it and serve B again on the new one.
      server.endStreams({ code: grpc.status.UNAVAILABLE });
    });
    await server.until(() => server.openStreams('FetchX509SVID') === 1, 'a new stream');
    expect(server.calls.filter((call) => call.method === 'FetchX509SVID').length).toBe(2);
    expect(src.x509Svid().spiffeId.toString()).toBe(b.spiffeId);
  });

  it('WA-4: PermissionDenied on the stream withdraws the SVID; it comes back when granted again', async () => {
    const server = await mock();
    server.push('FetchX509SVID', x509Response([a]));
    const src = await source(server, { jwtBundles: false });
    server.failNext('FetchX509SVID', { code: grpc.status.PERMISSION_DENIED });
    await nextSvid(src, () => server.endStreams({ code: grpc.status.PERMISSION_DENIED }));
    expect(codeOfSync(() => src.x509Svid())).toBe('ERR_AGENT_SVID_UNAVAILABLE');
    await server.until(() => src.x509Svids().length === 1, 'the SVID again');
    expect(src.x509Svid().spiffeId.toString()).toBe(a.spiffeId);
  });

  it('close() stops the streams; no SVID is handed out afterwards', async () => {
    const server = await mock();
    server.push('FetchX509SVID', x509Response([a]));
    const src = await source(server);
    await src.close();
    await server.until(() => server.openStreams('FetchX509SVID') === 0, 'streams closed');
    expect(codeOfSync(() => src.x509Svid())).toBe('ERR_AGENT_SVID_UNAVAILABLE');
    expect(await codeOf(src.jwtSvid('x'))).toBe('ERR_AGENT_CLOSED');
  });
});

describe('JWT-SVIDs and JWT bundles', () => {
  it('JF-1..3: audiences and spiffe_id pass through unchanged; the answer is reused until half-life', async () => {
    const server = await mock();
    server.push('FetchX509SVID', x509Response([a]));
    const issued = await token(jwtKey, b.spiffeId, ['x', 'y']);
    server.onJwtSvid(() => ({ svids: [{ spiffe_id: b.spiffeId, svid: issued, hint: '' }] }));
    const src = await source(server, { jwtBundles: false });
    const svid = await src.jwtSvid(['x', 'y'], { spiffeId: b.spiffeId });
    expect(svid.token).toBe(issued);
    expect(svid.spiffeId.toString()).toBe(b.spiffeId);
    await src.jwtSvid(['y', 'x'], { spiffeId: b.spiffeId });
    const calls = server.calls.filter((call) => call.method === 'FetchJWTSVID');
    expect(calls).toHaveLength(1);
    expect(calls[0]?.request).toMatchObject({ audience: ['x', 'y'], spiffe_id: b.spiffeId });
  });

  it('JF-4: PermissionDenied is an error, not a stale token; an empty answer is refused', async () => {
    const server = await mock();
    server.push('FetchX509SVID', x509Response([a]));
    const src = await source(server, { jwtBundles: false });
    server.failNext('FetchJWTSVID', { code: grpc.status.PERMISSION_DENIED });
    expect(await codeOf(src.jwtSvid('aud-1'))).toBe('ERR_AGENT_WORKLOAD_API');
    server.onJwtSvid(() => ({ svids: [] }));
    expect(await codeOf(src.jwtSvid('aud-2'))).toBe('ERR_AGENT_WORKLOAD_API_RESPONSE');
    await expect(src.jwtSvid([])).rejects.toBeInstanceOf(TypeError);
  });

  it('JB-1/2/5/6/8, WAPI-14: tokens verify with the bundle of their own trust domain only', async () => {
    const server = await mock();
    server.push('FetchX509SVID', x509Response([a]));
    const x509Use = await createJwtKey('ES256', 'x509-use');
    server.push(
      'FetchJWTBundles',
      jwtBundlesResponse({
        [`spiffe://${TD}`]: [
          jwk(jwtKey),
          jwk(x509Use, { use: 'x509-svid' }),
          { kty: 'weird', kid: 'odd' },
        ],
        [`spiffe://${FED}`]: [jwk(fedJwtKey, { use: 'jwt-svid' })],
      }),
    );
    const src = await source(server);
    const ok = await src.validateJwtSvid(await token(jwtKey, a.spiffeId), 'conformance');
    expect(ok.spiffeId.toString()).toBe(a.spiffeId);
    const fed = await src.validateJwtSvid(
      await token(fedJwtKey, `spiffe://${FED}/x`),
      'conformance',
    );
    expect(fed.spiffeId.toString()).toBe(`spiffe://${FED}/x`);
    // A key for x509-svid use is ignored; a FED token signed by our key is refused (no pooling).
    expect(
      await codeOf(src.validateJwtSvid(await token(x509Use, a.spiffeId), 'conformance')),
    ).toMatch(/^ERR_SVID_JWT_/);
    expect(
      await codeOf(src.validateJwtSvid(await token(jwtKey, `spiffe://${FED}/x`), 'conformance')),
    ).toMatch(/^ERR_SVID_JWT_/);
    // JB-2: the key removed by an update no longer verifies.
    await nextBundles(src, () =>
      server.push('FetchJWTBundles', jwtBundlesResponse({ [`spiffe://${TD}`]: [] })),
    );
    expect(
      await codeOf(src.validateJwtSvid(await token(jwtKey, a.spiffeId), 'conformance')),
    ).toMatch(/^ERR_SVID_JWT_/);
    expect(server.calls.some((call) => call.method === 'ValidateJWTSVID')).toBe(false);
  });
});

describe('WAPI-14: the SDK mTLS helpers with a Workload API source', () => {
  it('XF-1/XF-2: a federated peer is accepted with its own bundle; a peer claiming it but signed by our CA is not', async () => {
    const ours = await mock();
    ours.push('FetchX509SVID', x509Response([a], { [`spiffe://${FED}`]: [fedCa] }));
    const theirs = await mock();
    theirs.push('FetchX509SVID', x509Response([fedPeer], { [`spiffe://${TD}`]: [ca] }));
    const impostor = await mock();
    const fakeLeaf = await createLeaf(ca, { spiffeIds: [`spiffe://${FED}/peer`] });
    // Its own view is consistent (its bundle is our CA); our side must still refuse it.
    impostor.push(
      'FetchX509SVID',
      x509Response([{ spiffeId: `spiffe://${FED}/peer`, leaf: fakeLeaf, bundle: [ca] }], {
        [`spiffe://${TD}`]: [ca],
      }),
    );
    const server = await source(ours, { jwtBundles: false });
    const good = await source(theirs, { jwtBundles: false });
    const peers: string[] = [];
    const tlsServer = createMtlsServer(server, authorizeAny(), (socket: TLSSocket) => {
      peers.push(String(peerIdOf(socket)));
      socket.end(`${String(peerIdOf(socket))}\n`);
    });
    const port = await listenLoopback(tlsServer);
    try {
      const socket = await connectMtls(good, authorizeAny(), { host: '127.0.0.1', port });
      expect(peerIdOf(socket)?.toString()).toBe(a.spiffeId);
      const [line] = (await once(socket, 'data')) as [Buffer];
      expect(line.toString()).toBe(`${fedPeer.spiffeId}\n`);
      socket.destroy();
      const bad = await source(impostor, { jwtBundles: false });
      const refused = await connectMtls(bad, authorizeAny(), { host: '127.0.0.1', port }).then(
        async (s) => {
          const ended = await new Promise<string>((resolve) => {
            let text = '';
            s.on('data', (chunk: Buffer) => (text += chunk.toString()));
            s.on('close', () => resolve(text));
            s.on('error', () => resolve(text));
          });
          return ended;
        },
        () => '',
      );
      expect(refused).toBe('');
      expect(peers).toEqual([fedPeer.spiffeId]);
    } finally {
      await closeServer(tlsServer);
    }
  });
});

/** Connects to an SDK mTLS server with a test certificate; returns the line written (empty: refused). */
async function probeLine(
  port: number,
  cert: TestCert,
  trust: readonly TestCert[],
): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    const socket = tlsConnect({
      host: '127.0.0.1',
      port,
      cert: cert.pem,
      key: cert.nodePrivateKey().export({ format: 'pem', type: 'pkcs8' }).toString(),
      ca: trust.map((c) => c.pem).join(''),
      checkServerIdentity: () => undefined,
    });
    socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
    socket.on('close', () => resolve(text));
    socket.on('error', () => resolve(text));
  });
}

describe('XS-2/XS-4/XS-5: the presented chain and the own trust bundle', () => {
  it('presents leaf + intermediate; trusts every CA of the bundle; stops trusting a removed one', async () => {
    const intermediate = await createCa({ issuer: ca, trustDomain: TD });
    const leaf = await createLeaf(intermediate, { spiffeIds: [`spiffe://${TD}/deep`] });
    const secondCa = await createCa({ trustDomain: TD });
    const viaSecond = await createLeaf(secondCa, { spiffeIds: [`spiffe://${TD}/second`] });
    const deep = { spiffeId: `spiffe://${TD}/deep`, leaf, intermediates: [intermediate] };
    const server = await mock();
    server.push('FetchX509SVID', x509Response([{ ...deep, bundle: [ca, secondCa] }]));
    const src = await source(server, { jwtBundles: false });
    expect(src.x509Svid().chainDer).toHaveLength(2);
    expect(src.bundles().get(parseTrustDomain(TD))?.x509Authorities).toHaveLength(2);
    const tlsServer = createMtlsServer(src, authorizeAny(), (socket: TLSSocket) => {
      socket.end(`${String(peerIdOf(socket))}\n`);
    });
    tlsServer.on('tlsClientError', () => undefined);
    const port = await listenLoopback(tlsServer);
    try {
      // The client trusts the root only: the handshake needs the intermediate we present (XS-2).
      expect(await probeLine(port, a.leaf, [ca])).toBe(`${a.spiffeId}\n`);
      expect(await probeLine(port, viaSecond, [ca])).toBe(`spiffe://${TD}/second\n`);
      await nextBundles(src, () =>
        server.push('FetchX509SVID', x509Response([{ ...deep, bundle: [ca] }])),
      );
      expect(await probeLine(port, viaSecond, [ca])).toBe('');
      expect(await probeLine(port, a.leaf, [ca])).toBe(`${a.spiffeId}\n`);
    } finally {
      await closeServer(tlsServer);
    }
  });
});
