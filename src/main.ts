// Composition root: config -> store -> CA -> federation -> API apps -> listeners, one small step each;
// the only file that picks adapters. Everything long-running runs under one AbortSignal and stops
// cleanly on stop(), in the order `Teardown` keeps.
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Worker } from 'node:worker_threads';
import {
  countBundleFetches,
  createBrokerMetrics,
  createFailedLogins,
  instrumentCa,
  instrumentStore,
  KeptOwnSvids,
  recordRotationSteps,
  serveOwnBundle,
  startAdminApi,
  startAgentApi,
  startBundleEndpoint,
  Teardown,
  type BrokerMetrics,
  type OwnSvidKeeperDeps,
  type StopStep,
} from './api/index.js';
import { areAdminsRelated } from './access/index.js';
import { chainTrimmedEvent, createAuditRecorder, type AuditEventInput } from './audit/index.js';
import {
  createCa,
  createRotator,
  createSharedLocalBundle,
  type Ca,
  type RotationRecorder,
} from './ca/index.js';
import { systemClock, type Clock } from './clock.js';
import {
  checkPermissions,
  defaultCsrCheckWorkers,
  loadAdminToken,
  loadReplicaId,
  readConfiguredFile,
  startupPaths,
  type LoadedConfig,
  type RelationshipConfig,
} from './config/index.js';
import { ConfigError } from './errors.js';
import {
  createFederation,
  createScheduler,
  type Federation,
  type RelationshipInput,
  type ServedBundle,
} from './federation/index.js';
import type { Logger } from './log.js';
import {
  adminApiIdOf,
  agentApiIdOf,
  bundleEndpointIdOf,
  parseSpiffeId,
  parseTrustDomain,
  type SpiffeId,
  type TrustDomain,
} from './spiffeid/index.js';
import { createRegistration, type Registration } from './registration/index.js';
import { CHANNELS, createStore, type Store, type StoreOptions } from './store/index.js';

export interface BrokerDeps {
  readonly logger: Logger;
  /** The broker's clock (milliseconds since the epoch); default the system clock. */
  readonly now?: Clock;
  /** Identifies this replica in leases (FED-43). */
  readonly replicaId?: string;
  /** Window of the aggregated `admin.login_failed` events (default one minute); a test seam. */
  readonly failedLoginWindowMs?: number;
  /** Uniform [0, 1) source of the watch heartbeat jitter; default Math.random (tests inject it). */
  readonly random?: () => number;
}

export interface Broker {
  readonly bundleEndpointUrl: string;
  readonly adminUrl: string;
  readonly adminTokenFile: string | undefined;
  /** https URL of the agent API listener. */
  readonly agentApiUrl: string;
  /** What partners and agents are told: bundleEndpoint.url / agentApi.url, else the listeners. */
  readonly publicUrls: { readonly bundleEndpoint: string; readonly agentApi: string };
  /** The SPIFFE ID on the agent API's certificate. */
  readonly agentApiSpiffeId: string;
  readonly registration: Registration;
  /**
   * The issuer every API uses: this replica's CA signs; its `localBundle()` and `onBundleChange` are
   * the bundle published for all replicas (see `startCa`).
   */
  readonly ca: Ca;
  readonly federation: Federation;
  readonly store: Store;
  /** Current served bundle bytes (what partners get). */
  servedBundle(): ServedBundle | undefined;
  /** https_spiffe: issue a fresh endpoint X509-SVID now (also done on a timer at half its lifetime). */
  renewBundleEndpointSvid(): Promise<void>;
  /** Test hook: the bundle endpoint's worker thread (undefined with bundleEndpoint.isolated false). */
  bundleEndpointWorker(): Worker | undefined;
  stop(): Promise<void>;
}

/** What the start-up steps share. */
interface Wiring {
  readonly loaded: LoadedConfig;
  readonly config: LoadedConfig['config'];
  readonly deps: BrokerDeps;
  readonly logger: Logger;
  readonly nowMs: Clock;
  readonly replicaId: string;
  readonly trustDomain: TrustDomain;
  readonly teardown: Teardown;
  readonly metrics: BrokerMetrics;
  readonly store: Store;
}

/** Fail closed: an audit record that is not durable rejects (ERR_STORE_UNAVAILABLE, 503). */
type AuditSink = (event: {
  type: string;
  actor: string;
  trustDomain?: string;
  details?: Record<string, unknown>;
}) => Promise<void>;

