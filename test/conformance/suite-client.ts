// What the suite does to a running harness (HARNESS_CONTRACT v1 §3, §4): probe the X.509 port
// with a client certificate and read the peer-ID line, call the control port, run a TLS server for
// /v1/x509/dial, and authenticate a peer in either XV/XF role (TEST_CATALOGUE §1.4, §2.5).
import { request } from 'node:http';
import * as tls from 'node:tls';
import { closeServer, keyPemOf, listenLoopback } from '../helpers/agent.js';
import { pemOf, type TestCert } from '../helpers/pki.js';

export interface Ports {
  readonly x509Port: number;
  readonly controlPort: number;
}

export interface ProbeResult {
  /** The line the harness wrote ('' when it refused us: alert or close without a line). */
  readonly line: string;
  /** The URI SAN(s) of the certificate the harness presented ('' when no handshake). */
  readonly presentedUri: string;
  /** The presented chain as DER, leaf first (empty when no handshake). */
  readonly presentedChain: readonly Buffer[];
  /** Whether the presented chain verified against `trust` (when given). */
  readonly trusted: boolean;
}

function chainOf(socket: tls.TLSSocket): Buffer[] {
  const out: Buffer[] = [];
  let cert = socket.getPeerCertificate(true) as tls.DetailedPeerCertificate | undefined;
  while (cert?.raw !== undefined && !out.some((der) => der.equals(cert?.raw as Buffer))) {
    out.push(cert.raw);
    cert = cert.issuerCertificate;
  }
  return out;
}

/** Connects to the X.509 port presenting `chain` (leaf first) and reads until the harness closes. */
export function probe(
  ports: Ports,
  chain: readonly TestCert[],
  trust?: TestCert,
): Promise<ProbeResult> {
  const leaf = chain[0];
  if (leaf === undefined) throw new TypeError('empty chain');
  return new Promise((resolve) => {
    let line = '';
    let presented: { uri: string; chain: Buffer[]; trusted: boolean } = {
      uri: '',
      chain: [],
      trusted: false,
    };
    const socket = tls.connect({
      host: '127.0.0.1',
      port: ports.x509Port,
      cert: pemOf([...chain]),
      key: keyPemOf(leaf),
      ...(trust === undefined ? { rejectUnauthorized: false } : { ca: trust.pem }),
      checkServerIdentity: () => undefined,
    });
    socket.once('secureConnect', () => {
      presented = {
        uri: socket.getPeerCertificate().subjectaltname ?? '',
        chain: chainOf(socket),
        trusted: socket.authorized,
      };
    });
    socket.on('data', (chunk: Buffer) => (line += chunk.toString()));
    const done = (): void =>
      resolve({
        line,
        presentedUri: presented.uri.replace(/^URI:/, ''),
        presentedChain: presented.chain,
        trusted: presented.trusted,
      });
    socket.once('close', done);
    socket.on('error', () => undefined);
  });
}

export interface ControlAnswer {
  readonly status: number;
  readonly json: Record<string, unknown>;
}

/** One control-port call (§4); JSON both ways. */
export function control(ports: Ports, path: string, body?: unknown): Promise<ControlAnswer> {
  const method = body === undefined ? 'GET' : 'POST';
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: ports.controlPort, path, method }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) as never });
        } catch (error) {
          reject(error as Error);
        }
      });
    });
    req.setHeader('content-type', 'application/json');
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

/** Runs a TLS server presenting `chain` and asks the harness to dial it (§4.4). */
export async function dial(ports: Ports, chain: readonly TestCert[]): Promise<ControlAnswer> {
  const leaf = chain[0];
  if (leaf === undefined) throw new TypeError('empty chain');
  const server = tls.createServer({ cert: pemOf([...chain]), key: keyPemOf(leaf) });
  server.on('secureConnection', (socket) => socket.end());
  server.on('tlsClientError', () => undefined);
  const port = await listenLoopback(server);
  try {
    return await control(ports, '/v1/x509/dial', { address: `127.0.0.1:${port}` });
  } finally {
    await closeServer(server);
  }
}

export type Role = 'server' | 'client';
export const ROLES: readonly Role[] = ['server', 'client'];

export type Verdict = { accepted: true; spiffeId: string } | { accepted: false };

/**
 * The harness's verdict on a peer presenting `chain`, in `role`. Server role: the peer-ID line (an
 * empty line is a refusal, §3). Client role: 200 ok or 422 rejected; any other answer is an ERROR.
 */
export async function verdictOf(
  ports: Ports,
  role: Role,
  chain: readonly TestCert[],
): Promise<Verdict> {
  if (role === 'server') {
    const line = (await probe(ports, chain)).line.replace(/\n$/, '');
    return line === '' ? { accepted: false } : { accepted: true, spiffeId: line };
  }
  const answer = await dial(ports, chain);
  if (answer.status === 200 && answer.json['status'] === 'ok') {
    return { accepted: true, spiffeId: String(answer.json['spiffe_id']) };
  }
  if (answer.status === 422 && answer.json['status'] === 'rejected') return { accepted: false };
  throw new Error(`dial answered ${answer.status}: ${JSON.stringify(answer.json)}`);
}

/** Polls `check` until it holds (a barrier: what the SDK must eventually show), or fails at `ms`. */
export async function until(
  check: () => Promise<boolean> | boolean,
  label: string,
  ms = 10_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${label}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
