// The public key an X509-SVID is issued for: SubjectPublicKeyInfo parsing, the key types we accept
// (X509-8: EC P-256/P-384/P-521, RSA >= 2048, Ed25519) and a fast import for the CSR signature check.
import { createPublicKey, hash, KeyObject, webcrypto } from 'node:crypto';
import { CaError } from '../errors.js';
import {
  bitLength,
  bitString,
  bitStringBytes,
  children,
  content,
  DerError,
  expectTlv,
  MAX_RSA_BITS,
  MIN_RSA_BITS,
  oidText,
  raw,
  readTlv,
  rsaExponentAccepted,
  sequence,
  stripLeadingZeros,
} from '../encoding/index.js';

export type SubjectKeyFamily = 'ec' | 'rsa' | 'ed25519';

/** A parsed, policy-checked SubjectPublicKeyInfo. */
export interface SubjectKey {
  /** The SPKI DER exactly as received (keyForCertificate gives the one a certificate carries). */
  readonly spkiDer: Buffer;
  readonly family: SubjectKeyFamily;
  /** Web Crypto curve name for EC keys. */
  readonly curve: 'P-256' | 'P-384' | 'P-521' | undefined;
  /** The subjectPublicKey BIT STRING content (EC point, RSAPublicKey DER or Ed25519 bytes). */
  readonly keyBits: Buffer;
  /** RSA modulus and exponent (unsigned big-endian) when family is rsa. */
  readonly rsa: { readonly n: Buffer; readonly e: Buffer } | undefined;
}

const EC_PUBLIC_KEY = '1.2.840.10045.2.1';
const RSA_ENCRYPTION = '1.2.840.113549.1.1.1';
const ED25519 = '1.3.101.112';
const CURVES: Readonly<Record<string, { name: 'P-256' | 'P-384' | 'P-521'; bytes: number }>> = {
  '1.2.840.10045.3.1.7': { name: 'P-256', bytes: 32 },
  '1.3.132.0.34': { name: 'P-384', bytes: 48 },
  '1.3.132.0.35': { name: 'P-521', bytes: 66 },
};

function unsupported(message: string): CaError {
  return new CaError('ERR_CA_KEY_UNSUPPORTED', message);
}

/**
 * Parses and checks an SPKI. Structural damage throws DerError (the caller decides the code);
 * a well-formed key of a type or size we do not issue for throws ERR_CA_KEY_UNSUPPORTED.
 */
export function parseSubjectKey(spkiDer: Buffer): SubjectKey {
  const spki = expectTlv(spkiDer, 0, 0x30);
  if (spki.end !== spkiDer.length) throw new DerError('trailing bytes after SubjectPublicKeyInfo');
  const [algorithm, bits, ...extra] = children(spkiDer, spki);
  if (algorithm === undefined || bits === undefined || extra.length > 0 || algorithm.tag !== 0x30) {
    throw new DerError('malformed SubjectPublicKeyInfo');
  }
  const [algOid, params, ...more] = children(spkiDer, algorithm);
  if (algOid === undefined || algOid.tag !== 0x06 || more.length > 0) {
    throw new DerError('malformed AlgorithmIdentifier');
  }
  const keyBits = bitStringBytes(spkiDer, bits);
  const algorithmOid = oidText(content(spkiDer, algOid));
  switch (algorithmOid) {
    case EC_PUBLIC_KEY: {
      if (params === undefined || params.tag !== 0x06) {
        throw unsupported('ec keys must name their curve (explicit curve parameters are refused)');
      }
      const curve = CURVES[oidText(content(spkiDer, params))];
      if (curve === undefined)
        throw unsupported('ec curve not accepted; use P-256, P-384 or P-521');
      const uncompressed = keyBits.length === 1 + 2 * curve.bytes && keyBits[0] === 4;
      const compressed =
        keyBits.length === 1 + curve.bytes && (keyBits[0] === 2 || keyBits[0] === 3);
      if (!uncompressed && !compressed) throw new DerError('malformed ec point');
      return { spkiDer, family: 'ec', curve: curve.name, keyBits, rsa: undefined };
    }
    case RSA_ENCRYPTION: {
      if (params !== undefined && (params.tag !== 0x05 || params.end - params.contentStart !== 0)) {
        throw new DerError('rsaEncryption parameters must be NULL');
      }
      const rsaKey = expectTlv(keyBits, 0, 0x30);
      if (rsaKey.end !== keyBits.length) throw new DerError('trailing bytes after RSAPublicKey');
      const [n, e, ...rest] = children(keyBits, rsaKey);
      if (n?.tag !== 0x02 || e?.tag !== 0x02 || rest.length > 0) {
        throw new DerError('malformed RSAPublicKey');
      }
      const modulus = stripLeadingZeros(content(keyBits, n));
      const exponent = stripLeadingZeros(content(keyBits, e));
      const bitsLength = bitLength(modulus);
      if (bitsLength < MIN_RSA_BITS || bitsLength > MAX_RSA_BITS) {
        throw unsupported(
          `rsa key of ${bitsLength} bits not accepted; ${MIN_RSA_BITS}..${MAX_RSA_BITS}`,
        );
      }
      // An odd exponent from 3 to 2^31-1, as Go's crypto/rsa takes: a peer using Go could not
      // verify with any other, and a huge one makes every check of it slow.
      if (!rsaExponentAccepted(exponent)) {
        throw unsupported('rsa public exponent not accepted (an odd number from 3 to 2^31-1)');
      }
      return {
        spkiDer,
        family: 'rsa',
        curve: undefined,
        keyBits,
        rsa: { n: modulus, e: exponent },
      };
    }
    case ED25519:
      if (params !== undefined) throw new DerError('ed25519 takes no parameters');
      if (keyBits.length !== 32) throw new DerError('malformed ed25519 key');
      return { spkiDer, family: 'ed25519', curve: undefined, keyBits, rsa: undefined };
    default:
      throw unsupported(`public key algorithm ${algorithmOid} not accepted`);
  }
}

