// Shared fixtures of the validateJwtSvid rule tests (src/svid/validate-jwt-svid*.test.ts): real keys
// and bundles at a fixed NOW, tokens minted by jose or crafted by hand, and the helpers that run them.
import { generateKeyPairSync, sign as cryptoSign } from 'node:crypto';
import { SignJWT } from 'jose';
import { bundleOf, createJwtKey, sourceOf, type TestJwtKey } from './pki.js';
import { Bundle, jwtAuthorityFromJwk, type BundleSource } from '../../src/bundle/index.js';
import { parseTrustDomain } from '../../src/spiffeid/index.js';
import { validateJwtSvid, type ValidateJwtSvidOptions } from '../../src/svid/index.js';

export const NOW = new Date(Date.UTC(2030, 0, 15, 12, 0, 0));
export const NOW_S = NOW.getTime() / 1000;
export const A = 'a.example';
export const B = 'b.example';
export const SUB = `spiffe://${A}/workload`;
export const AUD = 'reports';

export const es256 = await createJwtKey('ES256', 'es256');
export const es384 = await createJwtKey('ES384', 'es384');
export const es512 = await createJwtKey('ES512', 'es512');
export const rsa = await createJwtKey('RS256', 'rsa');
export const p384 = await createJwtKey('ES384', 'p384'); // used with alg ES256: wrong curve
export const keyB = await createJwtKey('ES256', 'b-key');
export const stranger = await createJwtKey('ES256', 'es256'); // same kid as es256, different key
export const ed = generateKeyPairSync('ed25519');
export const edAuthority = jwtAuthorityFromJwk('ed', ed.publicKey.export({ format: 'jwk' }));

export const bundleA = new Bundle({
  trustDomain: parseTrustDomain(A),
  jwtAuthorities: [es256, es384, es512, rsa, p384]
    .map((k) => jwtAuthorityFromJwk(k.kid, k.jwk))
    .concat(edAuthority),
});
export const bundleB = bundleOf(B, [], [keyB]);
export const source = sourceOf(bundleA, bundleB);

export const baseClaims = { sub: SUB, aud: AUD, exp: NOW_S + 300, iat: NOW_S };

export interface MintOptions {
  readonly alg?: string;
  readonly kid?: string | null;
  readonly typ?: string | null;
  readonly key?: TestJwtKey;
  readonly claims?: Record<string, unknown>;
}

/** A token minted by jose (an independent implementation). */
export async function mint(options: MintOptions = {}): Promise<string> {
  const key = options.key ?? es256;
  const header: Record<string, unknown> = { alg: options.alg ?? key.alg };
  if (options.kid !== null) header['kid'] = options.kid ?? key.kid;
  if (options.typ !== null) header['typ'] = options.typ ?? 'JWT';
  return new SignJWT({ ...baseClaims, ...options.claims } as never)
    .setProtectedHeader(header as never)
    .sign(key.privateKey);
}

export const b64 = (value: string | Buffer): string => Buffer.from(value).toString('base64url');

/** A hand-made token: header and payload as raw JSON text, ES256 (raw r||s) by default. */
export function craft(
  header: string | Record<string, unknown>,
  payload: string | Record<string, unknown> = baseClaims,
  signer: (data: Buffer) => Buffer = (data) =>
    cryptoSign('sha256', data, { key: es256.privateKey, dsaEncoding: 'ieee-p1363' }),
): string {
  const h = b64(typeof header === 'string' ? header : JSON.stringify(header));
  const p = b64(typeof payload === 'string' ? payload : JSON.stringify(payload));
  return `${h}.${p}.${b64(signer(Buffer.from(`${h}.${p}`)))}`;
}

export const es256Header = { alg: 'ES256', kid: 'es256', typ: 'JWT' };

export function validate(
  token: string,
  options: Partial<ValidateJwtSvidOptions> = {},
  src: BundleSource = source,
) {
  return validateJwtSvid(token, src, { audience: AUD, now: NOW, ...options });
}

export function replacePart(token: string, index: number, value: string): string {
  const parts = token.split('.');
  parts[index] = value;
  return parts.join('.');
}

export const good = await mint();
export const [goodHeader = '', goodPayload = '', goodSig = ''] = good.split('.');
