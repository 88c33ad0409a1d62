// createWorkloadApiSource's connection and X.509 stream against a mock Workload API server on a real
// Unix socket: endpoint discovery (WAPI-17, CTS EP-1), the security header on every call (WAPI-5, EP-2),
// complete-state updates (WAPI-8, WA-3, XS-3, XF-3), discarded bad messages (WAPI-9, WA-2), status
// handling and reconnects (WAPI-6, WAPI-19, EP-5..7, WA-1, WA-4).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { createWorkloadApiSource } from '../../src/agent/index.js';
import { parseTrustDomain } from '../../src/spiffeid/index.js';
import {
  jwtBundlesResponse,
  startMockWorkloadApi,
  x509Response,
} from '../helpers/workload-api-server.js';
import {
  FED,
  TD,
  a,
  b,
  codeOf,
  codeOfSync,
  fedCa,
  jwk,
  jwtKey,
  mock,
  nextSvid,
  servers,
  source,
  sources,
  useWorkloadApiSourceWorld,
} from './workload-api-source-fixture.js';

useWorkloadApiSourceWorld();

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
