// Public surface of the audit room: event model and hash chain.
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
