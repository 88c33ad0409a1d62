// The Bundle value: one trust domain's X.509 and JWT authorities, sequence and refresh hint (BUNDLE-1..27).
import {
  createHash,
  createPublicKey,
  X509Certificate,
  type JsonWebKey,
  type KeyObject,
} from 'node:crypto';
import { BundleError } from '../errors.js';
import type { TrustDomain } from '../spiffeid/index.js';

/** One X.509 CA certificate published in a bundle (BUNDLE-20..23). Parsed once, reused by verifiers. */
export interface X509Authority {
  /** DER of the certificate (the `x5c[0]` bytes). */
  readonly der: Buffer;
  readonly certificate: X509Certificate;
  readonly publicKey: KeyObject;
  /** Lowercase hex SHA-256 of the DER; also the dedup key (BUNDLE-23). */
  readonly fingerprintSha256: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/** One JWT-SVID signing public key (BUNDLE-25/26). */
export interface JwtAuthority {
  readonly kid: string;
  readonly publicKey: KeyObject;
  /** Public key parameters only (`kty`, `crv`, `x`, `y` or `n`, `e`); never `use`, `kid` or private members. */
  readonly jwk: Readonly<JsonWebKey>;
}

/** Why one JWK entry of a parsed document was ignored (BUNDLE-28, "entry ignored"). */
export interface SkippedEntry {
  /** Position in the `keys` array. */
  readonly index: number;
  /** Stable short reason, e.g. `unknown-use`, `kty-oct`, `x5c-key-mismatch`. */
  readonly reason: string;
  readonly detail: string;
}

/**
 * Something worth logging about an accepted entry, e.g. a tolerated `kid` on an `x509-svid` entry
 * (BUNDLE-22), extra `x5c` certificates (BUNDLE-21) or a duplicate authority (BUNDLE-23).
 */
export interface BundleNote {
  /** Position in the `keys` array. */
  readonly index: number;
  /** Stable short reason, e.g. `x509-kid-ignored`. */
  readonly reason: string;
  readonly detail: string;
}

/** Anything that can give the bundle of a trust domain: a Bundle, a BundleSet, a store-backed view. */
export interface BundleSource {
  getBundleForTrustDomain(trustDomain: TrustDomain): Bundle | undefined;
}

export interface BundleInit {
  readonly trustDomain: TrustDomain;
  readonly x509Authorities?: readonly X509Authority[];
  readonly jwtAuthorities?: Iterable<JwtAuthority>;
  readonly sequence?: bigint | undefined;
  readonly refreshHintSeconds?: number | undefined;
  readonly skipped?: readonly SkippedEntry[];
  readonly notes?: readonly BundleNote[];
}

/** Immutable bundle of one trust domain. Bundles of different trust domains are never merged (FED-30). */
export class Bundle implements BundleSource {
  readonly trustDomain: TrustDomain;
  readonly x509Authorities: readonly X509Authority[];
  readonly jwtAuthorities: ReadonlyMap<string, JwtAuthority>;
  /** `spiffe_sequence`, lossless 64-bit (BUNDLE-4). */
  readonly sequence: bigint | undefined;
  /** `spiffe_refresh_hint` in seconds; undefined when absent, zero or negative (BUNDLE-5). */
  readonly refreshHintSeconds: number | undefined;
  /** Entries ignored while parsing, with reasons; empty for bundles built in process. */
  readonly skipped: readonly SkippedEntry[];
  /** Remarks on accepted entries (not errors); empty for bundles built in process. */
  readonly notes: readonly BundleNote[];

  constructor(init: BundleInit) {
    this.trustDomain = init.trustDomain;
    const seen = new Set<string>();
    const x509: X509Authority[] = [];
    for (const authority of init.x509Authorities ?? []) {
      if (seen.has(authority.fingerprintSha256)) continue;
      seen.add(authority.fingerprintSha256);
      x509.push(authority);
    }
    this.x509Authorities = Object.freeze(x509);
    const jwt = new Map<string, JwtAuthority>();
    for (const authority of init.jwtAuthorities ?? []) {
      if (jwt.has(authority.kid)) {
        throw new BundleError(
          'ERR_BUNDLE_DUPLICATE_KID',
          `duplicate jwt-svid kid "${authority.kid}"`,
        );
      }
      jwt.set(authority.kid, authority);
    }
    this.jwtAuthorities = jwt;
    this.sequence = init.sequence;
    this.refreshHintSeconds =
      init.refreshHintSeconds !== undefined && init.refreshHintSeconds > 0
        ? init.refreshHintSeconds
        : undefined;
    this.skipped = Object.freeze([...(init.skipped ?? [])]);
    this.notes = Object.freeze([...(init.notes ?? [])]);
    Object.freeze(this);
  }

  /** BundleSource: a bundle answers for its own trust domain only. */
  getBundleForTrustDomain(trustDomain: TrustDomain): Bundle | undefined {
    return trustDomain.name === this.trustDomain.name ? this : undefined;
  }

  /** True when the bundle trusts nothing (BUNDLE-3, BUNDLE-27). */
  get isEmpty(): boolean {
    return this.x509Authorities.length === 0 && this.jwtAuthorities.size === 0;
  }
}

/**
 * Builds an X509Authority from trusted DER (our own CA, or bytes already checked by parseBundle).
 * Throws BundleError ERR_BUNDLE_PEM when the bytes are not a certificate.
 */
export function x509AuthorityFromDer(der: Uint8Array): X509Authority {
  const bytes = Buffer.from(der);
  let certificate: X509Certificate;
  let publicKey: KeyObject;
  try {
    certificate = new X509Certificate(bytes);
    publicKey = certificate.publicKey;
  } catch (cause) {
    throw new BundleError('ERR_BUNDLE_PEM', 'bytes are not a DER X.509 certificate', { cause });
  }
  return x509AuthorityFromParsed(bytes, certificate, publicKey);
}

/**
 * Room-internal (not in index.ts): an X509Authority from a certificate the caller already parsed
 * from exactly `der`, so parseBundle does not parse each certificate twice.
 */
export function x509AuthorityFromParsed(
  der: Buffer,
  certificate: X509Certificate,
  publicKey: KeyObject,
): X509Authority {
  return Object.freeze({
    der,
    certificate,
    publicKey,
    fingerprintSha256: createHash('sha256').update(der).digest('hex'),
    notBefore: new Date(certificate.validFrom),
    notAfter: new Date(certificate.validTo),
  });
}

/** Builds a JwtAuthority from a public JWK; private members are refused (BUNDLE-14). */
export function jwtAuthorityFromJwk(kid: string, jwk: JsonWebKey): JwtAuthority {
  const publicJwk: JsonWebKey = {};
  for (const name of ['kty', 'crv', 'x', 'y', 'n', 'e'] as const) {
    if (jwk[name] !== undefined) publicJwk[name] = jwk[name];
  }
  for (const name of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const) {
    if (jwk[name] !== undefined) {
      throw new BundleError(
        'ERR_BUNDLE_PRIVATE_KEY',
        `jwt authority "${kid}" carries private member "${name}"`,
      );
    }
  }
  const publicKey = createPublicKey({ key: publicJwk, format: 'jwk' });
  return Object.freeze({ kid, publicKey, jwk: Object.freeze(publicJwk) });
}