/** Starts every part of a broker and resolves once all listeners accept connections. */
export async function startBroker(loaded: LoadedConfig, deps: BrokerDeps): Promise<Broker> {
  const { logger } = deps;
  const nowMs = deps.now ?? systemClock;
  const replicaId = prepareDataDir(loaded, deps.replicaId);
  const teardown = new Teardown();
  const trustDomain = parseTrustDomain(loaded.config.trustDomain);
  const metrics = createBrokerMetrics({
    onCollectError: (metric, error) =>
      logger.warn('metrics collector failed', { metric, error: (error as Error).message }),
  });
  const store = await openStore(loaded, logger, nowMs, metrics);
  const closeStore = (): Promise<void> => store.close();
  teardown.last(closeStore);
  const config = loaded.config;
  const w: Wiring = {
    loaded,
    config,
    deps,
    logger,
    nowMs,
    replicaId,
    trustDomain,
    teardown,
    metrics,
    store,
  };
  try {
    return await startParts(w, closeStore);
  } catch (error) {
    await teardown.abandon();
    throw error;
  }
}

/** The CA, the bundle endpoint, federation, registration, the agent API and the admin API. */
async function startParts(w: Wiring, closeStore: StopStep): Promise<Broker> {
  const { config, logger, nowMs, store, teardown, trustDomain } = w;
  const record = createAuditRecorder({ store, now: nowMs });
  const audit = auditSinkFor(record, logger);
  // Each step of the CA's rotations (at start and by the rotator) is audited before it applies:
  // while the audit log cannot be written nothing rotates, and the broker does not start.
  const recordSteps = recordRotationSteps(audit);
  const { ownCa, issuer, ownSvids } = await startCa(w, recordSteps);
  const ownBundle = serveOwnBundle({
    issuer,
    config: config.bundleEndpoint,
    teardown,
    nowMs,
    logger,
  });
  const rotator = createRotator({ ca: ownCa, now: nowMs, logger, record: recordSteps });
  teardown.inBackground((signal) => rotator.run(signal));
  const listening = { ownSvids, teardown, metrics: w.metrics, logger, nowMs };
  const bundleEndpoint = await startBundleEndpoint({
    ...listening,
    config: config.bundleEndpoint,
    configDir: resolve(w.loaded.path, '..'),
    spiffeId: bundleEndpointId(w),
    bundle: ownBundle,
  });
  const federation = await startFederation(w, audit);
  const registration = await startRegistration(w);
  const agentApi = await startAgentApi({
    ...listening,
    config: config.agentApi,
    spiffeId: agentApiIdOf(trustDomain),
    issuer,
    registration,
    federation,
    audit,
    random: w.deps.random,
  });
  const admin = loadAdminToken(w.loaded, logger);
  const windowMs = w.deps.failedLoginWindowMs;
  const failedLogins = createFailedLogins({ record, nowMs, logger, windowMs });
  // Just before the store closes (the steps run in order): the open window is written, not lost.
  teardown.before(closeStore, () => failedLogins.flush());
  const adminListener = await startAdminApi({
    ...listening,
    config,
    spiffeId: adminApiIdOf(trustDomain),
    bundleEndpointId: bundleEndpointId(w),
    issuer,
    store,
    federation,
    registration,
    audit,
    failedLogins,
    bundleEndpoint,
    ownBundle,
    token: () => admin.token,
    agentApiUrl: agentApi.publicUrl,
  });
  logger.info('broker started', {
    trustDomain: trustDomain.name,
    store: store.kind,
    bundleEndpoint: bundleEndpoint.listener.url,
    profile: config.bundleEndpoint.profile,
    agentApi: agentApi.publicUrl,
    admin: adminListener.url,
  });
  let stopped: Promise<void> | undefined;
  return {
    bundleEndpointUrl: bundleEndpoint.listener.url,
    adminUrl: adminListener.url,
    adminTokenFile: admin.file,
    agentApiUrl: agentApi.listener.url,
    publicUrls: { bundleEndpoint: bundleEndpoint.publicUrl, agentApi: agentApi.publicUrl },
    agentApiSpiffeId: agentApiIdOf(trustDomain).toString(),
    registration,
    ca: issuer,
    federation,
    store,
    servedBundle: () => ownBundle.served(),
    renewBundleEndpointSvid: () => bundleEndpoint.renewSvid(),
    bundleEndpointWorker: () => bundleEndpoint.listener.worker(),
    stop() {
      stopped ??= teardown
        .stop(logger)
        .then(() => logger.info('broker stopped', { trustDomain: trustDomain.name }));
      return stopped;
    },
  };
}

