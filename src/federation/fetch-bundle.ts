// Fetching a partner bundle over HTTPS in either profile (FED-20..27). Parsing and storing happen elsewhere.
// The TLS socket is verified before the HTTP request is attached to it, so nothing is read from an
// unauthenticated peer (FED-23: abort before reading the body).
import { createHash, type X509Certificate } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import {
  connect as tlsConnect,
  createSecureContext,
  rootCertificates,
  type SecureContext,
  type TLSSocket,
} from 'node:tls';
import type { Clock } from '../clock.js';
import { FederationError, isBrokerError } from '../errors.js';
import type { BundleSource } from '../bundle/index.js';
import type { SpiffeId } from '../spiffeid/index.js';
import { chainFromPeerCertificate, classifyTlsFailure, verifyX509Svid } from '../svid/index.js';
import { checkEndpointUrl, type Profile } from './relationship.js';

/** FED-21 (policy) limits. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
export const DEFAULT_TOTAL_TIMEOUT_MS = 30_000;
export const MAX_BUNDLE_BODY_BYTES = 1024 * 1024;
/** FED-25 (policy): at most 3 redirect hops. */
export const MAX_REDIRECTS = 3;

export interface FetchTarget {
  readonly url: string;
  readonly profile: Profile;
  /** https_spiffe: the ID the endpoint must present (FED-23). */
  readonly endpointSpiffeId?: SpiffeId | undefined;
  /** https_spiffe: bundle of the endpoint's trust domain (latest stored, or bootstrap before the first success; FED-24). */
  readonly endpointBundle?: BundleSource | undefined;
  /** https_web: extra trusted CA certificates (PEM), added to the system roots (FED-22). */
  readonly caPem?: string | undefined;
  readonly followRedirects: boolean;
}

export interface FetchOptions {
  /** Verification time of the endpoint's X509-SVID (https_spiffe). */
  readonly now: Clock;
  readonly connectTimeoutMs?: number;
  readonly totalTimeoutMs?: number;
  readonly maxBodyBytes?: number;
  readonly signal?: AbortSignal;
}

/** FED-27: what we record about one fetch, success or failure. */
export interface FetchLog {
  readonly url: string;
  readonly profile: Profile;
  readonly redirects: readonly string[];
  /** SPIFFE ID (https_spiffe) or DNS/IP SANs (https_web) of the last peer, plus its SHA-256 fingerprint. */
  readonly peer: { readonly identity: string; readonly fingerprintSha256: string } | null;
  readonly status: number | null;
  readonly bytes: number;
  readonly durationMs: number;
}

export interface FetchResult {
  readonly body: Buffer;
  readonly log: FetchLog;
}

/**
 * https_web with a private root (FED-22): a TLS context holding the system roots plus that root.
 * Building one parses every system root again (about 25 ms of CPU and 1 MB per connection, which
 * made refreshes CPU-bound at a few hundred partners), so contexts are kept per root set, LRU-bounded.
 */
const MAX_WEB_CONTEXTS = 64;
const webContexts = new Map<string, SecureContext>();

function webSecureContext(caPem: string): SecureContext {
  const cached = webContexts.get(caPem);
  if (cached !== undefined) {
    webContexts.delete(caPem);
    webContexts.set(caPem, cached);
    return cached;
  }
  // The context carries the protocol floor: tls.connect ignores minVersion when given a context.
  const context = createSecureContext({ ca: [...rootCertificates, caPem], minVersion: 'TLSv1.2' });
  webContexts.set(caPem, context);
  if (webContexts.size > MAX_WEB_CONTEXTS) {
    const oldest = webContexts.keys().next();
    if (oldest.done !== true) webContexts.delete(oldest.value);
  }
  return context;
}

interface HopState {
  peer: FetchLog['peer'];
  status: number | null;
  bytes: number;
}

function fingerprintOf(der: Buffer): string {
  return createHash('sha256').update(der).digest('hex');
}

