// Public surface of the registration room: entries, ID templates, join tokens, enrolment.
export {
  MAX_DNS_NAMES,
  MAX_ENTRY_TTL_SECONDS,
  MAX_FEDERATES_WITH,
  MIN_ENTRY_TTL_SECONDS,
  UPDATABLE_ENTRY_FIELDS,
  applyEntryPatch,
  buildEntry,
  decodeEntry,
  encodeEntry,
  entryView,
  isChildOfNode,
  isEntryId,
  isWorkloadEntry,
  nodeEntryView,
} from './entry.js';
export {
  MAX_SELECTORS,
  MAX_SELECTOR_LENGTH,
  SELECTOR_TYPES,
  parseSelector,
  parseSelectors,
  selectorText,
} from './selector.js';
export type { Selector, SelectorType } from './selector.js';
export type { Entry, EntryInput, EntryPatch, UpdatableEntryField } from './entry.js';
export {
  INSTANCE_PLACEHOLDER,
  fillIdPattern,
  idPatternText,
  idPatternsOverlap,
  matchIdPattern,
  newInstanceId,
  parseIdPattern,
} from './template.js';
export type { IdPattern } from './template.js';
export {
  DEFAULT_TOKEN_TTL_SECONDS,
  MAX_TOKEN_TTL_SECONDS,
  MIN_TOKEN_TTL_SECONDS,
  TOKEN_PREFIX,
} from './join-tokens.js';
export type { CreatedToken, Enrolment, TokenView } from './join-tokens.js';
export { createRegistration } from './service.js';
export type {
  EntryUpdate,
  Registration,
  RegistrationDeps,
  RegistrationLogger,
  RegistrationStore,
} from './service.js';
