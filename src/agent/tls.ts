// mTLS with X509-SVIDs over node:tls / node:https: each side presents its current SVID (read from the
// source per connection) and authenticates the peer against its own trust domain's bundle only.
//
// How no unverified socket reaches application code (X509-31 replaces OpenSSL's verdict):
// - Node has no hook between the peer's CertificateVerify and the end of the handshake, and with
//   rejectUnauthorized false it never calls checkServerIdentity (Node calls it only after OpenSSL's
//   own chain check passed, which would need a pooled root store, FED-30). So we verify when Node
//   reports the handshake complete, before anything else can touch the socket:
//   * server: guardServer() wraps the server's `emit` so that 'secureConnection', the only way
//     tls.Server listeners, https/http2 request parsing or anything else receive a TLS socket, is
//     emitted only for authenticated peers. A refused socket is destroyed first (bytes the client
//     already sent are never read) and reported as 'tlsClientError'.
//   * client: connectMtls() and tlsClientOptions().createConnection open the socket themselves and
//     hand it out (promise / http's createConnection callback) only after verifying the server, so
//     no application byte is written to an unauthenticated server.
// - Options that reach Node without our code fail closed: tlsServerOptions() carry no certificate
//   (the guard installs the current SVID per connection), so an unguarded server completes no
//   handshake; tlsClientOptions() keep rejectUnauthorized true with an empty CA list, so tls.connect
//   or an https.Agent (both ignore createConnection) refuse every server.
// - Session resumption is off on our servers (SSL_OP_NO_TICKET): a resumed session does not carry
//   the peer's intermediates, and every connection is verified against the bundles of that moment.
// - TLS 1.2 renegotiation is off on both sides (SSL_OP_NO_RENEGOTIATION): the identity verified at
//   the handshake cannot be swapped for an unverified certificate later on the same connection.
import { constants, createHash } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import * as https from 'node:https';
import { isIP, type Socket } from 'node:net';
import * as tls from 'node:tls';
import { marshalPem } from '../bundle/index.js';
import { systemClock, type Clock } from '../clock.js';
import { AgentError } from '../errors.js';
import type { SpiffeId } from '../spiffeid/index.js';
import type { Authorizer } from './authorize.js';
import { authenticatePeer, peerChainOf, type VerifiedPeer } from './verify-peer.js';
import { checkSvid, type X509Source, type X509SvidWithKey } from './x509-source.js';

/** secureOptions of every context we build (see the header). */
const CLIENT_SECURE_OPTIONS = constants.SSL_OP_NO_RENEGOTIATION;
const SERVER_SECURE_OPTIONS = constants.SSL_OP_NO_RENEGOTIATION | constants.SSL_OP_NO_TICKET;

/** Default bound on a client's TCP connect + TLS handshake + verification. */
export const DEFAULT_MTLS_HANDSHAKE_TIMEOUT_MS = 10_000;

export interface MtlsOptions {
  /** Clock for certificate validity windows (milliseconds since the epoch); default Date.now. */
  readonly now?: Clock;
}

export interface MtlsClientOptions extends MtlsOptions {
  /** Bound on connect + handshake + verification; default DEFAULT_MTLS_HANDSHAKE_TIMEOUT_MS. */
  readonly timeoutMs?: number;
}

export interface MtlsConnectOptions extends MtlsClientOptions {
  readonly host?: string;
  readonly port: number;
  /** SNI only; never part of authentication (X509-28). Default: `host` when it is a DNS name. */
  readonly servername?: string;
  readonly ALPNProtocols?: string[];
  readonly signal?: AbortSignal;
}

interface Gate {
  readonly source: X509Source;
  readonly authorize: Authorizer;
  readonly now: Clock;
}

const GATE = Symbol('fedbroker.agent.mtlsGate');
const guardedServers = new WeakSet<tls.Server>();
const verifiedPeers = new WeakMap<tls.TLSSocket, VerifiedPeer>();

/** The authenticated peer of a socket our helpers accepted or opened; undefined for any other. */
export function peerOf(socket: Duplex): VerifiedPeer | undefined {
  return verifiedPeers.get(socket as tls.TLSSocket);
}

/** The SPIFFE ID of the authenticated peer (e.g. `peerIdOf(req.socket)` in an https handler). */
export function peerIdOf(socket: Duplex): SpiffeId | undefined {
  return peerOf(socket)?.spiffeId;
}

