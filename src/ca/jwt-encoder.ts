// JWT-SVID minting: compact JWS with a pre-encoded header `{alg, kid, typ: "JWT"}` (JWT-1..4) and
// node:crypto signatures (ECDSA in the raw r||s form JWS needs; RSA PKCS#1 v1.5 for RS256).
import { sign, type KeyObject } from 'node:crypto';
import type { JwtAlg, SigningProfile } from './key-type.js';

/** One JWT signing key with its header already encoded. */
export interface JwtSigner {
  readonly kid: string;
  readonly alg: JwtAlg;
  readonly privateKey: KeyObject;
  readonly profile: SigningProfile;
  /** base64url of the header JSON, followed by ".". */
  readonly headerPrefix: string;
}

export function createJwtSigner(
  privateKey: KeyObject,
  profile: SigningProfile,
  kid: string,
): JwtSigner {
  if (profile.jwtAlg === undefined) throw new TypeError('this key type cannot sign JWT-SVIDs');
  // JWT-2: only alg, kid and typ, in this order.
  const header = JSON.stringify({ alg: profile.jwtAlg, kid, typ: 'JWT' });
  return Object.freeze({
    kid,
    alg: profile.jwtAlg,
    privateKey,
    profile,
    headerPrefix: Buffer.from(header, 'utf8').toString('base64url') + '.',
  });
}

/** Encodes and signs; EC keys sign inline (tens of microseconds), RSA keys on the libuv pool. */
export function mintJwt(
  signer: JwtSigner,
  claims: Readonly<Record<string, unknown>>,
): Promise<string> {
  const signingInput =
    signer.headerPrefix + Buffer.from(JSON.stringify(claims), 'utf8').toString('base64url');
  const data = Buffer.from(signingInput, 'latin1');
  if (!signer.profile.isRsa) {
    const signature = sign(signer.profile.hash, data, {
      key: signer.privateKey,
      dsaEncoding: 'ieee-p1363',
    });
    return Promise.resolve(signingInput + '.' + signature.toString('base64url'));
  }
  return new Promise((resolve, reject) => {
    sign(signer.profile.hash, data, signer.privateKey, (err, signature) => {
      if (err) reject(err);
      else resolve(signingInput + '.' + signature.toString('base64url'));
    });
  });
}
