// Shared fixtures for the federation tests: partner PKIs (SPIFFE and a private Web PKI), a scriptable
// bundle endpoint over real TLS on 127.0.0.1 that counts requests, and a federation service on a store.
import { mkdtemp, rm } from 'node:fs/promises';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer, type Server } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Bundle,
  bundleDigest,
  jwtAuthorityFromJwk,
  marshalBundle,
} from '../../src/bundle/index.js';
import {
  createFederation,
  type AuditSink,
  type Federation,
  type FederationDeps,
  type FederationLogger,
  type RelationshipInput,
} from '../../src/federation/index.js';
import { parseTrustDomain } from '../../src/spiffeid/index.js';
import { createFileStore, type Store } from '../../src/store/index.js';
import {
  authorityOf,
  createCa,
  createJwtKey,
  createLeaf,
  EKU,
  type LeafOptions,
  type TestCert,
  type TestJwtKey,
} from '../helpers/pki.js';

export const HOST = '127.0.0.1';

/** A TLS server identity: certificate chain and private key, PEM. */
export interface TlsIdentity {
  readonly cert: string;
  readonly key: string;
}

export function identityOf(leaf: TestCert, chain: readonly TestCert[] = []): TlsIdentity {
  return {
    cert: [leaf, ...chain].map((c) => c.pem).join(''),
    key: leaf.nodePrivateKey().export({ format: 'pem', type: 'pkcs8' }).toString(),
  };
}

// ---------------------------------------------------------------------------------------------
// PKIs

/** A partner trust domain: its CA, its bundle endpoint SVID and a JWT key; bundles on demand. */
export interface PartnerPki {
  readonly trustDomain: string;
  readonly ca: TestCert;
  readonly jwtKey: TestJwtKey;
  /** X509-SVID `spiffe://<td>/spiffe/bundle-endpoint` for the https_spiffe profile (FED-15). */
  readonly endpointSvid: TestCert;
  readonly endpointId: string;
  /** A workload SVID signed by the partner CA, to show what the broker trusts. */
  readonly workloadSvid: TestCert;
  /** Deterministic SPIFFE bundle JSON with the partner's CA (+ JWT key) and the given sequence. */
  bundleJson(sequence: number | bigint, extraCas?: readonly TestCert[]): string;
  /** Another leaf signed by the partner CA. */
  leaf(options: LeafOptions): Promise<TestCert>;
}

export async function createPartnerPki(trustDomain: string): Promise<PartnerPki> {
  const ca = await createCa({ trustDomain });
  const jwtKey = await createJwtKey('ES256', `${trustDomain}-jwt-1`);
  const endpointId = `spiffe://${trustDomain}/spiffe/bundle-endpoint`;
  const endpointSvid = await createLeaf(ca, { spiffeIds: [endpointId] });
  const workloadSvid = await createLeaf(ca, { spiffeIds: [`spiffe://${trustDomain}/workload`] });
  return {
    trustDomain,
    ca,
    jwtKey,
    endpointSvid,
    endpointId,
    workloadSvid,
    bundleJson(sequence, extraCas = []) {
      return marshalBundle(
        new Bundle({
          trustDomain: parseTrustDomain(trustDomain),
          x509Authorities: [ca, ...extraCas].map((c) => authorityOf(c)),
          jwtAuthorities: [jwtAuthorityFromJwk(jwtKey.kid, jwtKey.jwk)],
          sequence: BigInt(sequence),
          refreshHintSeconds: 300,
        }),
      ).toString('utf8');
    },
    leaf: (options) => createLeaf(ca, options),
  };
}

/** A private Web PKI (FED-22): a root and server certificates for 127.0.0.1 / localhost. */
export interface WebRoot {
  readonly ca: TestCert;
  readonly caPem: string;
  /** A serverAuth certificate for `names` (default IP 127.0.0.1 + DNS localhost). */
  serverIdentity(options?: {
    dnsNames?: readonly string[];
    ips?: readonly string[];
    notBefore?: Date;
    notAfter?: Date;
  }): Promise<TlsIdentity>;
}

