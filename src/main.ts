// Composition root: config -> store -> CA -> federation -> listeners. The only file that picks adapters.
// Everything long-running runs under one AbortSignal and stops cleanly on stop().
import { randomBytes } from 'node:crypto';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { serve, type ServerType } from '@hono/node-server';
import {
  createAdminApp,
  createAgentApp,
  createFailedAuthLimiter,
  createPeerVerifier,
  applyConnectionLimits,
  createWatchLimiter,
  serverLimitOptions,
  startInThreadBundleListener,
  startIsolatedBundleListener,
  type ListenerLimits,
  type BundleListener,
  createBrokerMetrics,
  instrumentCa,
  countBundleFetches,
  instrumentStore,
  requestMetrics,
} from './api/index.js';
import {
  chainTrimmedEvent,
  createAuditRecorder,
  createFailedLoginAggregator,
  type AuditEventInput,
} from './audit/index.js';
import { marshalBundle, type Bundle } from './bundle/index.js';
import {
  allTrusted,
  AUTHORITY_KINDS,
  createCa,
  createEndpointTrustTracker,
  createRotator,
  createSharedLocalBundle,
  ownSvidReissueReason,
  type Ca,
  type EndpointTrust,
} from './ca/index.js';
import {
  adminTokenFile,
  checkPermissions,
  defaultCsrCheckWorkers,
  type ListenerLimitsConfig,
  startupPaths,
  type LoadedConfig,
  type RelationshipConfig,
} from './config/index.js';
import { ConfigError } from './errors.js';
import {
  createFederation,
  createScheduler,
  serveBundle,
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
} from './spiffeid/index.js';
import { createRegistration, type Registration } from './registration/index.js';
import {
  createAdminDirectory,
  createSessions,
  type AdminDirectory,
  type Sessions,
} from './access/index.js';
import { CHANNELS, createStore, type Store, type StoreOptions } from './store/index.js';