function makeGate(source: X509Source, authorize: Authorizer, options: MtlsOptions): Gate {
  if (typeof source?.x509Svid !== 'function' || typeof source.bundles !== 'function') {
    throw new TypeError('source must be an X509Source');
  }
  if (typeof authorize !== 'function') throw new TypeError('authorize must be an Authorizer');
  const now = options.now ?? systemClock;
  if (typeof now !== 'function') throw new TypeError('now must be a function');
  return { source, authorize, now };
}

function authenticateSocket(socket: tls.TLSSocket, gate: Gate): VerifiedPeer {
  const peer = authenticatePeer(
    peerChainOf(socket),
    gate.source.bundles(),
    gate.authorize,
    gate.now(),
  );
  verifiedPeers.set(socket, peer);
  return peer;
}

/** Digest identifying an SVID's content, so a source returning equal copies costs no rebuild. */
function svidDigest(svid: X509SvidWithKey): string {
  const hash = createHash('sha256');
  for (const der of svid.chainDer) hash.update(der);
  return hash.update(svid.privateKeyPem).digest('base64');
}

/** Reads the source's SVID; calls `rebuild` only when its content changed since the last call. */
function svidTracker(source: X509Source, rebuild: (svid: X509SvidWithKey) => void): () => void {
  let lastSvid: X509SvidWithKey | undefined;
  let lastDigest: string | undefined;
  return () => {
    let svid: X509SvidWithKey;
    try {
      svid = checkSvid(source.x509Svid());
    } catch (cause) {
      throw new AgentError('ERR_AGENT_SVID_UNAVAILABLE', 'the source has no usable x509-svid', {
        cause,
      });
    }
    if (svid === lastSvid) return;
    const digest = svidDigest(svid);
    if (digest !== lastDigest) {
      try {
        rebuild(svid);
      } catch (cause) {
        throw new AgentError(
          'ERR_AGENT_SVID_UNAVAILABLE',
          'the x509-svid or its key cannot be used for tls',
          { cause },
        );
      }
      lastDigest = digest;
    }
    lastSvid = svid;
  };
}

function identityOptions(svid: X509SvidWithKey): { cert: string; key: string } {
  // X509-7: leaf first, then intermediates.
  return { cert: marshalPem(svid.chainDer), key: svid.privateKeyPem };
}

// ---------------------------------------------------------------------------------------------
// Server side

/**
 * TLS options for an mTLS server, for tls.createServer / https.createServer (spread your own
 * options in if needed), which must then be passed with the same options object to guardServer().
 * They request a client certificate, replace OpenSSL's chain check by X509-SVID verification
 * (X509-31), trust no CA list (FED-30) and carry no certificate: the guard installs the source's
 * current SVID per connection, so a server that was never guarded completes no handshake.
 */
export function tlsServerOptions(
  source: X509Source,
  authorize: Authorizer,
  options: MtlsOptions = {},
): tls.TlsOptions {
  const gate = makeGate(source, authorize, options);
  const tlsOptions: tls.TlsOptions = {
    requestCert: true,
    rejectUnauthorized: false,
    ca: [],
    minVersion: 'TLSv1.2',
    secureOptions: SERVER_SECURE_OPTIONS,
  };
  (tlsOptions as Record<symbol, unknown>)[GATE] = gate;
  return tlsOptions;
}

/**
 * Makes a server created with `options` (from tlsServerOptions, possibly spread with more) enforce
 * mTLS: the source's current SVID is installed before each connection's handshake, and
 * 'secureConnection' (hence https 'request', http2 sessions, your listeners) only ever sees peers
 * whose X509-SVID verified against the bundle of their own trust domain and that `authorize`
 * allowed. Refused sockets are destroyed and reported as 'tlsClientError' with an AgentError.
 */