/** Checks a KeyObject handed in by a trusted caller and returns its parsed SPKI. */
export function subjectKeyFromKeyObject(publicKey: KeyObject): SubjectKey {
  if (!(publicKey instanceof KeyObject) || publicKey.type !== 'public') {
    throw new TypeError('publicKey must be a public KeyObject');
  }
  const der = publicKey.export({ type: 'spki', format: 'der' });
  try {
    return parseSubjectKey(der);
  } catch (cause) {
    if (cause instanceof DerError) throw unsupported('public key could not be read');
    throw cause;
  }
}

/**
 * Imports the key for a signature check. EC points go through Web Crypto's raw import, which skips
 * OpenSSL 3's generic decoder (the slowest step of a CSR check); RSA and Ed25519 through JWK.
 */
export async function importSubjectKey(key: SubjectKey): Promise<KeyObject> {
  if (key.family === 'ec' && key.curve !== undefined) {
    const cryptoKey = await webcrypto.subtle.importKey(
      'raw',
      key.keyBits,
      { name: 'ECDSA', namedCurve: key.curve },
      true,
      ['verify'],
    );
    return KeyObject.from(cryptoKey);
  }
  if (key.family === 'rsa' && key.rsa !== undefined) {
    return createPublicKey({
      key: { kty: 'RSA', n: key.rsa.n.toString('base64url'), e: key.rsa.e.toString('base64url') },
      format: 'jwk',
    });
  }
  return createPublicKey({
    key: { kty: 'OKP', crv: 'Ed25519', x: key.keyBits.toString('base64url') },
    format: 'jwk',
  });
}

/**
 * The key as the certificate carries it: an EC point is always uncompressed (04 || X || Y), since
 * Go's crypto/x509 (go-spiffe, SPIRE) cannot parse a compressed one (BUNDLE-30's aim: what we
 * publish and issue must be usable by go-spiffe peers). Any other key is returned as it is, with
 * no work (the hot path). A compressed point that does not decode (not on the curve) throws.
 */
export function keyForCertificate(key: SubjectKey): SubjectKey {
  if (key.family !== 'ec' || key.keyBits[0] === 4) return key;
  const jwk = createPublicKey({ key: key.spkiDer, format: 'der', type: 'spki' }).export({
    format: 'jwk',
  });
  const point = Buffer.concat([
    Buffer.from([4]),
    Buffer.from(jwk.x ?? '', 'base64url'),
    Buffer.from(jwk.y ?? '', 'base64url'),
  ]);
  if (point.length !== 2 * key.keyBits.length - 1) throw new DerError('malformed ec point');
  const spki = expectTlv(key.spkiDer, 0, 0x30);
  const algorithm = readTlv(key.spkiDer, spki.contentStart, spki.end);
  return {
    ...key,
    spkiDer: sequence(raw(key.spkiDer, algorithm), bitString(point)),
    keyBits: point,
  };
}

/** RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits. */
export function keyIdentifier(keyBits: Uint8Array): Buffer {
  return hash('sha1', keyBits, 'buffer');
}

/** The subjectPublicKey bits of any SPKI DER (for key identifiers). */
export function spkiKeyBits(spkiDer: Uint8Array): Buffer {
  const spki = expectTlv(spkiDer, 0, 0x30);
  const algorithm = readTlv(spkiDer, spki.contentStart, spki.end);
  return bitStringBytes(spkiDer, readTlv(spkiDer, algorithm.end, spki.end));
}
