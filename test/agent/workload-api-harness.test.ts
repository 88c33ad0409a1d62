// The conformance-suite harness (test/conformance/harness.ts, HARNESS_CONTRACT v1) as a real
// process against the mock Workload API on a Unix socket: readiness lines, the X.509 port (peer ID
// line, refusals), and the control port (JWT validate / fetch with CTS JF-4, x509 dial, info,
// unsupported).
import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { createServer as createTlsServer, connect as tlsConnect } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { SignJWT, importJWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeServer, listenLoopback } from '../helpers/agent.js';
import {
  createCa,
  createJwtKey,
  createLeaf,
  pemOf,
  type TestCert,
  type TestJwtKey,
} from '../helpers/pki.js';
import {
  jwtBundlesResponse,
  startMockWorkloadApi,
  x509Response,
  type MockWorkloadApi,
} from '../helpers/workload-api-server.js';

const TD = 'example.org';
const HARNESS = new URL('../conformance/harness.ts', import.meta.url).pathname;

let server: MockWorkloadApi;
let harness: ChildProcess;
let ports: { x509: number; control: number };
let ca: TestCert;
let peer: TestCert;
let jwtKey: TestJwtKey;
let stderr = '';

async function post(path: string, body: unknown, method = 'POST') {
  return new Promise<{ status: number; json: Record<string, unknown> }>((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: ports.control,
        path,
        method,
        headers: { 'content-type': 'application/json' },
      },
      (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString()));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            json: JSON.parse(text) as Record<string, unknown>,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(method === 'GET' ? undefined : JSON.stringify(body));
  });
}

/** Connects to the X.509 port with `cert` and returns the line the harness writes (empty: refused). */
async function probe(cert: TestCert, trust: TestCert): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    const socket = tlsConnect({
      host: '127.0.0.1',
      port: ports.x509,
      cert: cert.pem,
      key: cert.nodePrivateKey().export({ format: 'pem', type: 'pkcs8' }).toString(),
      ca: trust.pem,
      checkServerIdentity: () => undefined,
    });
    socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
    socket.on('close', () => resolve(text));
    socket.on('error', () => resolve(text));
  });
}

async function sign(key: TestJwtKey, sub: string): Promise<string> {
  return new SignJWT({ sub, aud: 'conformance' })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(await importJWK(key.privateKey.export({ format: 'jwk' }), key.alg));
}

beforeAll(async () => {
  ca = await createCa({ trustDomain: TD });
  const own = await createLeaf(ca, { spiffeIds: [`spiffe://${TD}/harness`] });
  peer = await createLeaf(ca, { spiffeIds: [`spiffe://${TD}/peer`] });
  jwtKey = await createJwtKey('ES256', 'k1');
  server = await startMockWorkloadApi();
  server.push(
    'FetchX509SVID',
    x509Response([{ spiffeId: `spiffe://${TD}/harness`, leaf: own, bundle: [ca] }]),
  );
  server.push(
    'FetchJWTBundles',
    jwtBundlesResponse({ [`spiffe://${TD}`]: [{ ...jwtKey.jwk, kid: jwtKey.kid }] }),
  );
  server.onJwtSvid((req) => ({
    svids: [
      {
        spiffe_id: `spiffe://${TD}/harness`,
        svid: `token-for-${(req['audience'] as string[]).join(',')}`,
        hint: '',
      },
    ],
  }));
  harness = spawn(process.execPath, ['--import', 'tsx', HARNESS], {
    env: { ...process.env, SPIFFE_ENDPOINT_SOCKET: server.address },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  harness.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  ports = await new Promise((resolve, reject) => {
    let out = '';
    harness.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (!out.includes('READY\n')) return;
      const x509 = Number(/SPIFFE_X509_PORT=(\d+)/.exec(out)?.[1]);
      const control = Number(/SPIFFE_CONTROL_PORT=(\d+)/.exec(out)?.[1]);
      expect(out).toMatch(/^SPIFFE_HARNESS_VERSION=1$/m);
      expect(out.trim().endsWith('READY')).toBe(true);
      resolve({ x509, control });
    });
    harness.on('exit', (code) => reject(new Error(`harness exited ${code}: ${stderr}`)));
  });
}, 30_000);

afterAll(async () => {
  if (harness !== undefined && harness.exitCode === null) {
    const exited = new Promise((resolve) => harness.once('exit', resolve));
    harness.kill('SIGTERM');
    await exited;
  }
  await server?.close();
});