// ---- the broker's own service IDs -------------------------------------------------------------

/** https_spiffe: the ID on the bundle endpoint's SVID (bundleEndpoint.spiffeId or the default). */
function bundleEndpointId(w: Wiring): SpiffeId | undefined {
  const endpoint = w.config.bundleEndpoint;
  if (endpoint.profile !== 'https_spiffe') return undefined;
  return endpoint.spiffeId === undefined
    ? bundleEndpointIdOf(w.trustDomain)
    : parseSpiffeId(endpoint.spiffeId);
}

// ---- data directory and store ----------------------------------------------------------------

/** Creates the data directory, checks what start-up will read (issue 15) and returns the replica id. */
function prepareDataDir(loaded: LoadedConfig, replicaId: string | undefined): string {
  mkdirSync(loaded.dataDir, { recursive: true, mode: 0o700 });
  // Nothing another user could have planted or read is used (issue 15): checked before any read.
  const fileStoreDir =
    loaded.config.store.kind === 'file' ? join(loaded.dataDir, 'store') : undefined;
  checkPermissions(startupPaths(loaded, fileStoreDir));
  return replicaId ?? loadReplicaId(loaded.dataDir);
}

function storeOptions(loaded: LoadedConfig): StoreOptions {
  const store = loaded.config.store;
  if (store.kind === 'file') return { kind: 'file', dir: join(loaded.dataDir, 'store') };
  if (store.url === undefined && store.sentinel === undefined && store.cluster === undefined) {
    throw new ConfigError('ERR_CONFIG_INVALID', 'store.kind redis needs url, sentinel or cluster');
  }
  return {
    kind: 'redis',
    ...(store.url === undefined ? {} : { url: store.url }),
    ...(store.sentinel === undefined ? {} : { sentinel: store.sentinel }),
    ...(store.cluster === undefined ? {} : { cluster: store.cluster }),
    keyPrefix: store.keyPrefix,
    commandTimeoutMs: store.commandTimeout * 1000,
  };
}

async function openStore(
  loaded: LoadedConfig,
  logger: Logger,
  nowMs: Clock,
  metrics: BrokerMetrics,
): Promise<Store> {
  const store = await createStore(storeOptions(loaded), {
    logger,
    now: nowMs,
    auditTrimmed: chainTrimmedEvent,
  });
  return instrumentStore(store, metrics);
}

/** The audit recorder as the rooms take it; a failed append is logged and rethrown (fail closed). */
function auditSinkFor(record: ReturnType<typeof createAuditRecorder>, logger: Logger): AuditSink {
  return async (event) => {
    try {
      await record(event as AuditEventInput);
    } catch (error) {
      logger.error('audit append failed', { type: event.type, error: (error as Error).message });
      throw error;
    }
  };
}

// ---- CA ----------------------------------------------------------------------------------------

/**
 * This replica's CA (`ownCa`: signs with its own authorities, keys on its own disk), the bundle
 * published for every replica (the union of their authorities, one sequence the store never lets go
 * back, BUNDLE-31), and the `issuer` the rest of the broker uses: `ownCa` issuing, with the published
 * bundle as its `localBundle()`, so everything that hands out or checks against our bundle sees it.
 */
