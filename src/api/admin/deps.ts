// What the admin API is given by the composition root (src/main.ts). Each resource sub-app under
// src/api/admin/ takes the Pick of it that it needs.
import type { AdminDirectory, AdminRole, Sessions } from '../../access/index.js';
import type { FailedLoginAggregator } from '../../audit/index.js';
import type { Ca, EndpointTrust } from '../../ca/index.js';
import type { Federation, Profile } from '../../federation/index.js';
import type { Clock } from '../../clock.js';
import type { Logger } from '../../log.js';
import type { Registration } from '../../registration/index.js';
import type { Store } from '../../store/index.js';
import type { FailedAuthLimiter } from '../auth-limit.js';
import type { BrokerMetrics } from '../metrics.js';
import type { PeerCheck } from '../peer-svid.js';

export type AdminLogger = Pick<Logger, 'info' | 'warn' | 'error'>;

/** The audit sink: one durable event per change; a failed write fails the request (fail closed). */
export type AdminAuditSink = (event: {
  type: string;
  actor: string;
  trustDomain?: string;
  details?: Record<string, unknown>;
}) => Promise<void>;

export interface AdminDeps {
  readonly ca: Ca;
  readonly federation: Federation;
  readonly store: Pick<
    Store,
    'ping' | 'listAudit' | 'readStoredAudit' | 'getBundle' | 'listBundles'
  >;
  readonly audit: AdminAuditSink;
  readonly token: () => string;
  readonly logger: AdminLogger;
  readonly now: Clock;
  /**
   * Whether the bundle endpoint listens now (false while its worker thread is restarted, issue 15);
   * a `bundleEndpoint` check of `/readyz` when given.
   */
  readonly bundleEndpointState?: () => { readonly up: boolean; readonly detail: string };
  /**
   * Whether partners can trust our bundle endpoint yet (`/readyz/bundle-endpoint`): always for
   * https_web; for https_spiffe once the authority behind its SVID has been served for a refresh
   * hint. Absent: no such route.
   */
  readonly bundleEndpointTrust?: () => EndpointTrust;
  /**
   * Whether partners can verify the SVIDs agents get here now (`/readyz/agent-api`): once this
   * replica's active x509 and JWT authorities have been served for a refresh hint. Absent: no route.
   */
  readonly agentApiTrust?: () => EndpointTrust;
  /** What invitations advertise: our public bundle endpoint URL, profile and endpoint SPIFFE ID. */
  readonly endpoint: () => { url: string; profile: Profile; spiffeId: string | null };
  /** Shared with the other listeners and the counting wrappers of main.ts; a private one if absent. */
  readonly metrics?: BrokerMetrics;
  /** mTLS admins (listener on TLS): client SVIDs checked against our bundle, IDs from adminIds. */
  readonly adminPeer?: {
    readonly check: (socket: unknown) => PeerCheck;
    readonly adminIds: ReadonlySet<string>;
    /** Names and roles of mTLS admins (an ID without one is an `admin` named by its SPIFFE ID). */
    readonly names?: ReadonlyMap<string, { readonly name: string; readonly role: AdminRole }>;
  };
  /** Named admins and console sessions (issue 19); without it only the bootstrap token works. */
  readonly access?: { readonly admins: AdminDirectory; readonly sessions: Sessions };
  /**
   * Failed authentication: the per-address limit (429) and the aggregated `admin.login_failed`
   * events. Defaults (10 a minute per address, one event a minute) when absent.
   */
  readonly failedLogins?: {
    readonly limiter: FailedAuthLimiter;
    readonly aggregator: FailedLoginAggregator;
  };
  /** Entries and join tokens (src/api/admin/entries.ts, tokens.ts); absent routes without it. */
  readonly registration?: {
    readonly registration: Registration;
    readonly agentApiUrl: () => string;
  };
}
