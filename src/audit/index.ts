// Public surface of the audit room: event model and hash chain.
export {
  AUDIT_EVENT_TYPES,
  assertChain,
  canonicalJson,
  chainEvent,
  checkChain,
  hashEvent,
} from './event.js';
export type { AuditEvent, AuditEventInput, AuditEventType, ChainCheck } from './event.js';
