// Public surface of the svid room: X509-SVID chain verification and JWT-SVID validation.
export {
  MAX_PATH_CERTIFICATES,
  MAX_PRESENTED_CERTIFICATES,
  verifyX509Svid,
} from './verify-x509-svid.js';
export type { VerifiedX509Svid, VerifyX509SvidOptions, X509SvidLeaf } from './verify-x509-svid.js';
export {
  DEFAULT_JWT_LEEWAY_SECONDS,
  JWT_SVID_ALGORITHMS,
  MAX_JWT_LEEWAY_SECONDS,
  MAX_JWT_SVID_LENGTH,
  validateJwtSvid,
} from './validate-jwt-svid.js';
export type {
  JwtSvidAlgorithm,
  JwtSvidHeader,
  ValidateJwtSvidOptions,
  ValidatedJwtSvid,
} from './validate-jwt-svid.js';
