// createAgent: enrols with a join token (key pair generated here, the private key never sent),
// keeps the X509-SVID renewed at half its lifetime (a new key each time), and keeps the bundle set
// current through the broker's server-sent event stream, with reconnection, backoff and a poll
// fallback. The broker itself is authenticated with its own trust domain's bundle only.
import type { KeyObject } from 'node:crypto';
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { PeerCertificate } from 'node:tls';
import {
  BundleSet,
  isJsonObject,
  marshalPem,
  parseBundle,
  parseBundleOrPem,
  parseStrictJson,
  stringifyJsonValue,
  type Bundle,
} from '../bundle/index.js';
import { AgentError, isBrokerError } from '../errors.js';
import {
  parseSpiffeId,
  parseTrustDomain,
  spiffeIdFromSegments,
  type SpiffeId,
  type TrustDomain,
} from '../spiffeid/index.js';
import { validateJwtSvid as validateLocally, type ValidatedJwtSvid } from '../svid/index.js';
import { authorizeId } from './authorize.js';
import { newKeyAndCsr, csrPem } from './csr.js';
import { authenticatePeer } from './verify-peer.js';
import type { X509Source, X509SvidWithKey } from './x509-source.js';
import type { Logger } from '../log.js';

export type AgentLogger = Pick<Logger, 'info' | 'warn'>;

export interface CreateAgentOptions {
  /** The broker's agent API, e.g. `https://broker.logistics.example:8444`. */
  readonly brokerUrl: string;
  /** One-time join token from `fedbroker token generate`. */
  readonly joinToken: string;
  /** The broker's trust bundle (SPIFFE JSON or PEM), given beside the token. */
  readonly brokerBundle?: string | Uint8Array;
  /** Or only its SHA-256 (hex): the bundle is fetched and must match before anything is sent. */
  readonly brokerBundleDigest?: string;
  /** Expected trust domain; by default the one on the broker's own certificate. */
  readonly trustDomain?: string;
  /** Expected SPIFFE ID of the agent API; default `spiffe://<td>/fedbroker/agent-api`. */
  readonly brokerSpiffeId?: string;
  /** Keep bundles current through `/v1/agent/bundles/watch`; default true. */
  readonly watch?: boolean;
  /** Bundle poll interval while the watch stream is down; default 30 s. */
  readonly pollIntervalMs?: number;
  readonly logger?: AgentLogger;
  /** Clock for SVID checks (tests); default Date.now. */
  readonly now?: () => number;
  /** Bound on each broker request; default 10 s. */
  readonly requestTimeoutMs?: number;
}

export interface AgentSvid extends X509SvidWithKey {
  readonly privateKey: KeyObject;
  readonly expiresAt: Date;
  /** The per-instance segment of a template entry; null for a fixed ID. */
  readonly instanceId: string | null;
}

export interface JwtSvid {
  readonly token: string;
  readonly spiffeId: SpiffeId;
  readonly expiresAt: Date;
}

export type AgentUpdate = 'svid' | 'bundles';

export interface Agent extends X509Source {
  readonly spiffeId: SpiffeId;
  readonly trustDomain: TrustDomain;
  x509Svid(): AgentSvid;
  /** Our bundle plus the partners our entry may talk to, one per trust domain (FED-30). */
  bundles(): BundleSet;
  /** A JWT-SVID for `audience`, reused while less than half its lifetime has passed. */
  jwtSvid(audience: string | readonly string[]): Promise<JwtSvid>;
  /**
   * Validates a peer's JWT-SVID against the bundle of the token's own trust domain among ours.
   * An unknown key id asks the broker once (it may refresh the partner) and then retries.
   */
  validateJwtSvid(token: string, audience: string): Promise<ValidatedJwtSvid>;
  /** Called after the SVID was renewed or the bundle set changed; returns the unsubscribe. */
  onUpdate(listener: (what: AgentUpdate) => void): () => void;
  /**
   * Renews the X509-SVID now (also done automatically at half its lifetime) and drops cached
   * JWT-SVIDs, so the next jwtSvid() is signed by the broker's current key (e.g. after a rotation).
   */
  renew(): Promise<void>;
  /** Fetches the bundle set now. */
  refreshBundles(): Promise<void>;
  close(): Promise<void>;
}

