// Public surface of the svid room: X509-SVID chain verification (with the one TLS peer-chain walk
// and TLS failure classifier) and JWT-SVID validation.
export {
  MAX_PATH_CERTIFICATES,
  MAX_PRESENTED_CERTIFICATES,
  verifyX509Svid,
} from './verify-x509-svid.js';
export type { VerifiedX509Svid, VerifyX509SvidOptions, X509SvidLeaf } from './verify-x509-svid.js';
export { MAX_PEER_CHAIN_WALK, chainFromPeerCertificate } from './peer-chain.js';
export { classifyTlsFailure } from './tls-failure.js';
export type { TlsFailureKind } from './tls-failure.js';
export {
  DEFAULT_JWT_LEEWAY_SECONDS,
  JWT_SVID_ALGORITHMS,
  MAX_JWT_LEEWAY_SECONDS,
  MAX_JWT_SVID_LENGTH,
  MAX_KIDLESS_KEYS,
  validateJwtSvid,
} from './validate-jwt-svid.js';
export type {
  JwtSvidAlgorithm,
  JwtSvidHeader,
  ValidateJwtSvidOptions,
  ValidatedJwtSvid,
} from './validate-jwt-svid.js';
