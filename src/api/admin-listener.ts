// The admin API and console as the broker serves them: the app wired to the issuer, federation,
// registration, named admins and readiness checks, on plain HTTP (loopback by default) or on mTLS
// with the broker's own X509-SVID (adminApi.tls); and the failed-login limit with its audit events.
import { createAdminDirectory, createSessions } from '../access/index.js';
import {
  createFailedLoginAggregator,
  type FailedLoginAggregator,
  type FailedLoginAggregatorDeps,
} from '../audit/index.js';
import { allTrusted, AUTHORITY_KINDS, type Ca } from '../ca/index.js';
import type { Clock } from '../clock.js';
import type { BrokerConfig } from '../config/index.js';
import type { Federation } from '../federation/index.js';
import type { Logger } from '../log.js';
import type { Registration } from '../registration/index.js';
import type { SpiffeId } from '../spiffeid/index.js';
import type { Store } from '../store/index.js';
import { createAdminApp, type AdminDeps } from './admin-app.js';
import { createFailedAuthLimiter, type FailedAuthLimiter } from './auth-limit.js';
import { principalOfPeer } from './auth.js';
import type { BundleEndpoint, OwnBundleServing } from './bundle-endpoint-listener.js';
import { listenerLimitsFromConfig, LISTENERS, serveApp, type AppListener } from './listeners.js';
import type { BrokerMetrics } from './metrics.js';
import type { OwnSvidKeeperDeps } from './own-svid-keeper.js';
import { createPeerRefusalGate, type PeerRefusalGate } from './peer-refusals.js';
import { caPeerVerifier } from './peer-svid.js';
import type { StopOrder } from './teardown.js';

/** The per-address limit of failed logins (429) and their aggregated `admin.login_failed` events. */
export interface FailedLogins {
  readonly limiter: FailedAuthLimiter;
  readonly aggregator: FailedLoginAggregator;
  /** Writes the open window (a failure is logged): run just before the store closes. */
  flush(): Promise<void>;
}

export function createFailedLogins(deps: {
  readonly record: FailedLoginAggregatorDeps['record'];
  readonly nowMs: Clock;
  readonly logger: Pick<Logger, 'error'>;
  /** Window of the aggregated events; default one minute. */
  readonly windowMs: number | undefined;
}): FailedLogins {
  const { logger } = deps;
  const aggregator = createFailedLoginAggregator(
    {
      record: deps.record,
      now: deps.nowMs,
      onError: (error) =>
        logger.error('failed-login audit event not written; kept for the next window', {
          error: (error as Error).message,
        }),
    },
    { listener: 'admin', ...(deps.windowMs === undefined ? {} : { windowMs: deps.windowMs }) },
  );
  return {
    limiter: createFailedAuthLimiter({ now: deps.nowMs }),
    aggregator,
    async flush() {
      aggregator.stop();
      await aggregator.flush().catch((error: unknown) => {
        logger.error('failed-login audit event not written at shutdown', {
          error: (error as Error).message,
        });
      });
    },
  };
}

export interface AdminApiDeps {
  readonly config: BrokerConfig;
  /** The SPIFFE ID on its certificate with adminApi.tls. */
  readonly spiffeId: SpiffeId;
  /** https_spiffe: the ID on the bundle endpoint's SVID, which invitations advertise. */
  readonly bundleEndpointId: SpiffeId | undefined;
  readonly issuer: Ca;
  readonly federation: Federation;
  readonly registration: Registration;
  readonly store: Store;
  readonly audit: AdminDeps['audit'];
  readonly token: () => string;
  readonly failedLogins: FailedLogins;
  readonly bundleEndpoint: BundleEndpoint;
  readonly ownBundle: OwnBundleServing;
  /** The URL agents are told (join tokens). */
  readonly agentApiUrl: string;
  readonly ownSvids: OwnSvidKeeperDeps;
  readonly teardown: StopOrder;
  readonly metrics: BrokerMetrics;
  readonly logger: Logger;
  readonly nowMs: Clock;
}

