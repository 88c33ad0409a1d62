// createAgent: enrols with a join token (key pair generated here, the private key never sent),
// keeps the X509-SVID renewed at half its lifetime (a new key each time), and keeps the bundle set
// current through the broker's server-sent event stream, with reconnection, backoff and a poll
// fallback. The broker itself is authenticated with its own trust domain's bundle only. The jobs
// live beside it: broker-connection.ts, broker-trust.ts, svid-rotation.ts, bundle-watch.ts.
import type { KeyObject } from 'node:crypto';
import { BundleSet, parseBundle, stringifyJsonValue, type Bundle } from '../bundle/index.js';
import type { Clock } from '../clock.js';
import { isBrokerError } from '../errors.js';
import type { Logger } from '../log.js';
import type { SpiffeId, TrustDomain } from '../spiffeid/index.js';
import { validateJwtSvid as validateLocally, type ValidatedJwtSvid } from '../svid/index.js';
import { BrokerConnection, untrusted } from './broker-connection.js';
import {
  bundleSetChanged,
  bundleSetFromResponse,
  jwtSvidFromResponse,
  svidFromResponse,
} from './broker-responses.js';
import { establishBrokerTrust } from './broker-trust.js';
import { WATCH_PATH, createBundleWatch } from './bundle-watch.js';
import { csrPem, newKeyAndCsr } from './csr.js';
import { createSvidRotation } from './svid-rotation.js';
import type { X509Source, X509SvidWithKey } from './x509-source.js';

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
  readonly now?: Clock;
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

const DEFAULT_POLL_MS = 30_000;
const DEFAULT_TIMEOUT_MS = 10_000;

/** Caller mistakes in the options throw TypeError before anything is sent. */
function checkOptions(options: CreateAgentOptions): URL {
  const url = new URL(options.brokerUrl);
  if (url.protocol !== 'https:') throw new TypeError('brokerUrl must be an https URL');
  if (typeof options.joinToken !== 'string' || options.joinToken.length === 0) {
    throw new TypeError('joinToken is required');
  }
  if ((options.brokerBundle === undefined) === (options.brokerBundleDigest === undefined)) {
    throw new TypeError('give exactly one of brokerBundle and brokerBundleDigest');
  }
  return url;
}

