// BrokerError and the public error-code contract. Codes are ERR_<ROOM>_<WHAT>: add, never rename.
// Every code listed here must also appear in the README's error-code table (a test checks it).

export const SPIFFEID_ERROR_CODES = [
  'ERR_SPIFFEID_EMPTY',
  'ERR_SPIFFEID_SCHEME',
  'ERR_SPIFFEID_TRUST_DOMAIN_EMPTY',
  'ERR_SPIFFEID_TRUST_DOMAIN_CHAR',
  'ERR_SPIFFEID_TRUST_DOMAIN_TOO_LONG',
  'ERR_SPIFFEID_PATH_SEGMENT',
  'ERR_SPIFFEID_PATH_CHAR',
  'ERR_SPIFFEID_TOO_LONG',
  'ERR_SPIFFEID_NOT_TRUST_DOMAIN_ID',
] as const;

export const BUNDLE_ERROR_CODES = [
  'ERR_BUNDLE_TOO_LARGE',
  'ERR_BUNDLE_NOT_UTF8',
  'ERR_BUNDLE_JSON',
  'ERR_BUNDLE_DUPLICATE_MEMBER',
  'ERR_BUNDLE_NOT_OBJECT',
  'ERR_BUNDLE_KEYS_MISSING',
  'ERR_BUNDLE_KEY_NOT_OBJECT',
  'ERR_BUNDLE_TOO_MANY_KEYS',
  'ERR_BUNDLE_SEQUENCE',
  'ERR_BUNDLE_REFRESH_HINT',
  'ERR_BUNDLE_PRIVATE_KEY',
  'ERR_BUNDLE_DUPLICATE_KID',
  'ERR_BUNDLE_PEM',
  'ERR_BUNDLE_MARSHAL',
] as const;

export const SVID_ERROR_CODES = [
  'ERR_SVID_EMPTY_CHAIN',
  'ERR_SVID_CERT_PARSE',
  'ERR_SVID_URI_SAN_COUNT',
  'ERR_SVID_ID_INVALID',
  'ERR_SVID_LEAF_IS_CA',
  'ERR_SVID_LEAF_KEY_USAGE',
  'ERR_SVID_NO_BUNDLE',
  'ERR_SVID_NO_AUTHORITIES',
  'ERR_SVID_CHAIN_UNTRUSTED',
  'ERR_SVID_CERT_EXPIRED',
  'ERR_SVID_CERT_NOT_YET_VALID',
  'ERR_SVID_ISSUER_NOT_CA',
  'ERR_SVID_PATH_LEN',
  'ERR_SVID_NAME_CONSTRAINTS',
  'ERR_SVID_CRITICAL_EXTENSION',
  'ERR_SVID_CHAIN_TOO_LONG',
  'ERR_SVID_JWT_MALFORMED',
  'ERR_SVID_JWT_ALG',
  'ERR_SVID_JWT_TYP',
  'ERR_SVID_JWT_CRIT',
  'ERR_SVID_JWT_HEADER',
  'ERR_SVID_JWT_SUB',
  'ERR_SVID_JWT_NO_BUNDLE',
  'ERR_SVID_JWT_NO_KEYS',
  'ERR_SVID_JWT_KID_UNKNOWN',
  'ERR_SVID_JWT_KEY_MISMATCH',
  'ERR_SVID_JWT_SIGNATURE',
  'ERR_SVID_JWT_AUD',
  'ERR_SVID_JWT_EXP',
  'ERR_SVID_JWT_EXPIRED',
  'ERR_SVID_JWT_NOT_YET_VALID',
  'ERR_SVID_JWT_IAT_FUTURE',
] as const;

export const CA_ERROR_CODES = [
  'ERR_CA_KEY_LOAD',
  'ERR_CA_CONFIG',
  'ERR_CA_CSR_INVALID',
  'ERR_CA_CSR_SIGNATURE',
  'ERR_CA_ID_NOT_ALLOWED',
  'ERR_CA_TTL',
  'ERR_CA_AUDIENCE',
  'ERR_CA_NO_ACTIVE_AUTHORITY',
  'ERR_CA_AUTHORITY_NOT_FOUND',
  'ERR_CA_AUTHORITY_STATE',
  'ERR_CA_ACTIVATION_TOO_EARLY',
  'ERR_CA_UPSTREAM',
  'ERR_CA_KEY_UNSUPPORTED',
  'ERR_CA_STATE',
  'ERR_CA_CLAIMS',
  'ERR_CA_REVOKE_UPSTREAM',
] as const;

