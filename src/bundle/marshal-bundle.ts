// marshalBundle: Bundle -> deterministic SPIFFE bundle JSON that go-spiffe also accepts
// (BUNDLE-30, BUNDLE-32, GS-4); plus bundleDigest and bundleContentEquals for FED-32.
import { createHash } from 'node:crypto';
import { BundleError } from '../errors.js';
import type { Bundle, JwtAuthority, X509Authority } from './bundle.js';
import { keyParamsOfKey, type PublicKeyParams } from './jwk-key.js';

/** BUNDLE-30: go-spiffe reads `spiffe_sequence` as uint64 but we stay below 2^63 for every peer. */
const SEQUENCE_LIMIT = 1n << 63n;
const MAX_INT64 = (1n << 63n) - 1n;

function marshalError(message: string): BundleError {
  return new BundleError('ERR_BUNDLE_MARSHAL', message);
}

/** True when `text` has no lone surrogate, so it encodes to UTF-8 and parses back unchanged. */
function isWellFormed(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0xd800 || c > 0xdfff) continue;
    const next = text.charCodeAt(i + 1);
    if (c > 0xdbff || !(next >= 0xdc00 && next <= 0xdfff)) return false;
    i++;
  }
  return true;
}

/** Key parameters as JSON members, in publication order (`crv`, `x`, `y` or `n`, `e`). */
function paramsMembers(params: PublicKeyParams): string {
  switch (params.kty) {
    case 'EC':
      return `"crv":${JSON.stringify(params.crv)},"x":"${params.x}","y":"${params.y}"`;
    case 'RSA':
      return `"n":"${params.n}","e":"${params.e}"`;
    case 'OKP':
      return `"crv":"Ed25519","x":"${params.x}"`;
  }
}

function x509Params(authority: X509Authority): PublicKeyParams {
  const params = keyParamsOfKey(authority.certificate.publicKey);
  if (params === undefined) {
    throw marshalError('x509 authority key type cannot be published (BUNDLE-30)');
  }
  return params;
}

function jwtParams(authority: JwtAuthority): PublicKeyParams {
  const params = keyParamsOfKey(authority.publicKey);
  if (params === undefined) {
    throw marshalError(
      `jwt authority ${JSON.stringify(authority.kid)} key type cannot be published`,
    );
  }
  return params;
}

/** BUNDLE-32: x509 authorities by notBefore, then fingerprint. */
function sortedX509(bundle: Bundle): X509Authority[] {
  return [...bundle.x509Authorities].sort((a, b) => {
    const delta = a.notBefore.getTime() - b.notBefore.getTime();
    if (delta !== 0) return delta;
    return a.fingerprintSha256 < b.fingerprintSha256
      ? -1
      : a.fingerprintSha256 > b.fingerprintSha256
        ? 1
        : 0;
  });
}

/** BUNDLE-32: jwt authorities by kid (UTF-16 code unit order). */
function sortedJwt(bundle: Bundle): JwtAuthority[] {
  return [...bundle.jwtAuthorities.values()].sort((a, b) =>
    a.kid < b.kid ? -1 : a.kid > b.kid ? 1 : 0,
  );
}

/**
 * Serialises a bundle for publication. Deterministic: equal content gives equal bytes (BUNDLE-32).
 * x509 entries: `kty`, `use`, key parameters, one-element `x5c`, never `kid` (BUNDLE-20, BUNDLE-22);
 * jwt entries: `kty`, `kid`, `use`, key parameters (BUNDLE-25). No thumbprints, no private members
 * (BUNDLE-14/15). Throws ERR_BUNDLE_MARSHAL when the result would not satisfy BUNDLE-30.
 */
export function marshalBundle(bundle: Bundle): Buffer {
  const parts: string[] = [];
  if (bundle.sequence !== undefined) {
    if (bundle.sequence < 0n || bundle.sequence >= SEQUENCE_LIMIT) {
      throw marshalError('spiffe_sequence must be from 0 to 2^63-1 to be published (BUNDLE-30)');
    }
    parts.push(`"spiffe_sequence":${bundle.sequence.toString()}`);
  }
  if (bundle.refreshHintSeconds !== undefined) {
    // GS-4: the hint is published in whole seconds, rounded up.
    const hint = Math.ceil(bundle.refreshHintSeconds);
    if (!Number.isFinite(hint) || hint < 1 || BigInt(hint) > MAX_INT64) {
      throw marshalError('spiffe_refresh_hint must be a positive 64-bit number of seconds');
    }
    parts.push(`"spiffe_refresh_hint":${BigInt(hint).toString()}`);
  }
  const keys: string[] = [];
  for (const authority of sortedX509(bundle)) {
    const params = x509Params(authority);
    keys.push(
      `{"kty":"${params.kty}","use":"x509-svid",${paramsMembers(params)},` +
        `"x5c":["${authority.der.toString('base64')}"]}`,
    );
  }
  for (const authority of sortedJwt(bundle)) {
    if (authority.kid === '' || !isWellFormed(authority.kid)) {
      throw marshalError('jwt authority kid must be a non-empty well-formed string (BUNDLE-30)');
    }
    const params = jwtParams(authority);
    keys.push(
      `{"kty":"${params.kty}","kid":${JSON.stringify(authority.kid)},"use":"jwt-svid",` +
        `${paramsMembers(params)}}`,
    );
  }
  parts.push(`"keys":[${keys.join(',')}]`);
  return Buffer.from(`{${parts.join(',')}}`, 'utf8');
}

/** Lowercase hex SHA-256 of bundle bytes (stored beside the bundle, compared for no-op refreshes). */
export function bundleDigest(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * True when both bundles have the same trust domain, X.509 authorities (as a set of DER), JWT
 * authorities (same kids with the same public keys), sequence and refresh hint. Skipped entries and
 * notes are not content. Used for FED-32 (equal sequence: identical content is a no-op).
 */
export function bundleContentEquals(a: Bundle, b: Bundle): boolean {
  if (a === b) return true;
  if (a.trustDomain.name !== b.trustDomain.name) return false;
  if (a.sequence !== b.sequence || a.refreshHintSeconds !== b.refreshHintSeconds) return false;
  if (a.x509Authorities.length !== b.x509Authorities.length) return false;
  const fingerprints = new Set(a.x509Authorities.map((authority) => authority.fingerprintSha256));
  for (const authority of b.x509Authorities) {
    if (!fingerprints.has(authority.fingerprintSha256)) return false;
  }
  if (a.jwtAuthorities.size !== b.jwtAuthorities.size) return false;
  for (const [kid, authority] of a.jwtAuthorities) {
    const other = b.jwtAuthorities.get(kid);
    if (other === undefined) return false;
    if (!authority.publicKey.equals(other.publicKey)) return false;
  }
  return true;
}