/** The update listeners: a listener that throws is logged and the others still run. */
function createUpdates(logger: AgentLogger | undefined): {
  emit(what: AgentUpdate): void;
  on(listener: (what: AgentUpdate) => void): () => void;
  clear(): void;
} {
  const listeners = new Set<(what: AgentUpdate) => void>();
  return {
    emit(what) {
      for (const listener of listeners) {
        try {
          listener(what);
        } catch (error) {
          logger?.warn('agent update listener failed', { error: (error as Error).message });
        }
      }
    },
    on(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    clear: () => listeners.clear(),
  };
}

/**
 * JWT-SVIDs per audience set, reused while less than half their lifetime has passed; `clear()`
 * after a renewal so the next one is signed by the broker's current key.
 */
function createJwtSvids(
  issue: (audience: readonly string[]) => Promise<unknown>,
  spiffeId: () => SpiffeId,
  now: Clock,
): { get(audience: string | readonly string[]): Promise<JwtSvid>; clear(): void } {
  const cache = new Map<string, { svid: JwtSvid; refreshAtMs: number }>();
  return {
    async get(audience) {
      const list = typeof audience === 'string' ? [audience] : [...audience];
      const key = JSON.stringify([...list].sort());
      const cached = cache.get(key);
      if (cached !== undefined && now() < cached.refreshAtMs) return cached.svid;
      const { token, expiresAt } = jwtSvidFromResponse(await issue(list));
      const result: JwtSvid = { token, spiffeId: spiffeId(), expiresAt };
      const issuedAt = now();
      cache.set(key, {
        svid: result,
        refreshAtMs: issuedAt + (expiresAt.getTime() - issuedAt) / 2,
      });
      return result;
    },
    clear: () => cache.clear(),
  };
}

/** The attest answer: our bundle (when sent) and the first SVID, verified against that bundle. */
function enrolment(
  value: unknown,
  privateKey: KeyObject,
  trustDomain: TrustDomain,
  ownBundle: Bundle,
  nowMs: number,
): { ownBundle: Bundle; svid: AgentSvid } {
  if (typeof value !== 'object' || value === null) throw untrusted('malformed SVID response');
  const record = value as Record<string, unknown>;
  const bundleJson = record['bundle'];
  const own =
    bundleJson === undefined
      ? ownBundle
      : parseBundle(stringifyJsonValue(bundleJson as never), trustDomain);
  const instanceId = typeof record['instanceId'] === 'string' ? record['instanceId'] : null;
  const svid = svidFromResponse(
    value,
    { privateKey, instanceId },
    new BundleSet([own]),
    trustDomain,
    nowMs,
  );
  return { ownBundle: own, svid };
}

/** Enrols with the broker and returns a running agent (see the module comment). */
export async function createAgent(options: CreateAgentOptions): Promise<Agent> {
  const url = checkOptions(options);
  const now = options.now ?? Date.now;
  const logger = options.logger;
  const connection = new BrokerConnection(url, options.requestTimeoutMs ?? DEFAULT_TIMEOUT_MS, now);
  const { trustDomain, brokerId, ...bootstrap } = await establishBrokerTrust(connection, options);
  let ownBundle = bootstrap.ownBundle;
  let bundleSet = new BundleSet([ownBundle]);
  connection.trustBroker({ brokerId, ownBundle: () => ownBundle });
  const updates = createUpdates(logger);

  const applyBundles = (value: unknown): void => {
    const next = bundleSetFromResponse(value, trustDomain);
    const changed = bundleSetChanged(bundleSet, next.set);
    ownBundle = next.own;
    bundleSet = next.set;
    if (changed) updates.emit('bundles');
  };
  const refreshBundles = async (): Promise<void> => {
    applyBundles(await connection.call('GET', '/v1/agent/bundles'));
  };

  // --- Enrolment --------------------------------------------------------------------------------
  const firstKey = newKeyAndCsr();
  const enrolled = enrolment(
    await connection.call('POST', '/v1/agent/attest', {
      joinToken: options.joinToken,
      csr: csrPem(firstKey.csrDer),
    }),
    firstKey.privateKey,
    trustDomain,
    ownBundle,
    now(),
  );
  if (enrolled.ownBundle !== ownBundle) {
    ownBundle = enrolled.ownBundle;
    bundleSet = new BundleSet([ownBundle]);
  }
  let svid = enrolled.svid;
  connection.presentSvid(svid);
  const spiffeId = svid.spiffeId;
  logger?.info('agent enrolled', { spiffeId: spiffeId.toString(), instanceId: svid.instanceId });
  await refreshBundles();

  const jwtSvids = createJwtSvids(
    (audience) => connection.call('POST', '/v1/agent/jwtsvid', { audience }),
    () => spiffeId,
    now,
  );
  const watch = createBundleWatch({
    open: (signal, onResponse) => connection.stream(WATCH_PATH, signal, onResponse),
    apply: applyBundles,
    refresh: refreshBundles,
    enabled: options.watch !== false,
    pollIntervalMs: options.pollIntervalMs ?? DEFAULT_POLL_MS,
    logger,
  });
  const renew = async (): Promise<void> => {
    const current = svid;
    const next = newKeyAndCsr();
    const response = await connection.call('POST', '/v1/agent/x509svid', {
      csr: csrPem(next.csrDer),
    });
    const key = { privateKey: next.privateKey, instanceId: current.instanceId };
    const renewed = svidFromResponse(response, key, bundleSet, trustDomain, now());
    if (renewed.spiffeId.toString() !== current.spiffeId.toString()) {
      throw untrusted('the broker renewed a different SPIFFE ID');
    }
    svid = renewed;
    jwtSvids.clear();
    connection.presentSvid(renewed);
    updates.emit('svid');
    watch.restart();
  };
  const rotation = createSvidRotation({
    renew,
    expiresAtMs: () => svid.expiresAt.getTime(),
    now,
    logger,
  });
  rotation.start();
  watch.start();

  return {
    spiffeId,
    trustDomain,
    x509Svid: () => svid,
    bundles: () => bundleSet,
    jwtSvid: (audience) => jwtSvids.get(audience),
    async validateJwtSvid(token, audience) {
      const validate = (): ValidatedJwtSvid =>
        validateLocally(token, bundleSet, { audience, now: new Date(now()) });
      try {
        return validate();
      } catch (error) {
        if (!isBrokerError(error) || error.code !== 'ERR_SVID_JWT_KID_UNKNOWN') throw error;
        // The partner may have rotated: the broker validates (refreshing it once, rate-limited),
        // then our set is refreshed and the check runs here again.
        await connection.call('POST', '/v1/agent/jwt/validate', { token, audience });
        await refreshBundles();
        return validate();
      }
    },
    onUpdate: (listener) => updates.on(listener),
    renew,
    refreshBundles,
    async close() {
      if (connection.closed) return;
      rotation.stop();
      watch.stop();
      connection.close();
      updates.clear();
    },
  };
}