export const REGISTRATION_ERROR_CODES = [
  'ERR_REGISTRATION_ENTRY_INVALID',
  'ERR_REGISTRATION_ENTRY_NOT_FOUND',
  'ERR_REGISTRATION_TOKEN_INVALID',
  'ERR_REGISTRATION_ENTRY_EXISTS',
  'ERR_REGISTRATION_TOKEN_TTL',
  'ERR_REGISTRATION_SELECTOR_INVALID',
  'ERR_REGISTRATION_PARENT_INVALID',
  'ERR_REGISTRATION_WORKLOAD_TOKEN',
  'ERR_REGISTRATION_ENTRY_IMMUTABLE',
] as const;

export const FEDERATION_ERROR_CODES = [
  'ERR_FEDERATION_RELATIONSHIP_INVALID',
  'ERR_FEDERATION_RELATIONSHIP_EXISTS',
  'ERR_FEDERATION_RELATIONSHIP_NOT_FOUND',
  'ERR_FEDERATION_RELATIONSHIP_CHANGED',
  'ERR_FEDERATION_OWN_TRUST_DOMAIN',
  'ERR_FEDERATION_TRANSITION',
  'ERR_FEDERATION_URL',
  'ERR_FEDERATION_FETCH_NETWORK',
  'ERR_FEDERATION_FETCH_TIMEOUT',
  'ERR_FEDERATION_FETCH_TLS',
  'ERR_FEDERATION_FETCH_ENDPOINT_ID',
  'ERR_FEDERATION_FETCH_STATUS',
  'ERR_FEDERATION_FETCH_TOO_LARGE',
  'ERR_FEDERATION_FETCH_REDIRECT',
  'ERR_FEDERATION_BUNDLE_STALE',
  'ERR_FEDERATION_INVITE_INVALID',
  'ERR_FEDERATION_INVITE_EXPIRED',
  'ERR_FEDERATION_APPROVAL_REPEATED',
  'ERR_FEDERATION_APPROVAL_RELATED',
] as const;

export const AUDIT_ERROR_CODES = ['ERR_AUDIT_CHAIN_BROKEN'] as const;

export const STORE_ERROR_CODES = [
  'ERR_STORE_UNAVAILABLE',
  'ERR_STORE_CORRUPT',
  'ERR_STORE_STALE_SEQUENCE',
  'ERR_STORE_CONFLICT',
  'ERR_STORE_CONFIG',
  'ERR_STORE_LOCKED',
] as const;

export const ACCESS_ERROR_CODES = [
  'ERR_ACCESS_ADMIN_INVALID',
  'ERR_ACCESS_ADMIN_EXISTS',
  'ERR_ACCESS_ADMIN_NOT_FOUND',
] as const;

export const API_ERROR_CODES = [
  'ERR_API_UNAUTHENTICATED',
  'ERR_API_FORBIDDEN',
  'ERR_API_VALIDATION',
  'ERR_API_NOT_FOUND',
  'ERR_API_INTERNAL',
  'ERR_API_RATE_LIMITED',
  'ERR_API_BODY_TOO_LARGE',
  'ERR_API_TOO_MANY_STREAMS',
  'ERR_API_NOT_NODE',
  'ERR_API_NOT_CHILD_ENTRY',
  'ERR_API_WORKLOAD_MISMATCH',
  'ERR_API_INSTANCE_INVALID',
  'ERR_API_CSRF',
] as const;

export const AGENT_ERROR_CODES = [
  'ERR_AGENT_PEER_UNVERIFIED',
  'ERR_AGENT_PEER_UNAUTHORIZED',
  'ERR_AGENT_SVID_UNAVAILABLE',
  'ERR_AGENT_HANDSHAKE_TIMEOUT',
  'ERR_AGENT_FILE_WRITE',
  'ERR_AGENT_BROKER_UNTRUSTED',
  'ERR_AGENT_BROKER_REFUSED',
  'ERR_AGENT_BROKER_UNREACHABLE',
  'ERR_AGENT_BROKER_TIMEOUT',
  'ERR_AGENT_RESPONSE_TOO_LARGE',
  'ERR_AGENT_CLOSED',
  'ERR_AGENT_WORKLOAD_ENDPOINT',
  'ERR_AGENT_WORKLOAD_API',
  'ERR_AGENT_WORKLOAD_API_RESPONSE',
] as const;

export const WORKLOAD_ERROR_CODES = [
  'ERR_WORKLOAD_PEERCRED_UNAVAILABLE',
  'ERR_WORKLOAD_SOCKET_IN_USE',
  'ERR_WORKLOAD_ATTESTATION_FAILED',
  'ERR_WORKLOAD_PID_REUSED',
  'ERR_WORKLOAD_STATE_INVALID',
  'ERR_WORKLOAD_NODE_SVID_MISSING',
] as const;

export const CLI_ERROR_CODES = [
  'ERR_CLI_USAGE',
  'ERR_CLI_FILE',
  'ERR_CLI_UNREACHABLE',
  'ERR_CLI_LOCAL_URL',
  'ERR_CLI_NOT_CONFIRMED',
] as const;