export interface BrokerDeps {
  readonly logger: Logger;
  readonly now?: () => Date;
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

/** Lifetime of the broker's own X509-SVIDs (bundle endpoint, agent API); renewed at half of it (FED-15). */
const ENDPOINT_SVID_TTL_SECONDS = 3600;

interface TlsIdentity {
  readonly cert: string;
  readonly key: string;
  readonly renewInMs: number;
}
/** How often https_web certificate files are checked for changes. */
const CERT_FILE_POLL_MS = 10_000;

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

/** A listener's configured limits (seconds) as the api room takes them (milliseconds). */
function listenerLimits(limits: ListenerLimitsConfig): ListenerLimits {
  return {
    maxConnections: limits.maxConnections,
    maxConnectionsPerAddress: limits.maxConnectionsPerAddress,
    handshakeTimeoutMs: limits.handshakeTimeout * 1000,
    headersTimeoutMs: limits.headersTimeout * 1000,
    requestTimeoutMs: limits.requestTimeout * 1000,
    keepAliveTimeoutMs: limits.keepAliveTimeout * 1000,
    idleTimeoutMs: limits.idleTimeout * 1000,
  };
}

function splitListen(listen: string): { host: string; port: number } {
  const index = listen.lastIndexOf(':');
  const host = listen.slice(0, index).replace(/^\[|\]$/g, '');
  return { host, port: Number(listen.slice(index + 1)) };
}

/**
 * The trimmed text of `file`; when absent it is first written (mode 0600, never over an existing
 * file, so a concurrent creator wins and both read the same text) with `initial()`.
 */
function readOrCreate(file: string, initial: () => string): { text: string; created: boolean } {
  let created = false;
  if (!existsSync(file)) {
    try {
      writeFileSync(file, `${initial()}\n`, { mode: 0o600, flag: 'wx' });
      created = true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
  return { text: readFileSync(file, 'utf8').trim(), created };
}

/** Reads (or creates, mode 0600) the admin token; the environment variable wins. */
function loadAdminToken(
  loaded: LoadedConfig,
  logger: Logger,
): { token: string; file: string | undefined } {
  if (loaded.adminTokenFromEnv !== undefined)
    return { token: loaded.adminTokenFromEnv, file: undefined };
  const file = adminTokenFile(loaded);
  const { text: token, created } = readOrCreate(
    file,
    () => `fbat_${randomBytes(32).toString('base64url')}`,
  );
  if (created) logger.info('generated admin token', { file });
  if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
  if (token.length < 16)
    throw new ConfigError(
      'ERR_CONFIG_FILE',
      `admin token in "${file}" is shorter than 16 characters`,
    );
  return { token, file };
}

/**
 * This replica's id, kept in the data directory so that a restart replaces its authority record in
 * the shared store instead of leaving a stale one behind (its keys live in the same directory).
 */
function loadReplicaId(dataDir: string): string {
  const file = join(dataDir, 'replica-id');
  const { text: id } = readOrCreate(file, () => `replica-${randomBytes(8).toString('hex')}`);
  if (!/^[A-Za-z0-9._:@+=~-]{1,128}$/.test(id)) {
    throw new ConfigError('ERR_CONFIG_FILE', `"${file}" does not hold a valid replica id`);
  }
  return id;
}

function readFileFor(what: string, file: string, base: string): string {
  try {
    return readFileSync(resolve(base, file), 'utf8');
  } catch (cause) {
    throw new ConfigError('ERR_CONFIG_FILE', `cannot read ${what} "${file}"`, { cause });
  }
}

function staticRelationships(loaded: LoadedConfig): RelationshipInput[] {
  const base = resolve(loaded.path, '..');
  return loaded.config.federation.relationships.map((r: RelationshipConfig) => ({
    trustDomain: r.trustDomain,
    url: r.url,
    profile: r.profile,
    endpointSpiffeId: r.endpointSpiffeId,
    bootstrapBundle:
      r.bundleFile === undefined ? undefined : readFileFor('bundle file', r.bundleFile, base),
    caPem: r.caFile === undefined ? undefined : readFileFor('CA file', r.caFile, base),
  }));
}

/**
 * Issue 18: the authorities the CA created while starting (the first start, or keys it had to make
 * anew) are audited as `authority.prepared` by actor `broker`, so `audit verify` right after the
 * first start covers them. A failed append fails start-up (fail closed).
 */
async function auditCreatedAuthorities(
  authorities: readonly {
    id: string;
    kind: string;
    state: string;
    createdAt: Date;
    notAfter: Date;
  }[],
  sinceMs: number,
  audit: (event: {
    type: string;
    actor: string;
    details?: Record<string, unknown>;
  }) => Promise<void>,
): Promise<void> {
  for (const authority of authorities) {
    if (authority.createdAt.getTime() < sinceMs) continue;
    await audit({
      type: 'authority.prepared',
      actor: 'broker',
      details: {
        kind: authority.kind,
        id: authority.id,
        state: authority.state,
        notAfter: authority.notAfter.toISOString(),
        reason: 'created by the CA at start',
      },
    });
  }
}

/** Which listener failed to bind, for ERR_CONFIG_LISTEN: its name, config key and init flag. */
interface ListenerName {
  readonly name: string;
  readonly key: string;
  readonly flag: string;
}

const LISTENERS = {
  bundle: { name: 'bundle endpoint', key: 'bundleEndpoint.listen', flag: 'init --bundle-port' },
  agent: { name: 'agent API', key: 'agentApi.listen', flag: 'init --agent-port' },
  admin: { name: 'admin API', key: 'adminApi.listen', flag: 'init --admin-port' },
} as const satisfies Record<string, ListenerName>;

/** Binds with `bind()`; an OS refusal becomes ERR_CONFIG_LISTEN naming the listener, key and flag. */
async function bindListener<T>(
  listener: ListenerName,
  listen: string,
  bind: () => Promise<T>,
): Promise<T> {
  try {
    return await bind();
  } catch (cause) {
    const errno = (cause as NodeJS.ErrnoException).code;
    const what =
      errno === 'EADDRINUSE'
        ? 'address in use'
        : errno === 'EADDRNOTAVAIL'
          ? 'no such address on this host'
          : errno === 'EACCES'
            ? 'permission denied (ports below 1024 need privileges)'
            : errno === 'ENOTFOUND' || errno === 'EAI_AGAIN'
              ? 'host name does not resolve (listen takes a local address; put public names in the url key)'
              : errno === undefined
                ? (cause as Error).message
                : errno;
    const hostFlag =
      errno === 'ENOTFOUND' || errno === 'EADDRNOTAVAIL' ? 'init --listen-host' : listener.flag;
    throw new ConfigError(
      'ERR_CONFIG_LISTEN',
      `${listener.name} cannot listen on ${listen}: ${what} (${listener.key}, ${hostFlag})`,
      { cause, context: { listener: listener.name, key: listener.key, listen } },
    );
  }
}

/** Starts every part of a broker and resolves once all listeners accept connections. */
export async function startBroker(loaded: LoadedConfig, deps: BrokerDeps): Promise<Broker> {
  const { config } = loaded;
  const logger = deps.logger;
  const now = deps.now ?? (() => new Date());
  const nowMs = (): number => now().getTime();
  mkdirSync(loaded.dataDir, { recursive: true, mode: 0o700 });
  // Nothing another user could have planted or read is used (issue 15): checked before any read.
  const fileStoreDir = config.store.kind === 'file' ? join(loaded.dataDir, 'store') : undefined;
  checkPermissions(startupPaths(loaded, fileStoreDir));
  const replicaId = deps.replicaId ?? loadReplicaId(loaded.dataDir);
  const controller = new AbortController();
  const background: Promise<unknown>[] = [];
  const cleanups: (() => Promise<void> | void)[] = [];
  const trustDomain = parseTrustDomain(config.trustDomain);

  const metrics = createBrokerMetrics({
    onCollectError: (metric, error) =>
      logger.warn('metrics collector failed', { metric, error: (error as Error).message }),
  });
  const store = instrumentStore(
    await createStore(storeOptions(loaded), {
      logger,
      now: nowMs,
      auditTrimmed: chainTrimmedEvent,
    }),
    metrics,
  );
  const closeStore = (): Promise<void> => store.close();
  cleanups.push(closeStore);
  try {
    // Fail closed: an issuance, token use or admin change whose audit record is not durable
    // rejects with ERR_STORE_UNAVAILABLE (503) and hands nothing out.
    const record = createAuditRecorder({ store, now: nowMs });
    const auditSink = async (event: {
      type: string;
      actor: string;
      trustDomain?: string;
      details?: Record<string, unknown>;
    }): Promise<void> => {
      try {
        await record(event as AuditEventInput);
      } catch (error) {
        logger.error('audit append failed', { type: event.type, error: (error as Error).message });
        throw error;
      }
    };

    const caStartedAtMs = nowMs();
    const signingCa = await createCa(
      { now: nowMs, logger },
      {
        trustDomain,
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
    cleanups.unshift(() => signingCa.close());
    await auditCreatedAuthorities(signingCa.authorities(), caStartedAtMs, auditSink);

    // One bundle for every replica: the union of each replica's authorities, with one sequence
    // the store never lets go back (BUNDLE-31). Everything that hands out or checks against our
    // bundle sees this merged one; our CA itself still signs with its own authorities only.
    const shared = createSharedLocalBundle({
      ca: signingCa,
      store,
      replicaId,
      now: nowMs,
      logger,
      channel: CHANNELS.localBundleChanged,
      resyncMs: Math.min(30_000, Math.max(1000, (config.bundleEndpoint.refreshHint * 1000) / 2)),
    });
    await shared.start(controller.signal);
    // Issue 15, finding 4: own SVIDs signed by an x509 authority about to be revoked are re-issued
    // first (when another one is active), so none is presented once it has left the bundle. A
    // failed re-issue does not block the revoke: the change listeners retry it afterwards.
    const ownSvidKeepers: { signedBy: () => string; reissue: (reason: string) => Promise<void> }[] =
      [];
    const reissueBeforeRevoke = async (id: string): Promise<void> => {
      if (!signingCa.authorities('x509').some((a) => a.state === 'active' && a.id !== id)) return;
      await Promise.all(
        ownSvidKeepers
          .filter((keeper) => keeper.signedBy() === id)
          .map((keeper) =>
            keeper.reissue('signer-being-revoked').catch((error: unknown) =>
              logger.error('own X509-SVID re-issue before a revoke failed', {
                error: (error as Error).message,
              }),
            ),
          ),
      );
    };
    const ca = instrumentCa(
      {
        ...signingCa,
        localBundle: () => shared.current(),
        onBundleChange: (listener) => shared.onChange(listener),
        revoke: async (kind, id) => {
          if (kind === 'x509') await reissueBeforeRevoke(id);
          return signingCa.revoke(kind, id);
        },
      },
      metrics,
    );

    // Our bundle: serialised once per change (FED-12). The tracker notes when each authority
    // entered it, for /readyz/bundle-endpoint and /readyz/agent-api.
    let served: ServedBundle | undefined;
    // The bundle endpoint (maybe in its worker thread) is handed each new bundle once it listens.
    let pushServed = (_bundle: ServedBundle | undefined): void => undefined;
    const endpointTrust = createEndpointTrustTracker(config.bundleEndpoint.refreshHint);
    const publish = (bundle: Bundle): void => {
      served = serveBundle(marshalBundle(bundle), bundle.refreshHintSeconds);
      endpointTrust.observe(bundle, nowMs());
      pushServed(served);
      logger.info('serving local bundle', {
        sequence: bundle.sequence?.toString() ?? '0',
        x509: bundle.x509Authorities.length,
        jwt: bundle.jwtAuthorities.size,
      });
    };
    publish(ca.localBundle());
    cleanups.push(ca.onBundleChange(publish));

    /**
     * One of the broker's own X509-SVIDs (FED-15): issued now, renewed on a timer at half its
     * lifetime, each renewal handed to `apply` (a listener swaps its certificate without restart).
     */
    const keepOwnSvid = async (
      id: SpiffeId,
      apply: (identity: TlsIdentity) => void,
    ): Promise<{
      current: () => TlsIdentity;
      renew: () => Promise<void>;
      /** The x509 authority that signed the current SVID. */
      authorityId: () => string;
    }> => {
      let authorityId = '';
      const issue = async (): Promise<TlsIdentity> => {
        const own = await ca.issueOwnSvid(id, ENDPOINT_SVID_TTL_SECONDS);
        authorityId = own.authorityId;
        const lifetime = own.notAfter.getTime() - nowMs();
        return {
          cert: own.chainPem,
          key: own.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
          renewInMs: Math.max(1000, Math.floor(lifetime / 2)),
        };
      };
      let identity = await issue();
      let timer: NodeJS.Timeout | undefined;
      let reissuing: Promise<void> | undefined;
      const renew = async (): Promise<void> => {
        identity = await issue();
        apply(identity);
      };
      const schedule = (): void => {
        timer = setTimeout(() => {
          renew()
            .then(() => logger.info('renewed own X509-SVID', { spiffeId: id.toString() }))
            .catch((error: unknown) =>
              logger.error('own X509-SVID renewal failed', {
                spiffeId: id.toString(),
                error: (error as Error).message,
              }),
            )
            .finally(() => {
              if (!controller.signal.aborted) schedule();
            });
        }, identity.renewInMs);
        timer.unref();
      };
      schedule();
      cleanups.push(() => clearTimeout(timer));
      /** Re-issues now, swaps it in and restarts the renewal timer (issue 15, finding 4). */
      const reissue = (reason: string): Promise<void> => {
        const from = authorityId;
        reissuing ??= renew()
          .then(() => {
            logger.warn('re-issued own X509-SVID at once', {
              spiffeId: id.toString(),
              reason,
              from,
              to: authorityId,
            });
            clearTimeout(timer);
            schedule();
          })
          .finally(() => {
            reissuing = undefined;
          });
        return reissuing;
      };
      // Re-checked on every authority or bundle change: a tainted or revoked signer, or one gone
      // from the bundle served now (shared by every replica). A failure (no active authority yet)
      // is retried on the next change.
      const recheck = (): void => {
        if (reissuing !== undefined || controller.signal.aborted) return;
        const reason = ownSvidReissueReason(authorityId, ca.authorities('x509'), ca.localBundle());
        if (reason === undefined) return;
        reissue(reason).catch((error: unknown) =>
          logger.error('own X509-SVID re-issue failed; retried on the next authority change', {
            spiffeId: id.toString(),
            reason,
            error: (error as Error).message,
          }),
        );
      };
      cleanups.push(ca.onAuthorityChange(recheck), ca.onBundleChange(recheck));
      ownSvidKeepers.push({ signedBy: () => authorityId, reissue });
      return { current: () => identity, renew, authorityId: () => authorityId };
    };

    /**
     * Serves a Hono app: plain HTTP, or TLS with one of our own X509-SVIDs (renewed without
     * restart) asking for a client certificate that the app itself checks. Returns a URL to reach it.
     */
    const listenApp = async (
      fetch: Parameters<typeof serve>[0]['fetch'],
      listen: string,
      listener: ListenerName,
      tlsId: SpiffeId | undefined,
      limits: ListenerLimits,
    ): Promise<{ url: string }> => {
      const address = splitListen(listen);
      const tls: { server?: HttpsServer } = {};
      const own =
        tlsId === undefined
          ? undefined
          : await keepOwnSvid(tlsId, (next) =>
              tls.server?.setSecureContext({ cert: next.cert, key: next.key }),
            );
      const server = await bindListener(
        listener,
        listen,
        () =>
          new Promise<ServerType>((resolveServer, reject) => {
            const created = serve(
              {
                fetch,
                hostname: address.host,
                port: address.port,
                // The apps' bodyLimit reads every body, counted; the adapter's own clean-up would read
                // up to 64 MiB of a refused one and then reset the connection (issue 15).
                autoCleanupIncoming: false,
                ...(own === undefined
                  ? { serverOptions: serverLimitOptions(limits) }
                  : {
                      createServer: createHttpsServer,
                      serverOptions: {
                        cert: own.current().cert,
                        key: own.current().key,
                        requestCert: true,
                        rejectUnauthorized: false,
                        minVersion: 'TLSv1.2' as const,
                        ...serverLimitOptions(limits),
                      },
                    }),
              },
              () => resolveServer(created),
            );
            // Before the first accept: serve() only starts listening here.
            applyConnectionLimits(created, limits);
            created.once('error', reject);
          }),
      );
      if (own !== undefined) tls.server = server as HttpsServer;
      cleanups.unshift(
        () =>
          new Promise<void>((done) => {
            server.close(() => done());
            (server as { closeAllConnections?: () => void }).closeAllConnections?.();
          }),
      );
      const port = (server.address() as AddressInfo).port;
      const host =
        address.host === '0.0.0.0' || address.host === ''
          ? '127.0.0.1'
          : address.host === '::'
            ? '[::1]'
            : address.host.includes(':')
              ? `[${address.host}]`
              : address.host;
      return { url: `${own === undefined ? 'http' : 'https'}://${host}:${port}` };
    };

    const rotator = createRotator({ ca: signingCa, now: nowMs, logger });
    background.push(rotator.run(controller.signal));

    // Bundle endpoint identity: our own X509-SVID (https_spiffe) or operator files (https_web).
    const endpoint = config.bundleEndpoint;
    const bundleListen = splitListen(endpoint.listen);
    let bundleServer: BundleListener;
    // Issue 15: its own worker thread by default, so floods on the other listeners cannot starve it.
    const startBundleListener = (identity: { cert: string; key: string }) => () =>
      (endpoint.isolated ? startIsolatedBundleListener : startInThreadBundleListener)({
        ...bundleListen,
        identity: { cert: identity.cert, key: identity.key },
        bundle: served,
        limits: listenerLimits(endpoint.limits),
        logger,
      });
    let renewEndpointSvid = async (): Promise<void> => undefined;
    // https_web: a Web PKI certificate, which partners check against their own roots (FED-22).
    let bundleEndpointTrust = (): EndpointTrust => ({ ready: true, detail: 'ok' });
    if (endpoint.profile === 'https_spiffe') {
      const endpointId =
        endpoint.spiffeId === undefined
          ? bundleEndpointIdOf(trustDomain)
          : parseSpiffeId(endpoint.spiffeId);
      const own = await keepOwnSvid(endpointId, (next) => bundleServer.updateIdentity(next));
      bundleServer = await bindListener(
        LISTENERS.bundle,
        endpoint.listen,
        startBundleListener(own.current()),
      );
      renewEndpointSvid = own.renew;
      bundleEndpointTrust = () =>
        endpointTrust.check(
          ca.authorities('x509').find((a) => a.id === own.authorityId()),
          nowMs(),
          'no endpoint X509-SVID issued yet',
        );
    } else {
      const base = resolve(loaded.path, '..');
      const certFile = resolve(base, endpoint.certFile ?? '');
      const keyFile = resolve(base, endpoint.keyFile ?? '');
      const read = (): { cert: string; key: string } => ({
        cert: readFileFor('bundle endpoint certificate', certFile, base),
        key: readFileFor('bundle endpoint key', keyFile, base),
      });
      const stamp = (): string => `${statSync(certFile).mtimeMs}:${statSync(keyFile).mtimeMs}`;
      let lastStamp = stamp();
      bundleServer = await bindListener(
        LISTENERS.bundle,
        endpoint.listen,
        startBundleListener(read()),
      );
      const poll = setInterval(() => {
        try {
          const next = stamp();
          if (next === lastStamp) return;
          lastStamp = next;
          bundleServer.updateIdentity(read());
          logger.info('reloaded bundle endpoint certificate files', { certFile });
        } catch (error) {
          logger.warn('could not reload bundle endpoint certificate files', {
            error: (error as Error).message,
          });
        }
      }, CERT_FILE_POLL_MS);
      poll.unref();
      cleanups.push(() => clearInterval(poll));
    }
    pushServed = (next) => bundleServer.publish(next);
    bundleServer.publish(served); // a change made while it was binding
    cleanups.unshift(() => bundleServer.close());

    // Every fetch is counted, including those a verifier meeting an unknown kid asks for.
    const federation = createFederation({
      store,
      ownTrustDomain: trustDomain,
      now: nowMs,
      requiredApprovals: config.federation.requiredApprovals,
      // Admin changes fail closed. A partner's bundle, once stored, must also be loaded: its
      // bundle.changed/refused event failing is logged and the refresh goes on (as before).
      audit: (event) =>
        event.type.startsWith('bundle.') && event.type !== 'bundle.forced'
          ? auditSink(event).catch(() => undefined)
          : auditSink(event),
      logger,
      onRefreshed: countBundleFetches(metrics),
    });
    await federation.start(controller.signal);
    await federation.syncStatic(staticRelationships(loaded));
    const scheduler = createScheduler({ federation, locks: store, now: nowMs, logger, replicaId });
    background.push(scheduler.run(controller.signal));

    // Registration and the agent API: TLS with the broker's own X509-SVID; a client certificate is
    // asked for but checked by the app (join-token enrolment has none yet).
    const agentApiId = agentApiIdOf(trustDomain);
    const adminApiId = adminApiIdOf(trustDomain);
    const bundleEndpointId =
      endpoint.profile === 'https_spiffe'
        ? endpoint.spiffeId === undefined
          ? bundleEndpointIdOf(trustDomain)
          : parseSpiffeId(endpoint.spiffeId)
        : undefined;
    const registration = createRegistration({
      store,
      ownTrustDomain: trustDomain,
      reserved: [
        agentApiId,
        adminApiId,
        ...(bundleEndpointId === undefined ? [] : [bundleEndpointId]),
        ...config.adminApi.adminIds.map((id) => parseSpiffeId(typeof id === 'string' ? id : id.id)),
      ],
      now: nowMs,
      randomBytes,
      logger,
      replicaId,
    });
    await registration.start(controller.signal);
    const agentApp = createAgentApp({
      ca,
      registration,
      federation,
      audit: auditSink,
      logger,
      now: nowMs,
      serverSpiffeId: () => agentApiId.toString(),
      signal: controller.signal,
      middleware: [requestMetrics(metrics, 'agent')],
      watch: createWatchLimiter({
        maxStreamsPerAgent: config.agentApi.watch.maxStreamsPerAgent,
        maxStreams: config.agentApi.watch.maxStreams,
        heartbeatMs: config.agentApi.watch.heartbeat * 1000,
        ...(deps.random === undefined ? {} : { random: deps.random }),
      }),
    });
    const agentListener = await listenApp(
      agentApp.fetch,
      config.agentApi.listen,
      LISTENERS.agent,
      agentApiId,
      listenerLimits(config.agentApi.limits),
    );
    // Issue 18: agents are told the public URL (agentApi.url); the listener's address otherwise.
    const agentApiUrl = config.agentApi.url ?? agentListener.url;

    const admin = loadAdminToken(loaded, logger);
    const endpointId =
      endpoint.profile === 'https_spiffe'
        ? (endpoint.spiffeId ?? bundleEndpointIdOf(trustDomain).toString())
        : null;
    const failedLogins = {
      limiter: createFailedAuthLimiter({ now: nowMs }),
      aggregator: createFailedLoginAggregator(
        {
          record,
          now: nowMs,
          onError: (error) =>
            logger.error('failed-login audit event not written; kept for the next window', {
              error: (error as Error).message,
            }),
        },
        {
          listener: 'admin',
          ...(deps.failedLoginWindowMs === undefined ? {} : { windowMs: deps.failedLoginWindowMs }),
        },
      ),
    };
    // Just before the store closes (cleanups run in order): the open window is written, not lost.
    cleanups.splice(cleanups.indexOf(closeStore), 0, async () => {
      failedLogins.aggregator.stop();
      await failedLogins.aggregator.flush().catch((error: unknown) => {
        logger.error('failed-login audit event not written at shutdown', {
          error: (error as Error).message,
        });
      });
    });
    const adminApp = createAdminApp({
      ca,
      federation,
      store,
      audit: auditSink,
      failedLogins,
      token: () => admin.token,
      logger,
      now: nowMs,
      metrics,
      registration: { registration, agentApiUrl: () => agentApiUrl },
      access: createAccess(store, nowMs, config.adminApi.consoleIdleMinutes * 60_000),
      ...(config.adminApi.tls
        ? {
            adminPeer: {
              check: createPeerVerifier(() => ca.localBundle(), nowMs),
              adminIds: new Set(
                config.adminApi.adminIds.map((id) => (typeof id === 'string' ? id : id.id)),
              ),
              names: new Map(
                config.adminApi.adminIds.flatMap((id) =>
                  typeof id === 'string'
                    ? []
                    : [[id.id, { name: id.name, role: id.role }] as const],
                ),
              ),
            },
          }
        : {}),
      bundleEndpointState: () => bundleServer.state(),
      // A dead bundle endpoint worker (being restarted, or given up) makes it not ready.
      bundleEndpointTrust: () => {
        const state = bundleServer.state();
        return state.up ? bundleEndpointTrust() : { ready: false, detail: state.detail };
      },
      // What agents get from this replica now is signed by its active authorities.
      agentApiTrust: () =>
        allTrusted(
          AUTHORITY_KINDS.map((kind) =>
            endpointTrust.check(
              ca.authorities(kind).find((a) => a.state === 'active'),
              nowMs(),
              `no active ${kind} authority`,
            ),
          ),
        ),
      // Invitations advertise the configured public URL, or the listener's own address.
      endpoint: () => ({
        url: endpoint.url ?? bundleServer.url,
        profile: endpoint.profile,
        spiffeId: endpointId,
      }),
    });
    const adminListener = await listenApp(
      adminApp.fetch,
      config.adminApi.listen,
      LISTENERS.admin,
      config.adminApi.tls ? adminApiId : undefined,
      listenerLimits(config.adminApi.limits),
    );

    logger.info('broker started', {
      trustDomain: trustDomain.name,
      store: store.kind,
      bundleEndpoint: bundleServer.url,
      profile: endpoint.profile,
      agentApi: agentApiUrl,
      admin: adminListener.url,
    });

    let stopped: Promise<void> | undefined;
    return {
      bundleEndpointUrl: bundleServer.url,
      adminUrl: adminListener.url,
      adminTokenFile: admin.file,
      agentApiUrl: agentListener.url,
      publicUrls: { bundleEndpoint: endpoint.url ?? bundleServer.url, agentApi: agentApiUrl },
      agentApiSpiffeId: agentApiId.toString(),
      registration,
      ca,
      federation,
      store,
      servedBundle: () => served,
      renewBundleEndpointSvid: () => renewEndpointSvid(),
      bundleEndpointWorker: () => bundleServer.worker(),
      stop() {
        stopped ??= (async () => {
          controller.abort();
          await Promise.allSettled(background);
          for (const cleanup of cleanups) {
            try {
              await cleanup();
            } catch (error) {
              logger.warn('error while stopping', { error: (error as Error).message });
            }
          }
          logger.info('broker stopped', { trustDomain: trustDomain.name });
        })();
        return stopped;
      },
    };
  } catch (error) {
    controller.abort();
    await Promise.allSettled(background);
    for (const cleanup of cleanups) await Promise.resolve(cleanup()).catch(() => undefined);
    throw error;
  }
}

/** Named admins and console sessions, both in the shared store (every replica knows them). */
function createAccess(
  store: Store,
  now: () => number,
  idleMs: number,
): { admins: AdminDirectory; sessions: Sessions } {
  const sessions = createSessions({ store, now, idleMs });
  const admins = createAdminDirectory({ store, now, endSessions: (name) => sessions.endFor(name) });
  return { admins, sessions };
}
