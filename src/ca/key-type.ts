// Key types of our authorities and how each key signs: X.509 AlgorithmIdentifier, hash, JWS alg
// (X509-8, JWT-3). Also covers the operator's upstream CA key, which may be any supported type.
import { generateKeyPair as generateKeyPairCb, type KeyObject } from 'node:crypto';
import { DER_NULL, oid, sequence } from '../encoding/index.js';

export const KEY_TYPES = ['ec-p256', 'ec-p384', 'rsa-2048', 'rsa-4096'] as const;
export type KeyType = (typeof KEY_TYPES)[number];

export function isKeyType(value: unknown): value is KeyType {
  return typeof value === 'string' && (KEY_TYPES as readonly string[]).includes(value);
}

export type JwtAlg = 'ES256' | 'ES384' | 'ES512' | 'RS256';
export type HashName = 'sha256' | 'sha384' | 'sha512';

/** How one private key signs certificates and tokens. */
export interface SigningProfile {
  /** Digest for node:crypto sign; null for Ed25519 (pure EdDSA). */
  readonly hash: HashName | null;
  /** DER of the X.509 `AlgorithmIdentifier` of signatures made with this key. */
  readonly algorithmIdentifierDer: Buffer;
  /** JWS alg for JWT-SVIDs, when the key may sign them (JWT-3). */
  readonly jwtAlg: JwtAlg | undefined;
  readonly isRsa: boolean;
}

const ECDSA_SHA256 = sequence(oid('1.2.840.10045.4.3.2'));
const ECDSA_SHA384 = sequence(oid('1.2.840.10045.4.3.3'));
const ECDSA_SHA512 = sequence(oid('1.2.840.10045.4.3.4'));
// RFC 4055 §5: the parameters of sha256WithRSAEncryption are an explicit NULL.
const RSA_SHA256 = sequence(oid('1.2.840.113549.1.1.11'), DER_NULL);
const ED25519 = sequence(oid('1.3.101.112'));

/**
 * The signing profile of a private (or public) key, or undefined when the key type is not one we
 * sign with: EC P-256/P-384/P-521, RSA >= 2048 bits, Ed25519.
 */
export function signingProfileOf(key: KeyObject): SigningProfile | undefined {
  const details = key.asymmetricKeyDetails;
  switch (key.asymmetricKeyType) {
    case 'ec':
      switch (details?.namedCurve) {
        case 'prime256v1':
          return profile('sha256', ECDSA_SHA256, 'ES256', false);
        case 'secp384r1':
          return profile('sha384', ECDSA_SHA384, 'ES384', false);
        case 'secp521r1':
          return profile('sha512', ECDSA_SHA512, 'ES512', false);
        default:
          return undefined;
      }
    case 'rsa':
      return (details?.modulusLength ?? 0) >= 2048
        ? profile('sha256', RSA_SHA256, 'RS256', true)
        : undefined;
    case 'ed25519':
      return profile(null, ED25519, undefined, false);
    default:
      return undefined;
  }
}

function profile(
  hash: HashName | null,
  algorithmIdentifierDer: Buffer,
  jwtAlg: JwtAlg | undefined,
  isRsa: boolean,
): SigningProfile {
  return Object.freeze({ hash, algorithmIdentifierDer, jwtAlg, isRsa });
}

/** Generates a new authority key pair of the configured type, off the main thread. */
export function generateAuthorityKeyPair(
  keyType: KeyType,
): Promise<{ privateKey: KeyObject; publicKey: KeyObject }> {
  return new Promise((resolve, reject) => {
    const done = (err: Error | null, publicKey: KeyObject, privateKey: KeyObject): void => {
      if (err) reject(err);
      else resolve({ privateKey, publicKey });
    };
    switch (keyType) {
      case 'ec-p256':
        generateKeyPairCb('ec', { namedCurve: 'P-256' }, done);
        break;
      case 'ec-p384':
        generateKeyPairCb('ec', { namedCurve: 'P-384' }, done);
        break;
      case 'rsa-2048':
        generateKeyPairCb('rsa', { modulusLength: 2048, publicExponent: 0x10001 }, done);
        break;
      case 'rsa-4096':
        generateKeyPairCb('rsa', { modulusLength: 4096, publicExponent: 0x10001 }, done);
        break;
    }
  });
}

/** The KeyType of a loaded authority key, or undefined when it is none of ours. */
export function keyTypeOf(key: KeyObject): KeyType | undefined {
  const details = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === 'ec') {
    if (details?.namedCurve === 'prime256v1') return 'ec-p256';
    if (details?.namedCurve === 'secp384r1') return 'ec-p384';
  }
  if (key.asymmetricKeyType === 'rsa') {
    if (details?.modulusLength === 2048) return 'rsa-2048';
    if (details?.modulusLength === 4096) return 'rsa-4096';
  }
  return undefined;
}