async function startCa(
  w: Wiring,
  record: RotationRecorder,
): Promise<{ ownCa: Ca; issuer: Ca; ownSvids: OwnSvidKeeperDeps }> {
  const { config, loaded, nowMs, logger } = w;
  // The steps due at start (the first start's authorities, or what fell due while the broker was
  // down) are recorded before they apply; a failed append fails the start with nothing applied.
  const ownCa = await createCa(
    { now: nowMs, logger, requestsInFlight: () => w.metrics.requestsInFlight(), record },
    {
      trustDomain: w.trustDomain,
      dataDir: loaded.dataDir,
      keyType: config.ca.keyType,
      jwtKeyType: config.ca.jwtKeyType,
      caTtlSeconds: config.ca.caTtl,
      x509SvidTtlSeconds: config.ca.x509SvidTtl,
      maxX509SvidTtlSeconds: config.ca.maxX509SvidTtl,
      jwtSvidTtlSeconds: config.ca.jwtSvidTtl,
      maxJwtSvidTtlSeconds: config.ca.maxJwtSvidTtl,
      refreshHintSeconds: config.bundleEndpoint.refreshHint,
      csrCheckWorkers: config.ca.csrCheckWorkers ?? defaultCsrCheckWorkers(),
      uriNameConstraints: config.ca.uriNameConstraints,
      ...(config.ca.upstream === undefined
        ? {}
        : {
            upstream: {
              certFile: resolve(loaded.path, '..', config.ca.upstream.certFile),
              keyFile: resolve(loaded.path, '..', config.ca.upstream.keyFile),
            },
          }),
    },
  );
  w.teardown.first(() => ownCa.close());

  const publishedBundle = createSharedLocalBundle({
    ca: ownCa,
    store: w.store,
    replicaId: w.replicaId,
    now: nowMs,
    logger,
    channel: CHANNELS.localBundleChanged,
    resyncMs: Math.min(30_000, Math.max(1000, (config.bundleEndpoint.refreshHint * 1000) / 2)),
  });
  await publishedBundle.start(w.teardown.signal);
  const kept = new KeptOwnSvids();
  const issuer = instrumentCa(
    {
      ...ownCa,
      localBundle: () => publishedBundle.current(),
      onBundleChange: (listener) => publishedBundle.onChange(listener),
      revoke: async (kind, id) => {
        if (kind === 'x509') await kept.reissueSignedBy(id, ownCa.authorities('x509'), logger);
        return ownCa.revoke(kind, id);
      },
    },
    w.metrics,
  );
  return { ownCa, issuer, ownSvids: { issuer, nowMs, logger, signal: w.teardown.signal, kept } };
}

// ---- federation and registration ---------------------------------------------------------------

function staticRelationships(loaded: LoadedConfig): RelationshipInput[] {
  const base = resolve(loaded.path, '..');
  return loaded.config.federation.relationships.map((r: RelationshipConfig) => ({
    trustDomain: r.trustDomain,
    url: r.url,
    profile: r.profile,
    endpointSpiffeId: r.endpointSpiffeId,
    bootstrapBundle:
      r.bundleFile === undefined
        ? undefined
        : readConfiguredFile('bundle file', r.bundleFile, base),
    caPem: r.caFile === undefined ? undefined : readConfiguredFile('CA file', r.caFile, base),
  }));
}

/** Relationships (the configured ones synced in) and the refresh scheduler. */
async function startFederation(w: Wiring, audit: AuditSink): Promise<Federation> {
  const { store, nowMs, logger } = w;
  // Every fetch is counted, including those a verifier meeting an unknown kid asks for.
  const federation = createFederation({
    store,
    ownTrustDomain: w.trustDomain,
    now: nowMs,
    requiredApprovals: w.config.federation.requiredApprovals,
    areRelated: (a, b) => areAdminsRelated(store, a, b),
    // Admin changes fail closed. A partner's bundle, once stored, must also be loaded: its
    // bundle.changed/refused event failing is logged and the refresh goes on (as before).
    audit: (event) =>
      event.type.startsWith('bundle.') && event.type !== 'bundle.forced'
        ? audit(event).catch((error: unknown) => {
            logger.error('audit: partner bundle event not written', {
              type: event.type,
              trustDomain: event.trustDomain,
              error: (error as Error).message,
            });
          })
        : audit(event),
    logger,
    onRefreshed: countBundleFetches(w.metrics),
  });
  await federation.start(w.teardown.signal);
  await federation.syncStatic(staticRelationships(w.loaded));
  const scheduler = createScheduler({
    federation,
    locks: store,
    now: nowMs,
    logger,
    replicaId: w.replicaId,
  });
  w.teardown.inBackground((signal) => scheduler.run(signal));
  return federation;
}

/** Entries and join tokens; the broker's own service IDs and the admin IDs are reserved. */
async function startRegistration(w: Wiring): Promise<Registration> {
  const endpointId = bundleEndpointId(w);
  const registration = createRegistration({
    store: w.store,
    ownTrustDomain: w.trustDomain,
    reserved: [
      agentApiIdOf(w.trustDomain),
      adminApiIdOf(w.trustDomain),
      ...(endpointId === undefined ? [] : [endpointId]),
      ...w.config.adminApi.adminIds.map((id) => parseSpiffeId(typeof id === 'string' ? id : id.id)),
    ],
    now: w.nowMs,
    randomBytes,
    logger: w.logger,
    replicaId: w.replicaId,
  });
  await registration.start(w.teardown.signal);
  return registration;
}