/** Authenticates the connected TLS peer per profile; throws FederationError on any failure. */
function authenticatePeer(socket: TLSSocket, target: FetchTarget, nowMs: number): FetchLog['peer'] {
  const noCertificate = (): FederationError =>
    new FederationError('ERR_FEDERATION_FETCH_TLS', 'the endpoint presented no certificate');
  if (target.profile === 'https_web') {
    // FED-22: OpenSSL already checked the chain against the trusted roots and the host name. Only
    // the leaf is needed for the log (cheaper than getPeerCertificate(true) plus a second parse).
    const leaf: X509Certificate | undefined = socket.getPeerX509Certificate();
    if (leaf === undefined) throw noCertificate();
    if (!socket.authorized) {
      throw new FederationError(
        'ERR_FEDERATION_FETCH_TLS',
        `endpoint certificate not trusted: ${String(socket.authorizationError)}`,
      );
    }
    return { identity: leaf.subjectAltName ?? '', fingerprintSha256: fingerprintOf(leaf.raw) };
  }
  const peer = socket.getPeerCertificate(true);
  if (peer === undefined || peer.raw === undefined) throw noCertificate();
  // FED-23: SPIFFE authentication, no host name check; full X509-SVID verification against the
  // bundle of the endpoint's trust domain, then exact ID equality.
  if (target.endpointBundle === undefined || target.endpointSpiffeId === undefined) {
    throw new TypeError('https_spiffe fetch needs endpointSpiffeId and endpointBundle');
  }
  let verified;
  try {
    verified = verifyX509Svid(chainFromPeerCertificate(peer), target.endpointBundle, {
      now: new Date(nowMs),
    });
  } catch (cause) {
    const code = isBrokerError(cause) ? cause.code : 'unknown';
    throw new FederationError(
      'ERR_FEDERATION_FETCH_TLS',
      `endpoint X509-SVID rejected (${code}): ${(cause as Error).message}`,
      { cause, context: { verifyCode: code } },
    );
  }
  const identity = verified.spiffeId.toString();
  if (identity !== target.endpointSpiffeId.toString()) {
    throw new FederationError(
      'ERR_FEDERATION_FETCH_ENDPOINT_ID',
      `endpoint presented "${identity}" but "${target.endpointSpiffeId.toString()}" was configured`,
    );
  }
  return { identity, fingerprintSha256: fingerprintOf(peer.raw) };
}

function networkError(cause: unknown, url: URL): FederationError {
  if (isBrokerError(cause) && cause instanceof FederationError) return cause;
  const code = (cause as NodeJS.ErrnoException | undefined)?.code ?? '';
  // Any TLS failure, a certificate verdict or not, is reported as one (FED-27).
  const tlsLike = classifyTlsFailure(cause) !== undefined;
  return new FederationError(
    tlsLike ? 'ERR_FEDERATION_FETCH_TLS' : 'ERR_FEDERATION_FETCH_NETWORK',
    `${tlsLike ? 'TLS' : 'network'} failure fetching ${url.origin}: ${code || (cause as Error)?.message || 'unknown'}`,
    { cause },
  );
}

type Connected = (error: Error | null, socket?: TLSSocket) => void;

/**
 * Node's `createConnection` for one hop: connects per profile and hands the socket to the request
 * only after authenticatePeer accepted the endpoint (FED-23: nothing is sent to, or read from, an
 * unauthenticated peer). Records the peer in `hop`.
 */