describe('conformance harness (HARNESS_CONTRACT v1)', () => {
  it('X.509 port: writes the peer SPIFFE ID; a peer of an untrusted CA gets nothing', async () => {
    expect(await probe(peer, ca)).toBe(`spiffe://${TD}/peer\n`);
    const otherCa = await createCa({ trustDomain: TD });
    const stranger = await createLeaf(otherCa, { spiffeIds: [`spiffe://${TD}/peer`] });
    expect(await probe(stranger, ca)).toBe('');
  });

  it('control port: JWT validate ok / rejected, fetch, info and unsupported routes', async () => {
    const good = await post('/v1/jwt/validate', {
      token: await sign(jwtKey, `spiffe://${TD}/w`),
      audience: 'conformance',
    });
    expect(good.status).toBe(200);
    expect(good.json).toMatchObject({ status: 'ok', spiffe_id: `spiffe://${TD}/w` });
    expect((good.json['claims'] as Record<string, unknown>)['sub']).toBe(`spiffe://${TD}/w`);
    const stranger = await createJwtKey('ES256', 'k1');
    const bad = await post('/v1/jwt/validate', {
      token: await sign(stranger, `spiffe://${TD}/w`),
      audience: 'conformance',
    });
    expect([bad.status, bad.json['status']]).toEqual([422, 'rejected']);
    const fetched = await post('/v1/jwt/fetch', { audience: ['a', 'b'], spiffe_id: '' });
    expect(fetched.json).toEqual({
      status: 'ok',
      svids: [{ spiffe_id: `spiffe://${TD}/harness`, token: 'token-for-a,b', hint: '' }],
    });
    expect((await post('/v1/info', undefined, 'GET')).json).toMatchObject({
      language: 'typescript',
    });
    expect((await post('/v1/other', {})).status).toBe(501);
    expect(server.calls.some((call) => call.method === 'ValidateJWTSVID')).toBe(false);
  });

  it('JF-4 as the catalogue runs it: a fetch after a good one, answered PermissionDenied, is an error', async () => {
    const audience = ['conformance'];
    const jwtCalls = () => server.calls.filter((call) => call.method === 'FetchJWTSVID').length;
    // A real token (5 minutes): the SDK would reuse it until half its lifetime if it cached.
    const issued = await sign(jwtKey, `spiffe://${TD}/harness`);
    server.onJwtSvid(() => ({
      svids: [{ spiffe_id: `spiffe://${TD}/harness`, svid: issued, hint: '' }],
    }));
    const good = await post('/v1/jwt/fetch', { audience, spiffe_id: '' });
    expect(good.json).toMatchObject({ status: 'ok', svids: [{ token: issued }] });
    const before = jwtCalls();
    server.failAlways('FetchJWTSVID', { code: grpc.status.PERMISSION_DENIED });
    try {
      const denied = await post('/v1/jwt/fetch', { audience, spiffe_id: '' });
      expect([denied.status, denied.json['status']]).toEqual([500, 'error']);
      expect(denied.json['svids']).toBeUndefined();
      expect(jwtCalls()).toBe(before + 1);
    } finally {
      server.failAlways('FetchJWTSVID', undefined);
    }
  });

  it('control port: x509 dial authenticates the server as an X509-SVID of its trust domain', async () => {
    const tlsServer = createTlsServer({
      cert: pemOf(peer),
      key: peer.nodePrivateKey().export({ format: 'pem', type: 'pkcs8' }).toString(),
    });
    tlsServer.on('secureConnection', (socket) => socket.end());
    const port = await listenLoopback(tlsServer);
    try {
      const dialled = await post('/v1/x509/dial', { address: `127.0.0.1:${port}` });
      expect(dialled.json).toEqual({ status: 'ok', spiffe_id: `spiffe://${TD}/peer` });
    } finally {
      await closeServer(tlsServer);
    }
    const otherCa = await createCa({ trustDomain: TD });
    const stranger = await createLeaf(otherCa, { spiffeIds: [`spiffe://${TD}/x`] });
    const untrusted = createTlsServer({
      cert: pemOf(stranger),
      key: stranger.nodePrivateKey().export({ format: 'pem', type: 'pkcs8' }).toString(),
    });
    untrusted.on('tlsClientError', () => undefined);
    const port2 = await listenLoopback(untrusted);
    try {
      const refused = await post('/v1/x509/dial', { address: `127.0.0.1:${port2}` });
      expect([refused.status, refused.json['status']]).toEqual([422, 'rejected']);
    } finally {
      await closeServer(untrusted);
    }
  });
});
