// Validation and canonical form of JWK public key parameters (BUNDLE-10, BUNDLE-13, BUNDLE-30):
// EC P-256/384/521, RSA (2048..8192 bits), OKP Ed25519. Private to the bundle room.
import type { JsonWebKey, KeyObject } from 'node:crypto';
import {
  bitLength,
  MAX_RSA_BITS,
  MIN_RSA_BITS,
  rsaExponentAccepted,
  stripLeadingZeros,
} from '../encoding/index.js';
import { decodeStrictBase64Url } from './base64.js';
import type { JsonObject } from './json.js';

/** Key types a bundle entry may carry (BUNDLE-10). */
export const SUPPORTED_KTYS: ReadonlySet<string> = new Set(['EC', 'RSA', 'OKP']);

/** Coordinate length in bytes of each supported EC curve (RFC 7518 §6.2.1.2). */
const EC_COORDINATE_BYTES: Readonly<Record<string, number>> = {
  'P-256': 32,
  'P-384': 48,
  'P-521': 66,
};

// BUNDLE-13 (policy): RSA keys outside MIN_RSA_BITS..MAX_RSA_BITS, or with an exponent Go's
// crypto/rsa would refuse, are not taken (src/encoding/rsa-key.ts, shared with the CA's CSR rules).
export { MAX_RSA_BITS, MIN_RSA_BITS };

/** Canonical public parameters, in the member order we publish them. */
export type PublicKeyParams =
  | { readonly kty: 'EC'; readonly crv: string; readonly x: string; readonly y: string }
  | { readonly kty: 'RSA'; readonly n: string; readonly e: string }
  | { readonly kty: 'OKP'; readonly crv: 'Ed25519'; readonly x: string };

export type KeyParamsCheck =
  | { readonly ok: true; readonly params: PublicKeyParams }
  | { readonly ok: false; readonly reason: 'invalid-key' | 'weak-key'; readonly detail: string };

function invalid(detail: string): KeyParamsCheck {
  return { ok: false, reason: 'invalid-key', detail };
}

/**
 * Checks the key parameters of a JWK entry whose `kty` is one of SUPPORTED_KTYS (BUNDLE-13).
 * Syntax and sizes only: whether an EC point lies on its curve is checked when the key is built.
 */
export function checkKeyParams(entry: JsonObject, kty: string): KeyParamsCheck {
  switch (kty) {
    case 'EC': {
      const { crv, x, y } = entry;
      if (typeof crv !== 'string') return invalid('ec key without a string "crv"');
      const size = EC_COORDINATE_BYTES[crv];
      if (size === undefined) return invalid('unsupported ec curve');
      if (typeof x !== 'string' || typeof y !== 'string') {
        return invalid('ec key without string "x" and "y"');
      }
      const xBytes = decodeStrictBase64Url(x);
      const yBytes = decodeStrictBase64Url(y);
      if (xBytes === undefined || yBytes === undefined) {
        return invalid('ec coordinates are not canonical base64url');
      }
      if (xBytes.length !== size || yBytes.length !== size) {
        return invalid(`ec coordinates must be exactly ${size} bytes for ${crv}`);
      }
      return { ok: true, params: { kty: 'EC', crv, x, y } };
    }
    case 'RSA': {
      const { n, e } = entry;
      if (typeof n !== 'string' || typeof e !== 'string') {
        return invalid('rsa key without string "n" and "e"');
      }
      const nRaw = decodeStrictBase64Url(n);
      const eRaw = decodeStrictBase64Url(e);
      if (nRaw === undefined || eRaw === undefined || nRaw.length === 0 || eRaw.length === 0) {
        return invalid('rsa parameters are not canonical non-empty base64url');
      }
      // Leading zero octets are tolerated on input (some producers emit them) and dropped.
      const nBytes = stripLeadingZeros(nRaw);
      const eBytes = stripLeadingZeros(eRaw);
      const bits = bitLength(nBytes);
      if (bits > MAX_RSA_BITS) return invalid(`rsa modulus larger than ${MAX_RSA_BITS} bits`);
      if ((nBytes[nBytes.length - 1] ?? 0) % 2 === 0) return invalid('rsa modulus is even');
      if (bits < MIN_RSA_BITS) {
        return { ok: false, reason: 'weak-key', detail: `rsa modulus of ${bits} bits` };
      }
      if (eBytes.length > 4) return invalid('rsa exponent too large');
      if (!rsaExponentAccepted(eBytes)) return invalid('rsa exponent out of range');
      return {
        ok: true,
        params: { kty: 'RSA', n: nBytes.toString('base64url'), e: eBytes.toString('base64url') },
      };
    }
    case 'OKP': {
      const { crv, x } = entry;
      if (crv !== 'Ed25519') return invalid('unsupported okp curve');
      if (typeof x !== 'string') return invalid('okp key without a string "x"');
      const xBytes = decodeStrictBase64Url(x);
      if (xBytes === undefined) return invalid('okp "x" is not canonical base64url');
      if (xBytes.length !== 32) return invalid('ed25519 "x" must be exactly 32 bytes');
      return { ok: true, params: { kty: 'OKP', crv: 'Ed25519', x } };
    }
    default:
      throw new TypeError(`unsupported kty ${JSON.stringify(kty)}`);
  }
}

/** Canonical public parameters of a key, or undefined when its type cannot go in a bundle (BUNDLE-30). */
export function keyParamsOfKey(key: KeyObject): PublicKeyParams | undefined {
  if (key.type !== 'public') return undefined;
  let jwk: JsonWebKey;
  try {
    jwk = key.export({ format: 'jwk' });
  } catch {
    return undefined;
  }
  if (jwk.kty === 'EC') {
    if (jwk.crv === undefined || EC_COORDINATE_BYTES[jwk.crv] === undefined) return undefined;
    if (jwk.x === undefined || jwk.y === undefined) return undefined;
    return { kty: 'EC', crv: jwk.crv, x: jwk.x, y: jwk.y };
  }
  if (jwk.kty === 'RSA') {
    if (jwk.n === undefined || jwk.e === undefined) return undefined;
    return { kty: 'RSA', n: jwk.n, e: jwk.e };
  }
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519' && jwk.x !== undefined) {
    return { kty: 'OKP', crv: 'Ed25519', x: jwk.x };
  }
  return undefined;
}

/** True when two canonical parameter sets describe the same key. */
export function keyParamsEqual(a: PublicKeyParams, b: PublicKeyParams): boolean {
  if (a.kty === 'EC' && b.kty === 'EC') return a.crv === b.crv && a.x === b.x && a.y === b.y;
  if (a.kty === 'RSA' && b.kty === 'RSA') return a.n === b.n && a.e === b.e;
  if (a.kty === 'OKP' && b.kty === 'OKP') return a.crv === b.crv && a.x === b.x;
  return false;
}
