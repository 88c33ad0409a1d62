// Public surface of the api room: the Hono apps, the bundle-endpoint listener, peer-SVID checks and
// metrics that the composition root (src/main.ts) wires together, and the listener starters it calls
// (bundle endpoint, agent API, admin API, each on its own listener). Other rooms do not import api.
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
export { recordRotationSteps, rotationAuditEvents, BROKER_ACTOR } from './rotation-audit.js';
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
export { createFailedLogins, startAdminApi } from './admin-listener.js';
export type { AdminApiDeps, FailedLogins } from './admin-listener.js';
export { startAgentApi } from './agent-listener.js';
export type { AgentApiDeps } from './agent-listener.js';
export { serveOwnBundle, startBundleEndpoint } from './bundle-endpoint-listener.js';
export type {
  BundleEndpoint,
  BundleEndpointDeps,
  OwnBundleServing,
} from './bundle-endpoint-listener.js';
export type { AppListener, ListenerIdentity } from './listeners.js';
export { KeptOwnSvids, OWN_SVID_TTL_SECONDS } from './own-svid-keeper.js';
export type { KeptOwnSvid, OwnSvidKeeperDeps } from './own-svid-keeper.js';
export { Teardown } from './teardown.js';
export type { StopOrder, StopStep } from './teardown.js';
