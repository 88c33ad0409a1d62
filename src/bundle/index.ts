// Public surface of the bundle room: the Bundle value, the SPIFFE bundle JSON codec, PEM and BundleSet.
export { Bundle, x509AuthorityFromDer, jwtAuthorityFromJwk } from './bundle.js';
export type {
  BundleInit,
  BundleNote,
  BundleSource,
  JwtAuthority,
  SkippedEntry,
  X509Authority,
} from './bundle.js';
export {
  DEFAULT_JSON_MAX_DEPTH,
  JsonNumber,
  isJsonArray,
  isJsonObject,
  jsonMemberNames,
  parseStrictJson,
  stringifyJsonValue,
} from './json.js';
export type { JsonArray, JsonObject, JsonValue, ParseStrictJsonOptions } from './json.js';
export {
  MAX_BUNDLE_BYTES,
  MAX_BUNDLE_KEYS,
  NOTE_REASONS,
  PRIVATE_JWK_MEMBERS,
  PRIVATE_JWK_MEMBERS_BY_KTY,
  SKIP_REASONS,
  parseBundle,
} from './parse-bundle.js';
export type { NoteReason, SkipReason } from './parse-bundle.js';
export { bundleContentEquals, bundleDigest, marshalBundle } from './marshal-bundle.js';
export {
  isPem,
  marshalPem,
  parseBundleOrPem,
  parsePemAuthorities,
  parsePemCertificates,
} from './pem.js';
export { BundleSet } from './bundle-set.js';
