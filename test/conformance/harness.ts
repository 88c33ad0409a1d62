// The SDK harness for the SPIFFE conformance test suite (arndt-s/spiffe-conformance-test-suite,
// docs/HARNESS_CONTRACT.md v1): a thin shim over createWorkloadApiSource and the SDK's mTLS helpers.
// Run: `npx tsx test/conformance/harness.ts` with SPIFFE_ENDPOINT_SOCKET set (never configured here).
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  authorizeAny,
  connectMtls,
  createMtlsServer,
  createWorkloadApiSource,
  peerIdOf,
  type WorkloadApiSource,
} from '../../src/agent/index.js';
import { stringifyJsonValue } from '../../src/bundle/index.js';
import { isBrokerError } from '../../src/errors.js';

const MAX_BODY_BYTES = 64 * 1024;

function log(message: string): void {
  process.stderr.write(`harness: ${message}\n`);
}

function send(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(body);
}

function answer(res: ServerResponse, status: number, fields: Record<string, unknown>): void {
  send(res, status, JSON.stringify(fields));
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new Error('body too large');
    chunks.push(chunk);
  }
  const parsed: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
  if (typeof parsed !== 'object' || parsed === null) throw new Error('body is not an object');
  return parsed as Record<string, unknown>;
}

/** A refusal by the SDK's validators (SVID and peer checks): `422 rejected`; anything else is ours. */
function isRejection(error: unknown): boolean {
  if (!isBrokerError(error)) return false;
  return (
    error.code.startsWith('ERR_SVID_') ||
    error.code.startsWith('ERR_SPIFFEID_') ||
    error.code === 'ERR_AGENT_PEER_UNVERIFIED' ||
    error.code === 'ERR_AGENT_PEER_UNAUTHORIZED'
  );
}

async function validate(source: WorkloadApiSource, body: Record<string, unknown>): Promise<string> {
  const { token, audience } = body;
  if (typeof token !== 'string' || typeof audience !== 'string') throw new Error('bad request');
  const result = await source.validateJwtSvid(token, audience);
  return `{"status":"ok","spiffe_id":${JSON.stringify(result.spiffeId.toString())},"claims":${stringifyJsonValue(result.claims)}}`;
}

async function fetchJwt(source: WorkloadApiSource, body: Record<string, unknown>): Promise<string> {
  const { audience, spiffe_id: spiffeId } = body;
  if (!Array.isArray(audience) || !audience.every((item) => typeof item === 'string')) {
    throw new Error('bad request');
  }
  const svids = await source.jwtSvids(audience as string[], {
    ...(typeof spiffeId === 'string' && spiffeId !== '' ? { spiffeId } : {}),
  });
  return JSON.stringify({
    status: 'ok',
    svids: svids.map((svid) => ({
      spiffe_id: svid.spiffeId.toString(),
      token: svid.token,
      hint: '',
    })),
  });
}

async function dial(source: WorkloadApiSource, body: Record<string, unknown>): Promise<string> {
  const { address } = body;
  const match = typeof address === 'string' ? /^(.+):(\d+)$/.exec(address) : null;
  if (match === null) throw new Error('bad request');
  const host = (match[1] ?? '').replace(/^\[(.*)\]$/, '$1');
  const socket = await connectMtls(source, authorizeAny(), { host, port: Number(match[2]) });
  const id = peerIdOf(socket)?.toString() ?? '';
  socket.destroy();
  return JSON.stringify({ status: 'ok', spiffe_id: id });
}

function controlServer(source: WorkloadApiSource) {
  const routes: Record<string, (body: Record<string, unknown>) => Promise<string>> = {
    'POST /v1/jwt/validate': (body) => validate(source, body),
    'POST /v1/jwt/fetch': (body) => fetchJwt(source, body),
    'POST /v1/x509/dial': (body) => dial(source, body),
  };
  return createServer((req, res) => {
    const key = `${req.method ?? ''} ${req.url ?? ''}`;
    if (key === 'GET /v1/info') {
      answer(res, 200, {
        sdk: 'spiffe-federation-broker/agent',
        sdk_version: '0.1.0',
        language: 'typescript',
      });
      return;
    }
    const route = routes[key];
    if (route === undefined) {
      answer(res, 501, { status: 'unsupported', message: `${key} is not implemented` });
      return;
    }
    readJson(req)
      .then((body) => route(body))
      .then(
        (text) => send(res, 200, text),
        (error: unknown) => {
          const message = isBrokerError(error) ? `${error.code}: ${error.message}` : String(error);
          if (isRejection(error)) answer(res, 422, { status: 'rejected', message });
          else answer(res, 500, { status: 'error', message });
        },
      );
  });
}

async function listen(
  server: ReturnType<typeof createServer> | ReturnType<typeof createMtlsServer>,
) {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return (server.address() as AddressInfo).port;
}

async function main(): Promise<void> {
  // The SDK finds the endpoint in SPIFFE_ENDPOINT_SOCKET itself (contract §2.1, CTS EP-1).
  const source = await createWorkloadApiSource({ logger: { info: () => undefined, warn: log } });
  const x509 = createMtlsServer(source, authorizeAny(), (socket) => {
    socket.end(`${peerIdOf(socket)?.toString() ?? ''}\n`);
  });
  x509.on('tlsClientError', () => undefined);
  const control = controlServer(source);
  const x509Port = await listen(x509);
  const controlPort = await listen(control);
  process.stdout.write(
    `SPIFFE_HARNESS_VERSION=1\nSPIFFE_X509_PORT=${x509Port}\nSPIFFE_CONTROL_PORT=${controlPort}\nREADY\n`,
  );
  const stop = (): void => {
    x509.close();
    control.close();
    void source.close().finally(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((error: unknown) => {
  log(
    `no SVID from the workload API: ${isBrokerError(error) ? `${error.code}: ` : ''}${String((error as Error).message)}`,
  );
  process.exit(1);
});