const MAX_RESPONSE_BYTES = 8 * 1024 * 1024;
/** OpenSSL verification failures (node's error codes): the server is not who the bundle says. */
const TLS_TRUST_ERROR = /CERT|UNABLE_TO_|SELF_SIGNED|SIGNATURE|ERR_TLS_CERT_ALTNAME/;
const DEFAULT_POLL_MS = 30_000;
const DEFAULT_TIMEOUT_MS = 10_000;
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 30_000;
/** No byte on the watch stream for this long (the broker sends keep-alives every 15 s): reconnect. */
const WATCH_IDLE_MS = 60_000;

function untrusted(message: string, cause?: unknown): AgentError {
  return new AgentError(
    'ERR_AGENT_BROKER_UNTRUSTED',
    message,
    cause === undefined ? {} : { cause },
  );
}

function unreachable(message: string, cause?: unknown): AgentError {
  return new AgentError(
    'ERR_AGENT_BROKER_UNREACHABLE',
    message,
    cause === undefined ? {} : { cause },
  );
}

/** Certificates of a detailed PeerCertificate, leaf first, without the anchors OpenSSL appended. */
function chainOf(cert: PeerCertificate, anchors: ReadonlySet<string>): Buffer[] {
  const chain: Buffer[] = [];
  const seen = new Set<PeerCertificate>();
  let current: PeerCertificate | undefined = cert;
  while (current?.raw !== undefined && !seen.has(current) && chain.length < 10) {
    seen.add(current);
    if (chain.length === 0 || !anchors.has(current.raw.toString('base64'))) chain.push(current.raw);
    current = (current as PeerCertificate & { issuerCertificate?: PeerCertificate })
      .issuerCertificate;
  }
  return chain;
}

function tooLarge(): AgentError {
  return new AgentError(
    'ERR_AGENT_RESPONSE_TOO_LARGE',
    `broker response larger than ${MAX_RESPONSE_BYTES} bytes`,
  );
}

function backoff(attempt: number): number {
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** Math.min(attempt, 16));
  return Math.round(base / 2 + (Math.random() * base) / 2);
}

interface Response {
  readonly status: number;
  readonly body: Buffer;
}

