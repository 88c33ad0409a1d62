// Public surface of the api room: the Hono apps, the bundle-endpoint listener, peer-SVID checks and
// metrics that the composition root (src/main.ts) wires together. Other rooms do not import api.
export { createAdminApp } from './admin-app.js';
export type { AdminDeps } from './admin-app.js';
export { createAgentApp } from './agent-app.js';
export type { AgentDeps } from './agent-app.js';
export { createFailedAuthLimiter } from './auth-limit.js';
export type { FailedAuthLimiter, FailedAuthLimiterOptions } from './auth-limit.js';
export { createPeerVerifier } from './peer-svid.js';
export { startBundleServer } from './bundle-server.js';
export {
  startInThreadBundleListener,
  startIsolatedBundleListener,
} from './isolated-bundle-server.js';
export type {
  BundleListener,
  BundleListenerOptions,
  IsolatedBundleListener,
} from './isolated-bundle-server.js';
export { applyConnectionLimits, serverLimitOptions } from './listener-limits.js';
export type { ConnectionGate, ListenerLimits } from './listener-limits.js';
export { createWatchLimiter } from './watch-limits.js';
export type { WatchLimiter, WatchLimiterOptions } from './watch-limits.js';
export type { BundleServer, BundleServerOptions } from './bundle-server.js';
export {
  countBundleFetches,
  createBrokerMetrics,
  instrumentCa,
  instrumentStore,
  requestMetrics,
} from './metrics.js';
export type { BrokerMetrics } from './metrics.js';
// The admin API's JSON responses as types (z.output of the documented schemas): the CLI imports them.
export type {
  AcceptedInviteResponse,
  AdminJson,
  AdminListResponse,
  AdminWithTokenResponse,
  AuditEventJson,
  AuditEventsResponse,
  AuditVerificationResponse,
  AuthorityJson,
  AuthorityListResponse,
  BundleHistoryResponse,
  BundleListResponse,
  CreatedTokenResponse,
  DeletedEntryResponse,
  EntryJson,
  EntryListResponse,
  ForceBundleResponse,
  InviteJson,
  JoinTokenJson,
  JwtSvidResponse,
  OneAdminResponse,
  OneAuthorityResponse,
  OneEntryResponse,
  OneRelationshipResponse,
  ReadyResponse,
  RefreshResponse,
  RelationshipJson,
  RelationshipListResponse,
  RemovedAdminResponse,
  RevokedTokenResponse,
  TokenListResponse,
  UpdatedEntryResponse,
  WhoamiResponse,
  X509SvidResponse,
} from './admin/responses.js';