function authenticatedConnection(
  url: URL,
  target: FetchTarget,
  options: FetchOptions,
  hop: HopState,
): (requestOptions: unknown, done: Connected) => undefined {
  const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const port = url.port === '' ? 443 : Number(url.port);
  return (_requestOptions, done) => {
    const socket = tlsConnect({
      host,
      port,
      minVersion: 'TLSv1.2',
      ...(isIP(host) === 0 ? { servername: host } : {}),
      ...(target.profile === 'https_web'
        ? {
            rejectUnauthorized: true,
            ...(target.caPem ? { secureContext: webSecureContext(target.caPem) } : {}),
          }
        : // https_spiffe: OpenSSL's verification is replaced by X509-SVID verification below (X509-31).
          { rejectUnauthorized: false }),
      ALPNProtocols: ['http/1.1'],
    });
    const timer = setTimeout(() => {
      socket.destroy(
        new FederationError('ERR_FEDERATION_FETCH_TIMEOUT', `connect to ${url.host} timed out`),
      );
    }, connectTimeoutMs);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      try {
        hop.peer = authenticatePeer(socket, target, options.now());
      } catch (error) {
        socket.destroy();
        done(error as Error);
        return;
      }
      done(null, socket);
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      done(error);
    });
    return undefined;
  };
}

interface HopResponse {
  readonly status: number;
  readonly location: string | undefined;
  readonly body: Buffer | undefined;
}

/** Settles a hop once: the first outcome wins (a late error after the answer is ignored). */
interface Settle {
  resolve(response: HopResponse): void;
  fail(error: unknown): void;
}

/** Reads one response: non-200 answers carry their Location; a 200 body is capped (FED-21). */
function readResponse(
  res: IncomingMessage,
  hop: HopState,
  maxBody: number,
  settle: Settle,
  failed: (error: unknown) => FederationError,
): void {
  hop.status = res.statusCode ?? 0;
  const status = hop.status;
  if (status !== 200) {
    res.resume();
    res.destroy();
    settle.resolve({ status, location: res.headers.location, body: undefined });
    return;
  }
  const declared = Number(res.headers['content-length'] ?? NaN);
  // Settle before destroying: destroy() can emit a connection error synchronously, which would
  // otherwise win and be reported as a network failure instead of the size limit (FED-21).
  if (Number.isFinite(declared) && declared > maxBody) {
    settle.fail(
      new FederationError(
        'ERR_FEDERATION_FETCH_TOO_LARGE',
        `bundle of ${declared} bytes exceeds ${maxBody}`,
      ),
    );
    res.destroy();
    return;
  }
  const chunks: Buffer[] = [];
  res.on('data', (chunk: Buffer) => {
    hop.bytes += chunk.length;
    if (hop.bytes > maxBody) {
      settle.fail(
        new FederationError(
          'ERR_FEDERATION_FETCH_TOO_LARGE',
          `bundle body exceeds ${maxBody} bytes`,
        ),
      );
      res.destroy();
      return;
    }
    chunks.push(chunk);
  });
  res.on('end', () => settle.resolve({ status, location: undefined, body: Buffer.concat(chunks) }));
  res.on('error', (error) => settle.fail(failed(error)));
  res.on('aborted', () => settle.fail(failed(new Error('aborted'))));
}

/** One HTTP exchange; resolves with the response status, Location and (for 200) the capped body. */
function fetchOnce(
  url: URL,
  target: FetchTarget,
  options: FetchOptions,
  hop: HopState,
  signal: AbortSignal,
): Promise<HopResponse> {
  const maxBody = options.maxBodyBytes ?? MAX_BUNDLE_BODY_BYTES;
  // An abort (total timeout, outer signal) is reported as its reason, not as the socket error.
  const failed = (error: unknown): FederationError =>
    networkError(signal.aborted ? signal.reason : error, url);
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle: Settle = {
      resolve(response) {
        if (settled) return;
        settled = true;
        resolve(response);
      },
      fail(error) {
        if (settled) return;
        settled = true;
        reject(error);
      },
    };
    const req = httpsRequest(url, {
      method: 'GET',
      headers: { accept: 'application/json', 'user-agent': 'fedbroker' },
      // No agent: Node then uses createConnection, so the request is attached only to a socket that
      // passed authentication (with `agent: false` Node would build its own socket and skip ours).
      createConnection: authenticatedConnection(url, target, options, hop) as never,
      signal,
    });
    req.on('error', (error) => settle.fail(failed(error)));
    req.on('response', (res: IncomingMessage) => readResponse(res, hop, maxBody, settle, failed));
    req.end();
  });
}

