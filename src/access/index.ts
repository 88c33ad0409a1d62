// Public surface of the access room: named admins and roles, their tokens, and console sessions.
export {
  ADMIN_ROLES,
  ROOT_ADMIN,
  parseAdminName,
  parseAdminRole,
  principalOf,
  type AdminRecord,
  type AdminRole,
  type AdminView,
  type Principal,
} from './admin.js';
export { createAdminDirectory, type AdminDirectory } from './admins.js';
export { adminNameOfActor, areAdminsRelated } from './lineage.js';
export {
  DEFAULT_SESSION_IDLE_MS,
  DEFAULT_SESSION_MAX_AGE_MS,
  DEFAULT_SESSIONS_PER_PRINCIPAL,
  createSessions,
  sessionOwnerOf,
  type Session,
  type Sessions,
} from './session.js';