export async function createWebRoot(): Promise<WebRoot> {
  const ca = await createCa({ subject: 'CN=Test Web Root, O=Web PKI' });
  return {
    ca,
    caPem: ca.pem,
    async serverIdentity(options = {}) {
      const leaf = await createLeaf(ca, {
        spiffeIds: [],
        dnsNames: options.dnsNames ?? ['localhost'],
        ips: options.ips ?? [HOST],
        extKeyUsage: [EKU.serverAuth],
        subject: 'CN=localhost',
        ...(options.notBefore === undefined ? {} : { notBefore: options.notBefore }),
        ...(options.notAfter === undefined ? {} : { notAfter: options.notAfter }),
      });
      return identityOf(leaf);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Endpoint servers

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** A scriptable HTTPS bundle endpoint on 127.0.0.1 that counts the HTTP requests it receives. */
export interface EndpointServer {
  readonly port: number;
  readonly origin: string;
  /** HTTP requests that reached a handler (a peer refused during the TLS handshake sends none). */
  readonly requests: number;
  /** Requests per URL path. */
  readonly byPath: ReadonlyMap<string, number>;
  /** The handler for the next requests. */
  handler: Handler;
  /** New certificate for new connections. */
  setIdentity(identity: TlsIdentity): void;
  close(): Promise<void>;
}

/** Things to stop at close (endless bodies, hung responses). */
type Cleanup = () => void;

function trackSockets(server: { on(event: 'connection', fn: (s: Socket) => void): unknown }) {
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  return sockets;
}

export async function startEndpointServer(
  identity: TlsIdentity,
  handler: Handler = status(503),
): Promise<EndpointServer> {
  const byPath = new Map<string, number>();
  let requests = 0;
  const state = { handler };
  const server: Server = createHttpsServer(
    { cert: identity.cert, key: identity.key, minVersion: 'TLSv1.2' },
    (req, res) => {
      requests += 1;
      const path = new URL(req.url ?? '/', 'https://x').pathname;
      byPath.set(path, (byPath.get(path) ?? 0) + 1);
      res.on('error', () => undefined);
      state.handler(req, res);
    },
  );
  // A client that refuses our certificate is the expected outcome of several tests, not an error.
  server.on('tlsClientError', () => undefined);
  const sockets = trackSockets(server);
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    origin: `https://${HOST}:${port}`,
    get requests() {
      return requests;
    },
    byPath,
    get handler() {
      return state.handler;
    },
    set handler(next: Handler) {
      state.handler = next;
    },
    setIdentity(next) {
      server.setSecureContext({ cert: next.cert, key: next.key, minVersion: 'TLSv1.2' });
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A plain-HTTP server that only counts (the target of a redirect to `http:` must never be called). */
export async function startPlainHttpServer(): Promise<{
  readonly url: string;
  readonly requests: number;
  close(): Promise<void>;
}> {
  let requests = 0;
  const server = createHttpServer((_req, res) => {
    requests += 1;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"keys":[]}');
  });
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${HOST}:${port}/bundle`,
    get requests() {
      return requests;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

// ---------------------------------------------------------------------------------------------
// Handlers

export function serve(body: string | Buffer, code = 200): Handler {
  return (_req, res) => {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(body);
  };
}

export function status(code: number): Handler {
  return (_req, res) => {
    res.writeHead(code, { 'content-type': 'text/plain' });
    res.end(code === 204 || code === 304 ? undefined : `status ${code}`);
  };
}

export function redirect(location: string, code = 302): Handler {
  return (_req, res) => {
    res.writeHead(code, { location });
    res.end();
  };
}

/** Streams `totalBytes` of JSON-looking filler, with or without a Content-Length header. */
export function hugeBody(totalBytes: number, declareLength: boolean): Handler {
  const chunk = Buffer.alloc(64 * 1024, 0x20);
  return (_req, res) => {
    res.writeHead(200, {
      'content-type': 'application/json',
      ...(declareLength ? { 'content-length': String(totalBytes) } : {}),
    });
    let sent = 0;
    const pump = (): void => {
      while (sent < totalBytes && !res.destroyed) {
        const size = Math.min(chunk.length, totalBytes - sent);
        sent += size;
        if (!res.write(size === chunk.length ? chunk : chunk.subarray(0, size))) {
          res.once('drain', pump);
          return;
        }
      }
      if (!res.destroyed) res.end();
    };
    pump();
  };
}

/**
 * Sends headers, then one byte every `intervalMs` forever (a slow-loris partner). `live` collects the
 * timers so the test can stop them; the timer also stops when the client goes away.
 */
export function endlessSlowBody(live: Set<Cleanup>, intervalMs = 20): Handler {
  return (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"keys":[');
    const timer = setInterval(() => {
      if (res.destroyed) return stop();
      res.write(' ');
    }, intervalMs);
    const stop = (): void => {
      clearInterval(timer);
      live.delete(stop);
    };
    live.add(stop);
    res.once('close', stop);
  };
}

/** Accepts the request and never answers (headers never come). */
export function neverAnswer(live: Set<Cleanup>): Handler {
  return (_req, res) => {
    const stop = (): void => {
      live.delete(stop);
      res.destroy();
    };
    live.add(stop);
    res.once('close', () => live.delete(stop));
  };
}

// ---------------------------------------------------------------------------------------------
// Federation on a store

export interface CapturedLog {
  readonly level: 'info' | 'warn';
  readonly message: string;
  readonly fields: Record<string, unknown>;
}

export interface Harness {
  readonly federation: Federation;
  readonly store: Store;
  readonly audit: { type: string; trustDomain?: string; details?: Record<string, unknown> }[];
  readonly logs: CapturedLog[];
  readonly logger: FederationLogger;
  /** The injected clock (ms); move it with `advance`. */
  nowMs(): number;
  advance(ms: number): void;
  /** Creates a relationship through the API path (pending) and approves it (active). */
  approved(input: RelationshipInput): Promise<void>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  /** A store to use (e.g. Redis); the embedded file store in a temp dir when absent. */
  readonly store?: Store;
  readonly fetchOptions?: FederationDeps['fetchOptions'];
  readonly ownTrustDomain?: string;
  /** Shared clock (several federations on one store). */
  readonly clock?: { ms: number };
  /** The audit sink (default: records every event in `audit`). */
  readonly audit?: AuditSink;
  readonly reloadIntervalMs?: number;
}

export async function createHarness(options: HarnessOptions = {}): Promise<Harness> {
  const clock = options.clock ?? { ms: Date.now() };
  const dir =
    options.store === undefined ? await mkdtemp(join(tmpdir(), 'fedbroker-fed-')) : undefined;
  const store =
    options.store ??
    (await createFileStore({ dir: join(dir as string, 'store') }, { now: () => clock.ms }));
  const audit: Harness['audit'] = [];
  const logs: CapturedLog[] = [];
  const logger: FederationLogger = {
    info: (message, fields = {}) => logs.push({ level: 'info', message, fields }),
    warn: (message, fields = {}) => logs.push({ level: 'warn', message, fields }),
  };
  const sink: AuditSink =
    options.audit ??
    (async (event) => {
      audit.push(event);
    });
  const federation = createFederation({
    store,
    ownTrustDomain: parseTrustDomain(options.ownTrustDomain ?? 'us.test'),
    now: () => clock.ms,
    random: () => 0.5,
    audit: sink,
    logger,
    fetchOptions: options.fetchOptions ?? { totalTimeoutMs: 10_000, connectTimeoutMs: 5_000 },
    ...(options.reloadIntervalMs === undefined
      ? {}
      : { reloadIntervalMs: options.reloadIntervalMs }),
  });
  return {
    federation,
    store,
    audit,
    logs,
    logger,
    nowMs: () => clock.ms,
    advance: (ms) => {
      clock.ms += ms;
    },
    async approved(input) {
      await federation.create(input, { actor: 'admin:test' });
      await federation.transition(input.trustDomain, 'approve', { actor: 'admin:test' });
    },
    async close() {
      if (options.store === undefined) await store.close();
      if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The trust view's bundle for `trustDomain`, re-serialised and hashed (equal content → equal digest). */
export function trustedDigest(federation: Federation, trustDomain: string): string | undefined {
  const bundle = federation.getBundleForTrustDomain(parseTrustDomain(trustDomain));
  return bundle === undefined ? undefined : bundleDigest(marshalBundle(bundle));
}
