// The public bundle endpoint over real TLS on 127.0.0.1 (FED-11..13): status codes, ETag, no client auth.
import { execFile } from 'node:child_process';
import { request } from 'node:https';
import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBundleServer, type BundleServer } from '../../src/api/bundle-server.js';
import { serveBundle, type ServedBundle } from '../../src/federation/index.js';
import { createWebPki, type WebPki } from '../helpers/web-pki.js';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function get(
  url: string,
  caPem: string,
  method = 'GET',
  headers: Record<string, string> = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, ca: caPem, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('bundle endpoint server (https_web identity)', () => {
  let pki: WebPki;
  let server: BundleServer;
  let current: ServedBundle | undefined;
  const body = '{"keys":[],"spiffe_refresh_hint":300,"spiffe_sequence":1}';

  beforeAll(async () => {
    pki = createWebPki();
    server = await startBundleServer({
      host: '127.0.0.1',
      port: 0,
      identity: { cert: pki.certPem, key: pki.keyPem },
      current: () => current,
    });
  });
  afterAll(async () => {
    await server.close();
  });

  it('FED-12 answers 503 before a bundle exists, then serves it as application/json', async () => {
    current = undefined;
    expect((await get(server.url, pki.caPem)).status).toBe(503);
    current = serveBundle(Buffer.from(body), 300);
    const reply = await get(server.url, pki.caPem);
    expect(reply.status).toBe(200);
    expect(reply.body).toBe(body);
    expect(reply.headers['content-type']).toBe('application/json');
  });

  it('FED-12 revalidation with If-None-Match gives 304', async () => {
    current = serveBundle(Buffer.from(body), 300);
    const first = await get(server.url, pki.caPem);
    const again = await get(server.url, pki.caPem, 'GET', {
      'if-none-match': String(first.headers['etag']),
    });
    expect(again.status).toBe(304);
    expect(again.body).toBe('');
  });

  it('FED-12 other methods get 405', async () => {
    current = serveBundle(Buffer.from(body), 300);
    expect((await get(server.url, pki.caPem, 'POST')).status).toBe(405);
  });

  it('FED-13 never sends a CertificateRequest (checked with openssl s_client)', async () => {
    // s_client prints "Requested Signature Algorithms" only when the server sent a CertificateRequest
    // (checked against `openssl s_server -verify 1`, which does ask).
    // Asynchronous on purpose: the server runs in this process and must keep answering.
    const output = await new Promise<string>((resolve, reject) => {
      const child = execFile(
        'openssl',
        [
          's_client',
          '-connect',
          `127.0.0.1:${server.port}`,
          '-CAfile',
          pki.caFile,
          '-verify_return_error',
        ],
        { timeout: 10_000 },
        (error, stdout) => (error ? reject(error) : resolve(stdout)),
      );
      child.stdin?.end();
    });
    expect(output).toContain('Verify return code: 0 (ok)');
    expect(output).not.toContain('Requested Signature Algorithms');
  });

  it('FED-11 refuses TLS 1.1', async () => {
    const outcome = await new Promise<string>((resolve) => {
      const socket = connect(
        {
          host: '127.0.0.1',
          port: server.port,
          ca: pki.caPem,
          maxVersion: 'TLSv1.1',
          minVersion: 'TLSv1',
        },
        () => {
          socket.end();
          resolve('connected');
        },
      );
      socket.on('error', () => resolve('refused'));
    });
    expect(outcome).toBe('refused');
  });

  it('swaps its certificate for new connections without a restart', async () => {
    const other = createWebPki();
    server.updateIdentity({ cert: other.certPem, key: other.keyPem });
    current = serveBundle(Buffer.from(body), 300);
    expect((await get(server.url, other.caPem)).status).toBe(200);
    await expect(get(server.url, pki.caPem)).rejects.toThrow();
    server.updateIdentity({ cert: pki.certPem, key: pki.keyPem });
  });
});