export function guardServer<S extends tls.Server>(server: S, options: tls.TlsOptions): S {
  if (!(server instanceof tls.Server)) throw new TypeError('server must be a tls.Server');
  const gate = (options as Record<symbol, unknown> | undefined)?.[GATE] as Gate | undefined;
  if (gate === undefined) throw new TypeError('options must come from tlsServerOptions()');
  if (guardedServers.has(server)) throw new TypeError('server is already guarded');
  guardedServers.add(server);

  // The original emit, bound; every event but 'secureConnection' passes straight through.
  const emit = server.emit.bind(server) as (event: string | symbol, ...args: unknown[]) => boolean;
  const baseOptions: tls.SecureContextOptions = { ...options };
  const refresh = svidTracker(gate.source, (svid) => {
    server.setSecureContext({ ...baseOptions, ...identityOptions(svid) });
  });
  // Runs before tls.Server's own 'connection' listener builds the TLSSocket from the context.
  server.prependListener('connection', (raw: Socket) => {
    try {
      refresh();
    } catch (error) {
      raw.destroy();
      emit('tlsClientError', error, raw);
    }
  });

  const guardedEmit = (event: string | symbol, ...args: unknown[]): boolean => {
    if (event !== 'secureConnection') return emit(event, ...args);
    const socket = args[0] as tls.TLSSocket;
    try {
      authenticateSocket(socket, gate);
    } catch (error) {
      socket.destroy();
      emit('tlsClientError', error, socket);
      return false;
    }
    return emit(event, ...args);
  };
  server.emit = guardedEmit as S['emit'];
  return server;
}

/** A guarded tls.Server; `listener` receives only authenticated sockets (see peerIdOf). */
export function createMtlsServer(
  source: X509Source,
  authorize: Authorizer,
  listener?: (socket: tls.TLSSocket) => void,
  options: MtlsOptions = {},
): tls.Server {
  const tlsOptions = tlsServerOptions(source, authorize, options);
  return guardServer(tls.createServer(tlsOptions, listener), tlsOptions);
}

/** A guarded https.Server; `requestListener` only sees requests on authenticated connections. */
export function createMtlsHttpsServer(
  source: X509Source,
  authorize: Authorizer,
  requestListener?: RequestListener<typeof IncomingMessage, typeof ServerResponse>,
  options: MtlsOptions = {},
): https.Server {
  const tlsOptions = tlsServerOptions(source, authorize, options);
  return guardServer(https.createServer(tlsOptions, requestListener), tlsOptions);
}

// ---------------------------------------------------------------------------------------------
// Client side

// One client SecureContext per source, rebuilt only when the source's SVID changes.
const clientContexts = new WeakMap<X509Source, { refresh(): void; context: tls.SecureContext }>();

function clientContextOf(source: X509Source): tls.SecureContext {
  let entry = clientContexts.get(source);
  if (entry === undefined) {
    const holder: { refresh(): void; context: tls.SecureContext } = {
      refresh: svidTracker(source, (svid) => {
        holder.context = tls.createSecureContext({
          ...identityOptions(svid),
          ca: [],
          minVersion: 'TLSv1.2',
          secureOptions: CLIENT_SECURE_OPTIONS,
        });
      }),
      context: undefined as unknown as tls.SecureContext,
    };
    entry = holder;
    clientContexts.set(source, entry);
  }
  entry.refresh();
  return entry.context;
}

interface ConnectTarget {
  readonly host: string;
  readonly port: number;
  readonly servername?: string | undefined;
  readonly ALPNProtocols?: string[] | undefined;
  readonly signal?: AbortSignal | undefined;
}

/** Opens a TLS connection, verifies the server, then (and only then) hands the socket to `done`. */
function openVerified(
  gate: Gate,
  target: ConnectTarget,
  timeoutMs: number,
  done: (error: Error | null, socket?: tls.TLSSocket) => void,
): void {
  let context: tls.SecureContext;
  try {
    context = clientContextOf(gate.source);
  } catch (error) {
    process.nextTick(done, error);
    return;
  }
  if (target.signal?.aborted) {
    process.nextTick(done, target.signal.reason);
    return;
  }
  const servername =
    target.servername ?? (isIP(target.host) === 0 && target.host !== '' ? target.host : undefined);
  const socket = tls.connect({
    host: target.host,
    port: target.port,
    secureContext: context,
    // X509-31: OpenSSL's verdict is replaced by X509-SVID verification below.
    rejectUnauthorized: false,
    ...(servername === undefined ? {} : { servername }),
    ...(target.ALPNProtocols === undefined ? {} : { ALPNProtocols: target.ALPNProtocols }),
  });
  let settled = false;
  const finish = (error: Error | null): void => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    socket.removeListener('error', onError);
    target.signal?.removeEventListener('abort', onAbort);
    if (error === null) {
      done(null, socket);
    } else {
      socket.destroy();
      done(error);
    }
  };
  const onError = (error: Error): void => finish(error);
  const onAbort = (): void => finish(target.signal?.reason as Error);
  const timer = setTimeout(() => {
    finish(
      new AgentError(
        'ERR_AGENT_HANDSHAKE_TIMEOUT',
        `mtls handshake with ${target.host}:${target.port} did not complete in ${timeoutMs} ms`,
        { context: { host: target.host, port: target.port, timeoutMs } },
      ),
    );
  }, timeoutMs);
  socket.on('error', onError);
  target.signal?.addEventListener('abort', onAbort, { once: true });
  socket.once('secureConnect', () => {
    try {
      authenticateSocket(socket, gate);
    } catch (error) {
      finish(error as Error);
      return;
    }
    finish(null);
  });
}