/** The encoding room's readers refuse malformed DER or PEM; the rooms above map them to their own code. */
export const ENCODING_ERROR_CODES = ['ERR_ENCODING_DER', 'ERR_ENCODING_PEM'] as const;

export const CONFIG_ERROR_CODES = [
  'ERR_CONFIG_INVALID',
  'ERR_CONFIG_FILE',
  'ERR_CONFIG_LISTEN',
  'ERR_CONFIG_TRUST_DOMAIN_MISMATCH',
  'ERR_CONFIG_UNSAFE_PERMISSIONS',
] as const;

export type SpiffeIdErrorCode = (typeof SPIFFEID_ERROR_CODES)[number];
export type BundleErrorCode = (typeof BUNDLE_ERROR_CODES)[number];
export type SvidErrorCode = (typeof SVID_ERROR_CODES)[number];
export type CaErrorCode = (typeof CA_ERROR_CODES)[number];
export type RegistrationErrorCode = (typeof REGISTRATION_ERROR_CODES)[number];
export type FederationErrorCode = (typeof FEDERATION_ERROR_CODES)[number];
export type AuditErrorCode = (typeof AUDIT_ERROR_CODES)[number];
export type StoreErrorCode = (typeof STORE_ERROR_CODES)[number];
export type AccessErrorCode = (typeof ACCESS_ERROR_CODES)[number];
export type ApiErrorCode = (typeof API_ERROR_CODES)[number];
export type AgentErrorCode = (typeof AGENT_ERROR_CODES)[number];
export type WorkloadErrorCode = (typeof WORKLOAD_ERROR_CODES)[number];
export type CliErrorCode = (typeof CLI_ERROR_CODES)[number];
export type ConfigErrorCode = (typeof CONFIG_ERROR_CODES)[number];
export type EncodingErrorCode = (typeof ENCODING_ERROR_CODES)[number];

export type ErrorCode =
  | SpiffeIdErrorCode
  | BundleErrorCode
  | SvidErrorCode
  | CaErrorCode
  | RegistrationErrorCode
  | FederationErrorCode
  | AuditErrorCode
  | StoreErrorCode
  | AccessErrorCode
  | ApiErrorCode
  | AgentErrorCode
  | WorkloadErrorCode
  | CliErrorCode
  | ConfigErrorCode
  | EncodingErrorCode;

/** Every public error code, in table order (used by the README check). */
export const ALL_ERROR_CODES: readonly ErrorCode[] = [
  ...SPIFFEID_ERROR_CODES,
  ...BUNDLE_ERROR_CODES,
  ...SVID_ERROR_CODES,
  ...CA_ERROR_CODES,
  ...REGISTRATION_ERROR_CODES,
  ...FEDERATION_ERROR_CODES,
  ...AUDIT_ERROR_CODES,
  ...STORE_ERROR_CODES,
  ...ACCESS_ERROR_CODES,
  ...API_ERROR_CODES,
  ...AGENT_ERROR_CODES,
  ...WORKLOAD_ERROR_CODES,
  ...CLI_ERROR_CODES,
  ...CONFIG_ERROR_CODES,
  ...ENCODING_ERROR_CODES,
];

export interface BrokerErrorOptions {
  readonly cause?: unknown;
  /** Safe, non-secret facts about the failure (never keys or tokens). */
  readonly context?: Readonly<Record<string, unknown>>;
}

/** Base class of every error the broker raises on purpose. `code` is the stable contract. */
export class BrokerError<C extends ErrorCode = ErrorCode> extends Error {
  readonly code: C;
  readonly context: Readonly<Record<string, unknown>> | undefined;

  constructor(code: C, message: string, options: BrokerErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.context = options.context;
  }

  override get name(): string {
    return this.constructor.name;
  }
}

export class SpiffeIdError extends BrokerError<SpiffeIdErrorCode> {}
export class BundleError extends BrokerError<BundleErrorCode> {}
export class SvidError extends BrokerError<SvidErrorCode> {}
export class CaError extends BrokerError<CaErrorCode> {}
export class RegistrationError extends BrokerError<RegistrationErrorCode> {}
export class FederationError extends BrokerError<FederationErrorCode> {}
export class AuditError extends BrokerError<AuditErrorCode> {}
export class StoreError extends BrokerError<StoreErrorCode> {}
export class AccessError extends BrokerError<AccessErrorCode> {}
export class ApiError extends BrokerError<ApiErrorCode> {}
export class AgentError extends BrokerError<AgentErrorCode> {}
export class WorkloadError extends BrokerError<WorkloadErrorCode> {}
export class CliError extends BrokerError<CliErrorCode> {}
export class ConfigError extends BrokerError<ConfigErrorCode> {}
export class EncodingError extends BrokerError<EncodingErrorCode> {}

export function isBrokerError(value: unknown): value is BrokerError {
  return value instanceof BrokerError;
}
