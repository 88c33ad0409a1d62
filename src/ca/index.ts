// Public surface of the ca room: createCa (authorities, issuing, local bundle), rotation policy and
// rotator, the persistence port with its file implementation, and the CSR reader.
export { createCa } from './ca.js';
export { NOT_BEFORE_BACKDATE_MS } from './authority-factory.js';
export type {
  ActivateOptions,
  Ca,
  CaDeps,
  CaLogger,
  CheckedCsr,
  IssuedJwtSvid,
  IssuedX509Svid,
  JwtSvidRequest,
  OwnSvid,
  RotateOptions,
  X509SvidRequest,
} from './ca-types.js';
export {
  AUTHORITY_KINDS,
  AUTHORITY_STATES,
  PUBLISHED_STATES,
  isAuthorityKind,
} from './authority.js';
export type { AuthorityKind, AuthorityMetadata, AuthorityState } from './authority.js';
export { CA_DEFAULTS, resolveCaOptions } from './options.js';
export { isDnsName } from './request-checks.js';
export { ownSvidReissueReason, type OwnSvidReissueReason } from './own-svid.js';
export type { CaOptions, ResolvedCaOptions } from './options.js';
export { KEY_TYPES, isKeyType } from './key-type.js';
export type { KeyType } from './key-type.js';
export {
  ACTIVATION_LEAD_REFRESH_HINTS,
  activationLeadMs,
  earliestActivation,
  planRotation,
  removableAt,
} from './rotation.js';
export type {
  RotationAction,
  RotationConfig,
  RotationPlan,
  RotationRecorder,
  RotationStep,
} from './rotation.js';
export { createRotator } from './rotator.js';
export type { Rotator, RotatorDeps, RotatorOptions } from './rotator.js';
export { decodeCaState, encodeCaState } from './persistence.js';
export type { CaPersistence, PersistedAuthority, PersistedCaState } from './persistence.js';
export { caStateFileOf, createFileCaPersistence } from './file-persistence.js';
export { MAX_CSR_BYTES, parseCsr, readVerifiedCsr } from './csr.js';
export type { EcdsaChecker, LoadedEcdsaChecker } from './native-ecdsa.js';
export { allTrusted, createEndpointTrustTracker } from './endpoint-trust.js';
export type { EndpointTrust, EndpointTrustTracker } from './endpoint-trust.js';
export type { ParsedCsr } from './csr.js';
export { certificatePem } from '../encoding/index.js';
export { createSharedLocalBundle } from './shared-bundle.js';
export type {
  SharedBundleDeps,
  SharedBundleSource,
  SharedBundleStore,
  SharedLocalBundle,
} from './shared-bundle.js';
