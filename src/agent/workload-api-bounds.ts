// What one Workload API message may cost the SDK: certificates and JWT keys are counted before
// they are parsed (a server on the socket can fill 16 MiB with them), and the authorities of the
// last accepted message are reused when the same bytes come again, so a resent state costs hashes.
import { createHash } from 'node:crypto';
import { x509AuthorityFromDer, type JwtAuthority, type X509Authority } from '../bundle/index.js';
import { AgentError } from '../errors.js';

/** Certificates in one FetchX509SVID message: SVID chains, their bundles and federated bundles. */
export const MAX_MESSAGE_CERTIFICATES = 4096;
/** Certificates in one DER field (an SVID chain or one trust domain's bundle). */
export const MAX_FIELD_CERTIFICATES = 64;
/** JWT keys of one trust domain (BUNDLE-7 caps fetched bundles at 1000 keys too). */
export const MAX_BUNDLE_JWT_KEYS = 1000;
/** JWT keys in one FetchJWTBundles message, all trust domains together. */
export const MAX_MESSAGE_JWT_KEYS = 4096;

/** The typed error of a response the SDK discards whole (WAPI-9); the previous state is kept. */
export function discard(message: string, cause?: unknown): AgentError {
  return new AgentError(
    'ERR_AGENT_WORKLOAD_API_RESPONSE',
    `workload API response discarded: ${message}`,
    cause === undefined ? {} : { cause },
  );
}

/** The JWT keys of one trust domain's JWK Set, and how many entries `keys` held. */
export interface JwtKeys {
  readonly authorities: readonly JwtAuthority[];
  readonly entries: number;
}

/**
 * Parsed authorities by content. Entries used by the message being parsed are kept when it is
 * accepted (`commit`); the others are dropped, so the cache never holds more than two messages.
 */
export interface AuthorityCache {
  x509(der: Buffer): X509Authority;
  jwt(bytes: Buffer, parse: () => JwtKeys): JwtKeys;
  /** The message was accepted: keep what it used, forget the rest. */
  commit(): void;
  /** The message was discarded: keep what the last accepted message used. */
  rollback(): void;
}

const digest = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('base64');

export function createAuthorityCache(): AuthorityCache {
  let kept = new Map<string, X509Authority | JwtKeys>();
  let used = new Map<string, X509Authority | JwtKeys>();
  const lookup = <T extends X509Authority | JwtKeys>(key: string, make: () => T): T => {
    const found = (used.get(key) ?? kept.get(key)) as T | undefined;
    const value = found ?? make();
    used.set(key, value);
    return value;
  };
  return {
    x509: (der) => lookup(`x509:${digest(der)}`, () => x509AuthorityFromDer(der)),
    jwt: (bytes, parse) => lookup(`jwt:${digest(bytes)}`, parse),
    commit() {
      kept = used;
      used = new Map();
    },
    rollback() {
      used = new Map();
    },
  };
}
