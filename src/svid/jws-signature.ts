// JWS signatures of JWT-SVIDs with node:crypto directly (BUNDLE-34): the allowed algorithms, which
// bundle keys fit them (JWT-3, JWT-17) and the signature check itself (JWT-18).
import { constants, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { MIN_RSA_BITS } from '../encoding/index.js';

export interface AlgSpec {
  readonly hash: 'sha256' | 'sha384' | 'sha512';
  readonly family: 'rsa' | 'pss' | 'ec';
  /** Node's curve name for ES*, and the raw r||s signature length. */
  readonly curve?: string;
  readonly signatureLength?: number;
}

export const ALGS = new Map<string, AlgSpec>([
  ['RS256', { hash: 'sha256', family: 'rsa' }],
  ['RS384', { hash: 'sha384', family: 'rsa' }],
  ['RS512', { hash: 'sha512', family: 'rsa' }],
  ['PS256', { hash: 'sha256', family: 'pss' }],
  ['PS384', { hash: 'sha384', family: 'pss' }],
  ['PS512', { hash: 'sha512', family: 'pss' }],
  ['ES256', { hash: 'sha256', family: 'ec', curve: 'prime256v1', signatureLength: 64 }],
  ['ES384', { hash: 'sha384', family: 'ec', curve: 'secp384r1', signatureLength: 96 }],
  ['ES512', { hash: 'sha512', family: 'ec', curve: 'secp521r1', signatureLength: 132 }],
]);

// Key description per KeyObject: 'ec:<curve>', 'rsa:<bits>', 'rsa-pss:<bits>' or the key type.
const keyKinds = new WeakMap<KeyObject, { type: string; curve?: string; bits?: number }>();

function keyKind(key: KeyObject): { type: string; curve?: string; bits?: number } {
  let kind = keyKinds.get(key);
  if (kind === undefined) {
    const details = key.asymmetricKeyDetails ?? {};
    kind = { type: key.asymmetricKeyType ?? 'unknown' };
    if (details.namedCurve !== undefined) kind.curve = details.namedCurve;
    if (details.modulusLength !== undefined) kind.bits = details.modulusLength;
    keyKinds.set(key, kind);
  }
  return kind;
}

/** JWT-3 / JWT-17: RS* needs RSA, PS* RSA (or RSA-PSS), ES256/384/512 the matching curve. */
export function keyFits(spec: AlgSpec, key: KeyObject): boolean {
  const kind = keyKind(key);
  switch (spec.family) {
    case 'ec':
      return kind.type === 'ec' && kind.curve === spec.curve;
    case 'rsa':
      return kind.type === 'rsa' && (kind.bits ?? 0) >= MIN_RSA_BITS;
    case 'pss':
      return (kind.type === 'rsa' || kind.type === 'rsa-pss') && (kind.bits ?? 0) >= MIN_RSA_BITS;
  }
}

/** JWT-18: signature over ASCII(header "." payload); ECDSA is raw r||s (ieee-p1363). */
export function signatureValid(
  spec: AlgSpec,
  key: KeyObject,
  data: Buffer,
  signature: Buffer,
): boolean {
  try {
    switch (spec.family) {
      case 'ec':
        return (
          signature.length === spec.signatureLength &&
          cryptoVerify(spec.hash, data, { key, dsaEncoding: 'ieee-p1363' }, signature)
        );
      case 'rsa':
        return cryptoVerify(
          spec.hash,
          data,
          { key, padding: constants.RSA_PKCS1_PADDING },
          signature,
        );
      case 'pss':
        return cryptoVerify(
          spec.hash,
          data,
          {
            key,
            padding: constants.RSA_PKCS1_PSS_PADDING,
            saltLength: constants.RSA_PSS_SALTLEN_DIGEST,
          },
          signature,
        );
    }
  } catch {
    return false;
  }
}