/**
 * Fetches the bundle document at `target.url` (FED-21): status 200 required, body ≤ 1 MiB, total and
 * connect timeouts, at most 3 redirects to valid https URLs, each hop authenticated like the first
 * (FED-25); the redirect target is never stored. Throws FederationError with `context.log` (FED-27).
 */
export async function fetchBundle(
  target: FetchTarget,
  options: FetchOptions,
): Promise<FetchResult> {
  if (
    target.profile === 'https_spiffe' &&
    (target.endpointBundle === undefined || target.endpointSpiffeId === undefined)
  ) {
    // A caller mistake, not a partner failure: say so before connecting anywhere.
    throw new TypeError('https_spiffe fetch needs endpointSpiffeId and endpointBundle');
  }
  const started = Date.now();
  const redirects: string[] = [];
  const hop: HopState = { peer: null, status: null, bytes: 0 };
  const totalTimeoutMs = options.totalTimeoutMs ?? DEFAULT_TOTAL_TIMEOUT_MS;
  const controller = new AbortController();
  const timer = setTimeout(
    () =>
      controller.abort(
        new FederationError('ERR_FEDERATION_FETCH_TIMEOUT', `fetch exceeded ${totalTimeoutMs} ms`),
      ),
    totalTimeoutMs,
  );
  const onOuterAbort = (): void => controller.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onOuterAbort, { once: true });
  const log = (): FetchLog => ({
    url: target.url,
    profile: target.profile,
    redirects: [...redirects],
    peer: hop.peer,
    status: hop.status,
    bytes: hop.bytes,
    durationMs: Date.now() - started,
  });
  try {
    let url = checkEndpointUrl(target.url);
    for (;;) {
      const response = await fetchOnce(url, target, options, hop, controller.signal);
      if (response.status === 200 && response.body !== undefined) {
        return { body: response.body, log: log() };
      }
      const isRedirect = [301, 302, 303, 307, 308].includes(response.status);
      if (!isRedirect) {
        throw new FederationError(
          'ERR_FEDERATION_FETCH_STATUS',
          `endpoint answered HTTP ${response.status}, not 200`,
        );
      }
      if (!target.followRedirects) {
        throw new FederationError(
          'ERR_FEDERATION_FETCH_REDIRECT',
          'endpoint redirected but redirects are disabled',
        );
      }
      if (redirects.length >= MAX_REDIRECTS) {
        throw new FederationError(
          'ERR_FEDERATION_FETCH_REDIRECT',
          `more than ${MAX_REDIRECTS} redirects`,
        );
      }
      if (response.location === undefined) {
        throw new FederationError(
          'ERR_FEDERATION_FETCH_REDIRECT',
          'redirect without a Location header',
        );
      }
      let next: URL;
      try {
        next = checkEndpointUrl(new URL(response.location, url).toString());
      } catch (cause) {
        throw new FederationError(
          'ERR_FEDERATION_FETCH_REDIRECT',
          `redirect to an invalid endpoint URL refused (FED-16): ${(cause as Error).message}`,
          { cause },
        );
      }
      redirects.push(next.toString());
      hop.status = null;
      hop.bytes = 0;
      url = next;
    }
  } catch (error) {
    const failure =
      error instanceof FederationError
        ? error
        : networkError(
            controller.signal.aborted ? controller.signal.reason : error,
            new URL(target.url),
          );
    throw new FederationError(failure.code, failure.message, {
      cause: failure.cause ?? failure,
      context: { ...(failure.context ?? {}), log: log() },
    });
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onOuterAbort);
  }
}
