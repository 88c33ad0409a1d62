// Public surface of the audit room: event model, hash chain, writing, verifying, failed-login aggregates.
export {
  AUDIT_ANCHOR_PATTERN,
  AUDIT_EVENT_TYPES,
  assertChain,
  canonicalJson,
  chainEvent,
  checkAnchor,
  checkChain,
  hashEvent,
  parseAuditAnchor,
} from './event.js';
export type {
  AuditAnchor,
  AuditEvent,
  AuditEventInput,
  AuditEventType,
  ChainCheck,
} from './event.js';
export { chainTrimmedEvent, createAuditRecorder } from './trail.js';
export { runAsAdminRequest } from './request-scope.js';
export type { AuditRecorder } from './trail.js';
export { checkTrims, verifyStoredAudit } from './verify.js';
export type { AuditVerification, TrimSummary } from './verify.js';
export {
  DEFAULT_FAILED_LOGIN_EVENTS_PER_DAY,
  DEFAULT_FAILED_LOGIN_WINDOW_MS,
  MAX_FAILED_LOGIN_SOURCES,
  createFailedLoginAggregator,
} from './failed-logins.js';
export type {
  FailedLoginAggregator,
  FailedLoginAggregatorDeps,
  FailedLoginAggregatorOptions,
} from './failed-logins.js';
