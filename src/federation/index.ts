// Public surface of the federation room: relationships, refresh policy, fetching and serving bundles.
export {
  checkEndpointUrl,
  createRelationship,
  approvalsOf,
  isTrusted,
  transitionRelationship,
} from './relationship.js';
export type {
  Profile,
  Relationship,
  RelationshipInput,
  RelationshipSource,
  RelationshipState,
  Transition,
  TransitionAction,
} from './relationship.js';
export {
  DEFAULT_REFRESH_SECONDS,
  FIRST_RETRY_SECONDS,
  MAX_REFRESH_SECONDS,
  MIN_REFRESH_SECONDS,
  REFRESH_JITTER,
  STALE_AFTER_INTERVALS,
  isStale,
  nextRefreshDelayMs,
  refreshIntervalSeconds,
  withJitter,
} from './refresh-policy.js';
export type { RefreshHistory } from './refresh-policy.js';
export { MAX_CACHE_SECONDS, handleBundleRequest, serveBundle } from './bundle-endpoint.js';
export type { EndpointRequest, EndpointResponse, ServedBundle } from './bundle-endpoint.js';
export {
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_TOTAL_TIMEOUT_MS,
  MAX_BUNDLE_BODY_BYTES,
  MAX_REDIRECTS,
  fetchBundle,
} from './fetch-bundle.js';
export type { FetchLog, FetchOptions, FetchResult, FetchTarget } from './fetch-bundle.js';
export { applyBundle } from './update-bundle.js';
export type { ApplyBundleInput, BundleUpdate } from './update-bundle.js';
export { initialStatus, statusFromJson } from './status.js';
export type { RefreshStatus } from './status.js';
export { createFederation } from './service.js';
export type { Federation, FederationDeps } from './service.js';
export type { ActorContext, AuditSink, FederationLogger, FederationStore } from './ports.js';
export { FEDERATION_CHANNELS } from './notifications.js';
export type { RefreshOutcome } from './refresh.js';
export type { RelationshipView } from './relationships.js';
export {
  DEFAULT_MAX_CONCURRENT_REFRESHES,
  DEFAULT_TICK_CRON,
  createScheduler,
} from './scheduler.js';
export type { Scheduler, SchedulerDeps, SchedulerOptions } from './scheduler.js';
export {
  INVITE_AUDIENCE,
  INVITE_CLAIM,
  INVITE_FORMAT,
  acceptInvite,
  createInvite,
} from './invite.js';
export type { InviteDocument, InviteParameters, InviteSigner } from './invite.js';