/** mTLS admins (adminApi.tls): client SVIDs checked against the published bundle, IDs from adminIds. */
function adminPeer(
  deps: AdminApiDeps,
  refusals: PeerRefusalGate,
): NonNullable<AdminDeps['adminPeer']> {
  const { adminIds } = deps.config.adminApi;
  return {
    check: caPeerVerifier({ ca: deps.issuer, now: deps.nowMs, peerRefused: refusals.refused }),
    adminIds: new Set(adminIds.map((id) => (typeof id === 'string' ? id : id.id))),
    names: new Map(
      adminIds.flatMap((id) =>
        typeof id === 'string' ? [] : [[id.id, { name: id.name, role: id.role }] as const],
      ),
    ),
  };
}

/**
 * Named admins and console sessions, both in the shared store (every replica knows them). A session
 * is re-checked on every page against the current bootstrap token, admin record or adminIds.
 */
function access(
  deps: AdminApiDeps,
  peer: AdminDeps['adminPeer'] | undefined,
): NonNullable<AdminDeps['access']> {
  const { store, nowMs } = deps;
  const { consoleIdleMinutes, consoleSessionHours } = deps.config.adminApi;
  const sessions = createSessions({
    store,
    now: nowMs,
    idleMs: consoleIdleMinutes * 60_000,
    maxAgeMs: consoleSessionHours * 3_600_000,
    rootToken: deps.token,
    ...(peer === undefined
      ? {}
      : {
          mtlsAdmin: (id: string) =>
            peer.adminIds.has(id) ? principalOfPeer(peer, id) : undefined,
        }),
  });
  const admins = createAdminDirectory({
    store,
    now: nowMs,
    endSessions: (name) => sessions.endFor(name),
  });
  return { admins, sessions };
}

/** Serves the admin API; closed on stop before everything started earlier. */
export function startAdminApi(deps: AdminApiDeps): Promise<AppListener> {
  const { config, issuer, bundleEndpoint, nowMs } = deps;
  const endpoint = config.bundleEndpoint;
  const refusals = createPeerRefusalGate({
    now: nowMs,
    logger: deps.logger,
    listener: LISTENERS.admin.name,
  });
  const peer = config.adminApi.tls ? adminPeer(deps, refusals) : undefined;
  const app = createAdminApp({
    ca: issuer,
    federation: deps.federation,
    store: deps.store,
    audit: deps.audit,
    failedLogins: deps.failedLogins,
    token: deps.token,
    logger: deps.logger,
    now: nowMs,
    metrics: deps.metrics,
    registration: { registration: deps.registration, agentApiUrl: () => deps.agentApiUrl },
    access: access(deps, peer),
    ...(peer === undefined ? {} : { adminPeer: peer }),
    bundleEndpointState: () => bundleEndpoint.listener.state(),
    bundleEndpointTrust: () => bundleEndpoint.trust(),
    // What agents get from this replica now is signed by its active authorities.
    agentApiTrust: () =>
      allTrusted(
        AUTHORITY_KINDS.map((kind) =>
          deps.ownBundle.trust.check(
            issuer.authorities(kind).find((a) => a.state === 'active'),
            nowMs(),
            `no active ${kind} authority`,
          ),
        ),
      ),
    // Invitations advertise the configured public URL, or the listener's own address.
    endpoint: () => ({
      url: bundleEndpoint.publicUrl,
      profile: endpoint.profile,
      spiffeId:
        endpoint.profile === 'https_spiffe'
          ? (endpoint.spiffeId ?? deps.bundleEndpointId?.toString() ?? null)
          : null,
    }),
  });
  return serveApp(deps, {
    fetch: app.fetch,
    listen: config.adminApi.listen,
    listener: LISTENERS.admin,
    tlsId: config.adminApi.tls ? deps.spiffeId : undefined,
    limits: listenerLimitsFromConfig(config.adminApi.limits),
    admits: refusals.admits,
    ...(peer === undefined ? {} : { onHandshake: peer.check }),
  });
}
