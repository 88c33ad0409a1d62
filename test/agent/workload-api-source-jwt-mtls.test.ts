// Using a Workload API source (createWorkloadApiSource against a mock server on a real Unix socket):
// JWT-SVIDs (JF-1..4, and no cached token after a denial), local JWT validation (JB-*), per-trust-domain peer checks in the SDK mTLS
// helpers (WAPI-14, XF-1/2) and the presented chain and own trust bundle (XS-2/4/5).
import { once } from 'node:events';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { authorizeAny, connectMtls, createMtlsServer, peerIdOf } from '../../src/agent/index.js';
import { parseTrustDomain } from '../../src/spiffeid/index.js';
import { closeServer, listenLoopback } from '../helpers/agent.js';
import { createCa, createJwtKey, createLeaf, type TestCert } from '../helpers/pki.js';
import { jwtBundlesResponse, x509Response } from '../helpers/workload-api-server.js';
import {
  FED,
  TD,
  a,
  b,
  ca,
  codeOf,
  fedCa,
  fedJwtKey,
  fedPeer,
  jwk,
  jwtKey,
  mock,
  nextBundles,
  nextSvid,
  source,
  token,
  useWorkloadApiSourceWorld,
} from './workload-api-source-fixture.js';

useWorkloadApiSourceWorld();

/** A source whose Workload API answers FetchJWTSVID with one real 5-minute token for A. */
async function sourceIssuingToken() {
  const server = await mock();
  server.push('FetchX509SVID', x509Response([a]));
  const issued = await token(jwtKey, a.spiffeId);
  server.onJwtSvid(() => ({ svids: [{ spiffe_id: a.spiffeId, svid: issued, hint: '' }] }));
  const src = await source(server, { jwtBundles: false });
  return { server, src, issued };
}

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

  it('JF-4 (catalogue method): after a good fetch, PermissionDenied is an error, not the cached token', async () => {
    const { server, src, issued } = await sourceIssuingToken();
    const jwtCalls = () => server.calls.filter((call) => call.method === 'FetchJWTSVID').length;
    expect((await src.jwtSvids(['conformance']))[0]?.token).toBe(issued);
    // jwtSvid() reuses an answer until half its lifetime; it saw this one already.
    expect((await src.jwtSvid(['conformance'])).token).toBe(issued);
    expect(jwtCalls()).toBe(1);
    server.failAlways('FetchJWTSVID', { code: grpc.status.PERMISSION_DENIED });
    // The call the conformance harness makes always reaches the server (go-spiffe caches nothing).
    expect(await codeOf(src.jwtSvids(['conformance']))).toBe('ERR_AGENT_WORKLOAD_API');
    expect(jwtCalls()).toBe(2);
    // The denial dropped the cached answer: jwtSvid() asks the server too, and is refused.
    expect(await codeOf(src.jwtSvid(['conformance']))).toBe('ERR_AGENT_WORKLOAD_API');
    expect(jwtCalls()).toBe(3);
  });

  it('WA-4: a caller denied its X509-SVIDs gets no cached JWT-SVID either', async () => {
    const { server, src, issued } = await sourceIssuingToken();
    expect((await src.jwtSvid('conformance')).token).toBe(issued);
    server.failAlways('FetchX509SVID', { code: grpc.status.PERMISSION_DENIED });
    server.failAlways('FetchJWTSVID', { code: grpc.status.PERMISSION_DENIED });
    await nextSvid(src, () => server.endStreams({ code: grpc.status.PERMISSION_DENIED }));
    expect(await codeOf(src.jwtSvid('conformance'))).toBe('ERR_AGENT_WORKLOAD_API');
  });

  it('a first-call PermissionDenied is an error; an empty answer is refused', async () => {
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