/** Enrols with the broker and returns a running agent (see the module comment). */
export async function createAgent(options: CreateAgentOptions): Promise<Agent> {
  const url = new URL(options.brokerUrl);
  if (url.protocol !== 'https:') throw new TypeError('brokerUrl must be an https URL');
  if (typeof options.joinToken !== 'string' || options.joinToken.length === 0) {
    throw new TypeError('joinToken is required');
  }
  if ((options.brokerBundle === undefined) === (options.brokerBundleDigest === undefined)) {
    throw new TypeError('give exactly one of brokerBundle and brokerBundleDigest');
  }
  const now = options.now ?? Date.now;
  const timeoutMs = options.requestTimeoutMs ?? DEFAULT_TIMEOUT_MS;
  const logger = options.logger;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = Number(url.port === '' ? 443 : url.port);
  const controller = new AbortController();
  // Declared before the first request: requestError reads it from an 'error' listener, and a
  // failed bootstrap request must not meet it in its temporal dead zone (issue 15, finding 5).
  let closed = false;

  // --- The broker's bundle and identity ---------------------------------------------------------
  const placeholder = parseTrustDomain('bootstrap.invalid');
  let bootstrapBytes: Uint8Array | string;
  if (options.brokerBundle !== undefined) {
    bootstrapBytes = options.brokerBundle;
  } else {
    const expected = String(options.brokerBundleDigest)
      .toLowerCase()
      .replace(/^sha256:/, '');
    if (!/^[0-9a-f]{64}$/.test(expected)) {
      throw new TypeError('brokerBundleDigest must be a SHA-256 hex digest');
    }
    // Nothing secret is sent on this unauthenticated request; the digest is the trust anchor.
    const fetched = await send(
      new HttpsAgent({ rejectUnauthorized: false, keepAlive: false }),
      'GET',
      '/v1/agent/bundle',
    );
    const actual = createHash('sha256').update(fetched.body).digest('hex');
    if (fetched.status !== 200 || actual !== expected) {
      throw untrusted(
        `the broker's bundle does not match the digest given with the join token (got ${actual.slice(0, 16)}…)`,
      );
    }
    bootstrapBytes = fetched.body;
  }
  let trustDomain: TrustDomain;
  let ownBundle: Bundle;
  try {
    const roots = parseBundleOrPem(bootstrapBytes, placeholder).x509Authorities;
    if (roots.length === 0) throw untrusted('the broker bundle holds no X.509 authority');
    trustDomain =
      options.trustDomain === undefined
        ? await brokerTrustDomain(marshalPem(roots.map((a) => a.der)))
        : parseTrustDomain(options.trustDomain);
    ownBundle = parseBundleOrPem(bootstrapBytes, trustDomain);
  } catch (error) {
    if (isBrokerError(error) && error.code.startsWith('ERR_AGENT_')) throw error;
    throw untrusted('the broker bundle could not be read', error);
  }
  const brokerId =
    options.brokerSpiffeId === undefined
      ? spiffeIdFromSegments(trustDomain, 'fedbroker', 'agent-api')
      : parseSpiffeId(options.brokerSpiffeId);
  if (!brokerId.isMemberOf(trustDomain)) {
    throw new TypeError('brokerSpiffeId must be in the broker trust domain');
  }

  // --- State ------------------------------------------------------------------------------------
  let svid: AgentSvid | undefined;
  let bundleSet = new BundleSet([ownBundle]);
  let mtlsAgent: HttpsAgent | undefined;
  const listeners = new Set<(what: AgentUpdate) => void>();
  const jwtCache = new Map<string, { svid: JwtSvid; refreshAtMs: number }>();

  const emit = (what: AgentUpdate): void => {
    for (const listener of listeners) {
      try {
        listener(what);
      } catch (error) {
        logger?.warn('agent update listener failed', { error: (error as Error).message });
      }
    }
  };

  /** TLS options that accept only the broker: chain to our bundle, then exactly its SPIFFE ID. */
  function brokerTls(): Record<string, unknown> {
    const anchors = ownBundle.x509Authorities;
    const anchorSet = new Set(anchors.map((a) => a.der.toString('base64')));
    return {
      ca: marshalPem(anchors.map((a) => a.der)),
      rejectUnauthorized: true,
      servername: /^[\d.:]+$/.test(host) ? undefined : host,
      // Replaces the host-name check: the broker is identified by its SPIFFE ID (X509-28).
      checkServerIdentity: (_host: string, cert: PeerCertificate): Error | undefined => {
        try {
          authenticatePeer(
            chainOf(cert, anchorSet),
            new BundleSet([ownBundle]),
            authorizeId(brokerId),
            new Date(now()),
          );
          return undefined;
        } catch (error) {
          return untrusted(`the agent API is not ${brokerId.toString()}`, error);
        }
      },
    };
  }

  function newMtlsAgent(current: AgentSvid | undefined): HttpsAgent {
    return new HttpsAgent({
      keepAlive: true,
      maxCachedSessions: 0,
      ...brokerTls(),
      ...(current === undefined
        ? {}
        : {
            cert: marshalPem(current.chainDer),
            key: current.privateKeyPem,
          }),
    });
  }

  /** The trust domain on the broker's certificate, whose chain must end at the given roots. */
  async function brokerTrustDomain(rootsPem: string): Promise<TrustDomain> {
    let seen: string | undefined;
    const agent = new HttpsAgent({
      keepAlive: false,
      ca: rootsPem,
      rejectUnauthorized: true,
      checkServerIdentity: (_host: string, cert: PeerCertificate) => {
        const uri = /(?:^|, )URI:(spiffe:\/\/[^,]+)/.exec(cert.subjectaltname ?? '');
        seen = uri?.[1];
        return undefined;
      },
    });
    await send(agent, 'GET', '/v1/agent/bundle');
    if (seen === undefined) throw untrusted('the agent API certificate holds no SPIFFE ID');
    return parseSpiffeId(seen).trustDomain;
  }

  function send(
    agent: HttpsAgent,
    method: string,
    path: string,
    body?: unknown,
    onResponse?: (response: IncomingMessage) => void,
  ): Promise<Response> {
    return new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body), 'utf8');
      const request = httpsRequest(
        {
          host,
          port,
          method,
          path,
          agent,
          signal: controller.signal,
          headers: {
            accept: 'application/json',
            ...(payload === undefined
              ? {}
              : { 'content-type': 'application/json', 'content-length': payload.length }),
          },
        },
        (response) => {
          if (onResponse !== undefined) {
            onResponse(response);
            resolve({ status: response.statusCode ?? 0, body: Buffer.alloc(0) });
            return;
          }
          const chunks: Buffer[] = [];
          let size = 0;
          response.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_RESPONSE_BYTES) {
              response.destroy(tooLarge());
              return;
            }
            chunks.push(chunk);
          });
          response.on('end', () =>
            resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks) }),
          );
          response.on('error', (error) => reject(responseError(error)));
          // A connection closed before the whole body arrived ('end' never comes).
          response.on('close', () => {
            if (!response.complete) {
              reject(unreachable('the broker closed the connection mid-response'));
            }
          });
        },
      );
      if (onResponse === undefined) {
        request.setTimeout(timeoutMs, () =>
          request.destroy(
            new AgentError(
              'ERR_AGENT_BROKER_TIMEOUT',
              `no answer from the broker at ${url.origin} within ${timeoutMs} ms`,
            ),
          ),
        );
      }
      request.on('error', (error) => reject(requestError(error)));
      request.end(payload);
    });
  }

  /** A failed response body: our own checks keep their code; anything else is unreachable. */
  function responseError(error: unknown): Error {
    if (isBrokerError(error)) return error;
    if (closed) return new AgentError('ERR_AGENT_CLOSED', 'the agent was closed');
    return unreachable('broker response failed', error);
  }

  /** Classifies a failed request: our own checks keep their code; a failed chain is untrusted. */
  function requestError(error: Error & { code?: unknown }): Error {
    if (isBrokerError(error)) return error;
    if (closed) return new AgentError('ERR_AGENT_CLOSED', 'the agent was closed');
    if (typeof error.code === 'string' && TLS_TRUST_ERROR.test(error.code)) {
      return untrusted(
        `the agent API at ${url.origin} did not present a chain to the broker bundle (${error.code})`,
        error,
      );
    }
    return unreachable(`cannot reach the broker at ${url.origin}: ${error.message}`, error);
  }

  /** A JSON call; a broker error body becomes ERR_AGENT_BROKER_REFUSED with the broker's code. */
  async function call(method: string, path: string, body?: unknown): Promise<unknown> {
    if (closed) throw new AgentError('ERR_AGENT_CLOSED', 'the agent was closed');
    mtlsAgent ??= newMtlsAgent(svid);
    const response = await send(mtlsAgent, method, path, body);
    const text = response.body.toString('utf8');
    if (response.status !== 200) {
      let code = `HTTP ${response.status}`;
      let message = text.slice(0, 300);
      try {
        const parsed = JSON.parse(text) as { error?: { code?: string; message?: string } };
        code = parsed.error?.code ?? code;
        message = parsed.error?.message ?? message;
      } catch {
        // not JSON
      }
      throw new AgentError(
        'ERR_AGENT_BROKER_REFUSED',
        `broker refused ${path}: ${code}: ${message}`,
        {
          context: { brokerCode: code, status: response.status },
        },
      );
    }
    return parseStrictJson(response.body);
  }

  function svidFrom(value: unknown, privateKey: KeyObject, instanceId: string | null): AgentSvid {
    if (!isJsonObject(value as never)) throw untrusted('malformed SVID response');
    const record = value as Record<string, unknown>;
    const x509 = record['x509Svid'] as Record<string, unknown> | undefined;
    const chain = x509?.['chain'];
    if (!Array.isArray(chain) || chain.length === 0 || !chain.every((c) => typeof c === 'string')) {
      throw untrusted('malformed SVID response');
    }
    const chainDer = (chain as string[]).map((c) => Buffer.from(c, 'base64'));
    // Our own SVID is checked like any peer's before use: it must chain to our bundle (X509-31).
    const verified = authenticatePeer(chainDer, bundleSet, () => true, new Date(now()));
    if (!verified.spiffeId.isMemberOf(trustDomain)) {
      throw untrusted('the broker issued an SVID outside its trust domain');
    }
    return {
      spiffeId: verified.spiffeId,
      chainDer,
      privateKey,
      privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
      expiresAt: verified.svid.leaf.notAfter,
      instanceId,
    };
  }

  function applyBundles(value: unknown): void {
    if (!isJsonObject(value as never)) throw untrusted('malformed bundles response');
    const map = (value as Record<string, unknown>)['bundles'];
    if (!isJsonObject(map as never)) throw untrusted('malformed bundles response');
    const bundles: Bundle[] = [];
    for (const [name, json] of Object.entries(map as Record<string, unknown>)) {
      const td = parseTrustDomain(name);
      bundles.push(parseBundle(stringifyJsonValue(json as never), td));
    }
    const own = bundles.find((b) => b.trustDomain.name === trustDomain.name);
    if (own === undefined) throw untrusted('bundles response lacks our own trust domain');
    const next = new BundleSet(bundles);
    const changed =
      next.size !== bundleSet.size ||
      [...next].some((b) => {
        const old = bundleSet.get(b.trustDomain);
        return old === undefined || old.sequence !== b.sequence || !sameContent(old, b);
      });
    ownBundle = own;
    bundleSet = next;
    if (changed) emit('bundles');
  }

  // --- Enrolment --------------------------------------------------------------------------------
  const firstKey = newKeyAndCsr();
  const enrolled = await call('POST', '/v1/agent/attest', {
    joinToken: options.joinToken,
    csr: csrPem(firstKey.csrDer),
  });
  {
    const record = enrolled as Record<string, unknown>;
    const bundleJson = record['bundle'];
    if (bundleJson !== undefined) {
      ownBundle = parseBundle(stringifyJsonValue(bundleJson as never), trustDomain);
      bundleSet = new BundleSet([ownBundle]);
    }
    const instanceId = typeof record['instanceId'] === 'string' ? record['instanceId'] : null;
    svid = svidFrom(enrolled, firstKey.privateKey, instanceId);
  }
  mtlsAgent?.destroy();
  mtlsAgent = newMtlsAgent(svid);
  const spiffeId = svid.spiffeId;
  logger?.info('agent enrolled', { spiffeId: spiffeId.toString(), instanceId: svid.instanceId });
  applyBundles(await call('GET', '/v1/agent/bundles'));

  // --- Renewal ----------------------------------------------------------------------------------
  let renewTimer: NodeJS.Timeout | undefined;
  let renewFailures = 0;
  const renew = async (): Promise<void> => {
    const current = svid as AgentSvid;
    const next = newKeyAndCsr();
    const response = await call('POST', '/v1/agent/x509svid', { csr: csrPem(next.csrDer) });
    const renewed = svidFrom(response, next.privateKey, current.instanceId);
    if (renewed.spiffeId.toString() !== current.spiffeId.toString()) {
      throw untrusted('the broker renewed a different SPIFFE ID');
    }
    svid = renewed;
    jwtCache.clear();
    const old = mtlsAgent;
    mtlsAgent = newMtlsAgent(renewed);
    old?.destroy();
    emit('svid');
    restartWatch();
  };
  const scheduleRenewal = (): void => {
    if (closed || svid === undefined) return;
    const lifetime = svid.expiresAt.getTime() - now();
    const delay =
      renewFailures === 0
        ? Math.max(1000, Math.floor(lifetime / 2))
        : Math.max(1000, Math.min(backoff(renewFailures), Math.floor(lifetime / 4)));
    renewTimer = setTimeout(() => {
      renew()
        .then(() => {
          renewFailures = 0;
        })
        .catch((error: unknown) => {
          renewFailures += 1;
          logger?.warn('X509-SVID renewal failed; retrying', {
            error: (error as Error).message,
            attempt: renewFailures,
          });
        })
        .finally(scheduleRenewal);
    }, delay);
    renewTimer.unref();
  };
  scheduleRenewal();

  // --- Bundle watch with reconnection, backoff and poll fallback --------------------------------
  let watchAbort: AbortController | undefined;
  let watchConnected = false;
  let watchAttempt = 0;
  let watchTimer: NodeJS.Timeout | undefined;
  let pollTimer: NodeJS.Timeout | undefined;

  const refreshBundles = async (): Promise<void> => {
    applyBundles(await call('GET', '/v1/agent/bundles'));
  };

  function startWatch(): void {
    if (closed || options.watch === false) return;
    const abort = new AbortController();
    watchAbort = abort;
    let idle: NodeJS.Timeout | undefined;
    const bump = (request: { destroy: (e?: Error) => void }): void => {
      clearTimeout(idle);
      idle = setTimeout(() => request.destroy(unreachable('watch stream idle')), WATCH_IDLE_MS);
      idle.unref();
    };
    const done = (reason: string): void => {
      clearTimeout(idle);
      if (watchAbort !== abort) return;
      watchConnected = false;
      watchAbort = undefined;
      if (closed) return;
      watchAttempt += 1;
      const delay = backoff(watchAttempt);
      logger?.warn('bundle watch stream ended; reconnecting', { reason, inMs: delay });
      watchTimer = setTimeout(startWatch, delay);
      watchTimer.unref();
    };
    mtlsAgent ??= newMtlsAgent(svid);
    const request = httpsRequest(
      {
        host,
        port,
        method: 'GET',
        path: '/v1/agent/bundles/watch',
        agent: mtlsAgent,
        signal: abort.signal,
        headers: { accept: 'text/event-stream' },
      },
      (response) => {
        if (response.statusCode !== 200) {
          response.resume();
          done(`HTTP ${response.statusCode}`);
          return;
        }
        watchConnected = true;
        bump(request);
        let buffer = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          bump(request);
          buffer += chunk;
          if (buffer.length > MAX_RESPONSE_BYTES) {
            request.destroy(tooLarge());
            return;
          }
          let end: number;
          while ((end = buffer.search(/\r?\n\r?\n/)) !== -1) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, '');
            handleEvent(block);
          }
        });
        response.on('end', () => done('stream closed'));
        response.on('error', () => done('stream failed'));
      },
    );
    request.on('error', (error) => done(error.message));
    request.end();
  }

  function handleEvent(block: string): void {
    let event = 'message';
    const data: string[] = [];
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon === -1 ? line : line.slice(0, colon);
      const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
    }
    if (event !== 'bundles') return;
    try {
      applyBundles(parseStrictJson(data.join('\n')));
      watchAttempt = 0;
    } catch (error) {
      logger?.warn('ignoring a malformed bundles event', { error: (error as Error).message });
    }
  }

  function restartWatch(): void {
    if (options.watch === false) return;
    const abort = watchAbort;
    watchAbort = undefined;
    watchConnected = false;
    abort?.abort();
    clearTimeout(watchTimer);
    watchAttempt = 0;
    startWatch();
  }

  const pollMs = options.pollIntervalMs ?? DEFAULT_POLL_MS;
  const schedulePoll = (): void => {
    if (closed) return;
    pollTimer = setTimeout(() => {
      const poll = watchConnected ? Promise.resolve() : refreshBundles();
      poll
        .catch((error: unknown) =>
          logger?.warn('bundle poll failed', { error: (error as Error).message }),
        )
        .finally(schedulePoll);
    }, pollMs);
    pollTimer.unref();
  };
  startWatch();
  schedulePoll();

  // --- The agent --------------------------------------------------------------------------------
  return {
    spiffeId,
    trustDomain,
    x509Svid: () => svid as AgentSvid,
    bundles: () => bundleSet,

    async jwtSvid(audience) {
      const list = typeof audience === 'string' ? [audience] : [...audience];
      const key = JSON.stringify([...list].sort());
      const cached = jwtCache.get(key);
      if (cached !== undefined && now() < cached.refreshAtMs) return cached.svid;
      const response = (await call('POST', '/v1/agent/jwtsvid', { audience: list })) as Record<
        string,
        unknown
      >;
      const token = response['token'];
      const expiresAt = new Date(String(response['expiresAt']));
      if (typeof token !== 'string' || Number.isNaN(expiresAt.getTime())) {
        throw untrusted('malformed JWT-SVID response');
      }
      const result: JwtSvid = { token, spiffeId, expiresAt };
      const issuedAt = now();
      jwtCache.set(key, {
        svid: result,
        refreshAtMs: issuedAt + (expiresAt.getTime() - issuedAt) / 2,
      });
      return result;
    },

    async validateJwtSvid(token, audience) {
      const validate = (): ValidatedJwtSvid =>
        validateLocally(token, bundleSet, { audience, now: new Date(now()) });
      try {
        return validate();
      } catch (error) {
        if (!isBrokerError(error) || error.code !== 'ERR_SVID_JWT_KID_UNKNOWN') throw error;
        // The partner may have rotated: the broker validates (refreshing it once, rate-limited),
        // then our set is refreshed and the check runs here again.
        await call('POST', '/v1/agent/jwt/validate', { token, audience });
        await refreshBundles();
        return validate();
      }
    },

    onUpdate(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },

    renew,
    refreshBundles,

    async close() {
      if (closed) return;
      closed = true;
      clearTimeout(renewTimer);
      clearTimeout(watchTimer);
      clearTimeout(pollTimer);
      watchAbort?.abort();
      controller.abort();
      mtlsAgent?.destroy();
      listeners.clear();
    },
  };
}

function sameContent(a: Bundle, b: Bundle): boolean {
  if (a.x509Authorities.length !== b.x509Authorities.length) return false;
  if (a.jwtAuthorities.size !== b.jwtAuthorities.size) return false;
  const ders = new Set(a.x509Authorities.map((x) => x.der.toString('base64')));
  if (!b.x509Authorities.every((x) => ders.has(x.der.toString('base64')))) return false;
  return [...b.jwtAuthorities.keys()].every((kid) => a.jwtAuthorities.has(kid));
}