function checkTimeout(timeoutMs: number | undefined): number {
  const value = timeoutMs ?? DEFAULT_MTLS_HANDSHAKE_TIMEOUT_MS;
  if (!Number.isInteger(value) || value <= 0) {
    throw new TypeError('timeoutMs must be a positive integer');
  }
  return value;
}

/**
 * Connects with mTLS: presents the source's current SVID and resolves with the socket only after
 * the server's X509-SVID verified against the bundle of its own trust domain and `authorize`
 * allowed its SPIFFE ID; otherwise rejects (AgentError ERR_AGENT_PEER_UNVERIFIED /
 * ERR_AGENT_PEER_UNAUTHORIZED / ERR_AGENT_HANDSHAKE_TIMEOUT, or the network error). The server's
 * verdict on us arrives after this (TLS 1.3): a refused client sees the connection end.
 */
export function connectMtls(
  source: X509Source,
  authorize: Authorizer,
  options: MtlsConnectOptions,
): Promise<tls.TLSSocket> {
  const gate = makeGate(source, authorize, options);
  if (!Number.isInteger(options.port) || options.port <= 0 || options.port > 65535) {
    throw new TypeError('port must be an integer between 1 and 65535');
  }
  const timeoutMs = checkTimeout(options.timeoutMs);
  const target: ConnectTarget = {
    host: options.host ?? 'localhost',
    port: options.port,
    servername: options.servername,
    ALPNProtocols: options.ALPNProtocols,
    signal: options.signal,
  };
  return new Promise((resolve, reject) => {
    openVerified(gate, target, timeoutMs, (error, socket) => {
      if (error !== null || socket === undefined) reject(error ?? new Error('no socket'));
      else resolve(socket);
    });
  });
}

/** Refuses every server; only reached when these options bypass createConnection. */
function refuseOutsideCreateConnection(): Error {
  return new AgentError(
    'ERR_AGENT_PEER_UNVERIFIED',
    'tlsClientOptions() work through https.request without an agent; use connectMtls() for raw tls',
  );
}

/**
 * Options for https.request / http.request-style clients (no `agent`): the connection is opened by
 * `createConnection`, which presents the source's current SVID and gives the socket to the request
 * only after the server is authenticated, so the request is never written to an unverified peer.
 * Passed to tls.connect or used with an https.Agent (which ignore createConnection) they fail
 * closed: empty CA list, rejectUnauthorized true.
 */
export function tlsClientOptions(
  source: X509Source,
  authorize: Authorizer,
  options: MtlsClientOptions = {},
): https.RequestOptions {
  const gate = makeGate(source, authorize, options);
  const timeoutMs = checkTimeout(options.timeoutMs);
  return {
    defaultPort: 443,
    createConnection: (requestOptions, oncreate) => {
      const port = Number(requestOptions.port ?? 443);
      openVerified(
        gate,
        {
          host: requestOptions.host ?? requestOptions.hostname ?? 'localhost',
          port,
          servername: (requestOptions as tls.ConnectionOptions).servername,
          ALPNProtocols: ['http/1.1'],
        },
        timeoutMs,
        (error, socket) => {
          if (error !== null || socket === undefined)
            oncreate(error ?? new Error('no socket'), undefined as unknown as Duplex);
          else oncreate(null, socket);
        },
      );
      return undefined;
    },
    ca: [],
    rejectUnauthorized: true,
    checkServerIdentity: refuseOutsideCreateConnection,
  };
}
