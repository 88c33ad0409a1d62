// Authority metadata: what the CA, the rotation policy and operators see of an X.509 signing
// authority or a JWT signing key. Never holds private key material.
import type { JsonWebKey } from 'node:crypto';
import type { KeyType } from './key-type.js';

export const AUTHORITY_KINDS = ['x509', 'jwt'] as const;
export type AuthorityKind = (typeof AUTHORITY_KINDS)[number];

/**
 * - prepared: published in the bundle, not signing yet (FED-50 lead time running);
 * - active: the one authority of its kind that signs;
 * - retired: superseded (or expired); signs nothing, stays published until all it signed expired (FED-51);
 * - tainted: taken out of signing by an operator at once; stays published like a retired one;
 * - revoked: removed from the bundle at once (FED-53); its private key is deleted.
 */
export const AUTHORITY_STATES = ['prepared', 'active', 'retired', 'tainted', 'revoked'] as const;
export type AuthorityState = (typeof AUTHORITY_STATES)[number];

/** The states whose authorities are in our published bundle (while not expired, BUNDLE-33). */
export const PUBLISHED_STATES: ReadonlySet<AuthorityState> = new Set([
  'prepared',
  'active',
  'retired',
  'tainted',
]);

export function isAuthorityKind(value: unknown): value is AuthorityKind {
  return value === 'x509' || value === 'jwt';
}

/** Public, immutable view of one authority. */
export interface AuthorityMetadata {
  /** x509: hex SHA-1 key identifier (the SKI of its certificate); jwt: the `kid`. */
  readonly id: string;
  readonly kind: AuthorityKind;
  readonly keyType: KeyType;
  readonly state: AuthorityState;
  readonly createdAt: Date;
  /** When it entered the published bundle (at creation: prepare publishes at once). */
  readonly publishedAt: Date;
  readonly activatedAt: Date | undefined;
  /** When it stopped being the active authority because a successor was activated or it expired. */
  readonly retiredAt: Date | undefined;
  readonly taintedAt: Date | undefined;
  readonly revokedAt: Date | undefined;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Latest expiry of anything it signed (FED-51); undefined if it never signed. */
  readonly signedUntil: Date | undefined;
  /** x509 only: true when its certificate is an intermediate under the operator's upstream CA. */
  readonly upstream: boolean;
  /** x509 only: DER of its CA certificate (public). */
  readonly certificateDer: Buffer | undefined;
  /** x509 only: hex SHA-256 of certificateDer. */
  readonly fingerprintSha256: string | undefined;
  /** x509 only: hex SHA-256 of the certificate published in the bundle (itself, or the upstream root). */
  readonly anchorFingerprintSha256: string | undefined;
  /** jwt only: the public JWK (kty, crv, x, y or n, e). */
  readonly publicJwk: Readonly<JsonWebKey> | undefined;
}
