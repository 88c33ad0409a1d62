// Rule tests for validateJwtSvid: JWT-10..24 (CTS JV-*). Valid tokens are minted with jose, bad ones by hand.
import { createHmac, generateKeyPairSync, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { SvidError } from '../errors.js';
import {
  bundleOf,
  createCa,
  createJwtKey,
  sourceOf,
  type TestJwtKey,
} from '../../test/helpers/pki.js';
import { Bundle, jwtAuthorityFromJwk, type BundleSource } from '../bundle/index.js';
import { parseTrustDomain } from '../spiffeid/index.js';
import { validateJwtSvid, type ValidateJwtSvidOptions } from './index.js';

const NOW = new Date(Date.UTC(2030, 0, 15, 12, 0, 0));
const NOW_S = NOW.getTime() / 1000;
const A = 'a.example';
const B = 'b.example';
const SUB = `spiffe://${A}/workload`;
const AUD = 'reports';

const es256 = await createJwtKey('ES256', 'es256');
const es384 = await createJwtKey('ES384', 'es384');
const es512 = await createJwtKey('ES512', 'es512');
const rsa = await createJwtKey('RS256', 'rsa');
const p384 = await createJwtKey('ES384', 'p384'); // used with alg ES256: wrong curve
const keyB = await createJwtKey('ES256', 'b-key');
const stranger = await createJwtKey('ES256', 'es256'); // same kid as es256, different key
const ed = generateKeyPairSync('ed25519');
const edAuthority = jwtAuthorityFromJwk('ed', ed.publicKey.export({ format: 'jwk' }));

const bundleA = new Bundle({
  trustDomain: parseTrustDomain(A),
  jwtAuthorities: [es256, es384, es512, rsa, p384]
    .map((k) => jwtAuthorityFromJwk(k.kid, k.jwk))
    .concat(edAuthority),
});
const bundleB = bundleOf(B, [], [keyB]);
const source = sourceOf(bundleA, bundleB);

const baseClaims = { sub: SUB, aud: AUD, exp: NOW_S + 300, iat: NOW_S };

interface MintOptions {
  readonly alg?: string;
  readonly kid?: string | null;
  readonly typ?: string | null;
  readonly key?: TestJwtKey;
  readonly claims?: Record<string, unknown>;
}

/** A token minted by jose (an independent implementation). */
async function mint(options: MintOptions = {}): Promise<string> {
  const key = options.key ?? es256;
  const header: Record<string, unknown> = { alg: options.alg ?? key.alg };
  if (options.kid !== null) header['kid'] = options.kid ?? key.kid;
  if (options.typ !== null) header['typ'] = options.typ ?? 'JWT';
  return new SignJWT({ ...baseClaims, ...options.claims } as never)
    .setProtectedHeader(header as never)
    .sign(key.privateKey);
}

const b64 = (value: string | Buffer): string => Buffer.from(value).toString('base64url');

/** A hand-made token: header and payload as raw JSON text, ES256 (raw r||s) by default. */
function craft(
  header: string | Record<string, unknown>,
  payload: string | Record<string, unknown> = baseClaims,
  signer: (data: Buffer) => Buffer = (data) =>
    cryptoSign('sha256', data, { key: es256.privateKey, dsaEncoding: 'ieee-p1363' }),
): string {
  const h = b64(typeof header === 'string' ? header : JSON.stringify(header));
  const p = b64(typeof payload === 'string' ? payload : JSON.stringify(payload));
  return `${h}.${p}.${b64(signer(Buffer.from(`${h}.${p}`)))}`;
}

const es256Header = { alg: 'ES256', kid: 'es256', typ: 'JWT' };

function validate(
  token: string,
  options: Partial<ValidateJwtSvidOptions> = {},
  src: BundleSource = source,
) {
  return validateJwtSvid(token, src, { audience: AUD, now: NOW, ...options });
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    if (error instanceof SvidError) return error.code;
    throw error;
  }
  return undefined;
}

function replacePart(token: string, index: number, value: string): string {
  const parts = token.split('.');
  parts[index] = value;
  return parts.join('.');
}

const good = await mint();
const [goodHeader = '', goodPayload = '', goodSig = ''] = good.split('.');

const cases: {
  rule: string;
  name: string;
  token: string;
  options?: Partial<ValidateJwtSvidOptions>;
}[] = [
  { rule: 'JWT-11', name: 'ES256', token: good },
  { rule: 'JWT-11', name: 'ES384', token: await mint({ key: es384 }) },
  { rule: 'JWT-11', name: 'ES512', token: await mint({ key: es512 }) },
  { rule: 'JWT-11', name: 'RS256', token: await mint({ key: rsa, alg: 'RS256' }) },
  { rule: 'JWT-11', name: 'RS384', token: await mint({ key: rsa, alg: 'RS384' }) },
  { rule: 'JWT-11', name: 'RS512', token: await mint({ key: rsa, alg: 'RS512' }) },
  { rule: 'JWT-11', name: 'PS256', token: await mint({ key: rsa, alg: 'PS256' }) },
  { rule: 'JWT-11', name: 'PS384', token: await mint({ key: rsa, alg: 'PS384' }) },
  { rule: 'JWT-11', name: 'PS512', token: await mint({ key: rsa, alg: 'PS512' }) },
  { rule: 'JWT-12', name: 'typ absent', token: await mint({ typ: null }) },
  { rule: 'JWT-12', name: 'typ JOSE', token: await mint({ typ: 'JOSE' }) },
  {
    rule: 'JWT-17 (CTS JV-22)',
    name: 'kid absent, one fitting key verifies',
    token: await mint({ kid: null }),
  },
  {
    rule: 'JWT-17 (CTS JV-22)',
    name: 'kid absent, RSA key found among others',
    token: await mint({ kid: null, key: rsa, alg: 'PS256' }),
  },
  {
    rule: 'JWT-19',
    name: 'aud array with one expected value',
    token: await mint({ claims: { aud: ['x', AUD] } }),
  },
  {
    rule: 'JWT-19',
    name: 'one of several expected audiences',
    token: await mint({ claims: { aud: 'other' } }),
    options: { audience: [AUD, 'other'] },
  },
  {
    rule: 'JWT-20',
    name: 'expired within the leeway',
    token: await mint({ claims: { exp: NOW_S - 20 } }),
  },
  {
    rule: 'JWT-20',
    name: 'exp exactly now + 0 leeway',
    token: await mint({ claims: { exp: NOW_S } }),
    options: { leewaySeconds: 0 },
  },
  {
    rule: 'JWT-20',
    name: 'fractional exp',
    token: await mint({ claims: { exp: NOW_S + 0.5 } }),
    options: { leewaySeconds: 0 },
  },
  { rule: 'JWT-21', name: 'nbf in the past', token: await mint({ claims: { nbf: NOW_S - 10 } }) },
  {
    rule: 'JWT-21',
    name: 'nbf within the leeway',
    token: await mint({ claims: { nbf: NOW_S + 20 } }),
  },
  {
    rule: 'JWT-21',
    name: 'iat within the leeway',
    token: await mint({ claims: { iat: NOW_S + 20 } }),
  },
  {
    rule: 'JWT-21',
    name: 'iat absent',
    token: craft(es256Header, { sub: SUB, aud: AUD, exp: NOW_S + 60 }),
  },
  { rule: 'JWT-22', name: 'jti is not tracked', token: await mint({ claims: { jti: 'same' } }) },
];

describe('validateJwtSvid accepts', () => {
  it.each(cases.map((c) => [`${c.rule}: ${c.name}`, c] as const))(
    '%s',
    (_title, { token, options }) => {
      expect(validate(token, options).spiffeId.toString()).toBe(SUB);
    },
  );

  it('JWT-22: the same token validates twice', () => {
    expect(validate(good).spiffeId.toString()).toBe(SUB);
    expect(validate(good).spiffeId.toString()).toBe(SUB);
  });

  it('JWT-23/JWT-24: returns the SPIFFE ID, all claims (lossless), header, audience and expiry', async () => {
    const token = await mint({ claims: { 'example.com/role': 'admin' } });
    const result = validate(token);
    expect(result.spiffeId.toString()).toBe(SUB);
    expect(result.header).toEqual({ alg: 'ES256', kid: 'es256', typ: 'JWT' });
    expect(result.audience).toEqual([AUD]);
    expect(result.expiresAt.getTime()).toBe((NOW_S + 300) * 1000);
    expect(result.claims['example.com/role']).toBe('admin');
    expect(String(result.claims['exp'])).toBe(String(NOW_S + 300));
    expect(result.authority.kid).toBe('es256');
  });

  it('JWT-20: uses the current time when now is omitted', async () => {
    const t = Math.floor(Date.now() / 1000);
    const token = await mint({ claims: { exp: t + 300, iat: t } });
    expect(validateJwtSvid(token, source, { audience: AUD }).spiffeId.toString()).toBe(SUB);
  });
});

const hmacWithPublicKey = craft({ alg: 'HS256', kid: 'es256', typ: 'JWT' }, baseClaims, (data) =>
  createHmac('sha256', es256.publicKey.export({ format: 'pem', type: 'spki' }))
    .update(data)
    .digest(),
);
const edDsa = craft({ alg: 'EdDSA', kid: 'ed', typ: 'JWT' }, baseClaims, (data) =>
  cryptoSign(null, data, ed.privateKey),
);
const x509Only = sourceOf(bundleOf(A, [await createCa({ trustDomain: A })]));
const derSignature = craft(es256Header, baseClaims, (data) =>
  cryptoSign('sha256', data, es256.privateKey),
);

function signWith(key: KeyObject) {
  return (data: Buffer) => cryptoSign('sha256', data, { key, dsaEncoding: 'ieee-p1363' });
}

const rejected: {
  rule: string;
  name: string;
  token: string;
  options?: Partial<ValidateJwtSvidOptions>;
  code: string;
}[] = [
  // JWT-10
  {
    rule: 'JWT-10 (CTS JV-24)',
    name: 'two parts',
    token: `${goodHeader}.${goodPayload}`,
    code: 'ERR_SVID_JWT_MALFORMED',
  },
  {
    rule: 'JWT-10 (CTS JV-24)',
    name: 'four parts',
    token: `${good}.${goodSig}`,
    code: 'ERR_SVID_JWT_MALFORMED',
  },
  { rule: 'JWT-10 (CTS JV-24)', name: 'empty string', token: '', code: 'ERR_SVID_JWT_MALFORMED' },
  {
    rule: 'JWT-10 (CTS JV-24)',
    name: 'JWS JSON serialization',
    token: JSON.stringify({ payload: goodPayload, protected: goodHeader, signature: goodSig }),
    code: 'ERR_SVID_JWT_MALFORMED',
  },
  {
    rule: 'JWT-10 (CTS JV-24)',
    name: 'empty header part',
    token: `.${goodPayload}.${goodSig}`,
    code: 'ERR_SVID_JWT_MALFORMED',
  },
  {
    rule: 'JWT-10 (CTS JV-25)',
    name: 'padding in the header',
    token: replacePart(good, 0, `${goodHeader}=`),
    code: 'ERR_SVID_JWT_MALFORMED',
  },
  {
    rule: 'JWT-10 (CTS JV-25)',
    name: 'standard base64 alphabet (+)',
    token: replacePart(good, 2, '+' + goodSig.slice(1)),
    code: 'ERR_SVID_JWT_MALFORMED',
  },
  {
    rule: 'JWT-10 (CTS JV-25)',
    name: 'non-canonical trailing bits',
    token: replacePart(good, 1, b64('{"a":1}').slice(0, -1) + 'B'),
    code: 'ERR_SVID_JWT_MALFORMED',
  },
  {
    rule: 'JWT-10 (CTS JV-25)',
    name: 'impossible base64 length',
    token: replacePart(good, 1, goodPayload + 'A'.repeat((5 - (goodPayload.length % 4)) % 4 || 4)),
    code: 'ERR_SVID_JWT_MALFORMED',
  },
  {
    rule: 'JWT-10 (CTS JV-25)',
    name: 'header is not JSON',
    token: craft('not json'),
    code: 'ERR_SVID_JWT_MALFORMED',
  },
  {
    rule: 'JWT-10 (CTS JV-25)',
    name: 'header is a JSON array',
    token: craft('["ES256"]'),
    code: 'ERR_SVID_JWT_MALFORMED',
  },
  {
    rule: 'JWT-10 (CTS JV-25)',
    name: 'payload is a JSON number',
    token: craft(es256Header, '123'),
    code: 'ERR_SVID_JWT_MALFORMED',
  },
  {
    rule: 'JWT-10',
    name: 'duplicate member in the header',
    token: craft('{"alg":"ES256","kid":"es256","alg":"ES256"}'),
    code: 'ERR_SVID_JWT_MALFORMED',
  },
  {
    rule: 'JWT-10',
    name: 'duplicate member in the payload',
    token: craft(
      es256Header,
      `{"sub":"${SUB}","aud":"${AUD}","exp":${NOW_S + 60},"sub":"spiffe://${A}/other"}`,
    ),
    code: 'ERR_SVID_JWT_MALFORMED',
  },
  {
    rule: 'JWT-10',
    name: 'payload not UTF-8',
    token: `${goodHeader}.${b64(Buffer.from([0x7b, 0xff, 0x7d]))}.${goodSig}`,
    code: 'ERR_SVID_JWT_MALFORMED',
  },
  {
    rule: 'JWT-10',
    name: 'oversized token',
    token: `${goodHeader}.${'A'.repeat(70_000)}.${goodSig}`,
    code: 'ERR_SVID_JWT_MALFORMED',
  },
  // JWT-11
  {
    rule: 'JWT-11 (CTS JV-3)',
    name: 'alg none, unsigned',
    token: `${b64('{"alg":"none","typ":"JWT"}')}.${goodPayload}.`,
    code: 'ERR_SVID_JWT_ALG',
  },
  {
    rule: 'JWT-11 (CTS JV-4)',
    name: 'HS256 keyed with the public key',
    token: hmacWithPublicKey,
    code: 'ERR_SVID_JWT_ALG',
  },
  {
    rule: 'JWT-11 (CTS JV-5)',
    name: 'EdDSA with an Ed25519 key from the bundle',
    token: edDsa,
    code: 'ERR_SVID_JWT_ALG',
  },
  { rule: 'JWT-11', name: 'alg missing', token: craft({ kid: 'es256' }), code: 'ERR_SVID_JWT_ALG' },
  {
    rule: 'JWT-11',
    name: 'alg in lower case',
    token: craft({ alg: 'es256', kid: 'es256' }),
    code: 'ERR_SVID_JWT_ALG',
  },
  {
    rule: 'JWT-11',
    name: 'alg not a string',
    token: craft({ alg: 256, kid: 'es256' }),
    code: 'ERR_SVID_JWT_ALG',
  },
  {
    rule: 'JWT-11',
    name: 'alg checked before other headers',
    token: craft({ alg: 'HS512', jwk: {}, crit: ['x'] }),
    code: 'ERR_SVID_JWT_ALG',
  },
  // JWT-12
  {
    rule: 'JWT-12 (CTS JV-20)',
    name: 'typ "jwt" (case differs)',
    token: await mint({ typ: 'jwt' }),
    code: 'ERR_SVID_JWT_TYP',
  },
  {
    rule: 'JWT-12 (CTS JV-20)',
    name: 'typ "at+jwt"',
    token: await mint({ typ: 'at+jwt' }),
    code: 'ERR_SVID_JWT_TYP',
  },
  {
    rule: 'JWT-12 (CTS JV-21)',
    name: 'typ not a string',
    token: craft({ alg: 'ES256', kid: 'es256', typ: 1 }),
    code: 'ERR_SVID_JWT_TYP',
  },
  // JWT-13
  {
    rule: 'JWT-13 (CTS JV-23)',
    name: 'crit header',
    token: craft({ ...es256Header, crit: ['exp'], exp: 1 }),
    code: 'ERR_SVID_JWT_CRIT',
  },
  {
    rule: 'JWT-13 (CTS JV-23)',
    name: 'empty crit header',
    token: craft({ ...es256Header, crit: [] }),
    code: 'ERR_SVID_JWT_CRIT',
  },
  // JWT-14
  {
    rule: 'JWT-14',
    name: 'jwk header',
    token: craft({ ...es256Header, jwk: es256.jwk }),
    code: 'ERR_SVID_JWT_HEADER',
  },
  {
    rule: 'JWT-14',
    name: 'x5c header',
    token: craft({ ...es256Header, x5c: ['AAAA'] }),
    code: 'ERR_SVID_JWT_HEADER',
  },
  {
    rule: 'JWT-14',
    name: 'jku header',
    token: craft({ ...es256Header, jku: 'https://evil.example/jwks' }),
    code: 'ERR_SVID_JWT_HEADER',
  },
  {
    rule: 'JWT-14',
    name: 'cty header',
    token: craft({ ...es256Header, cty: 'JWT' }),
    code: 'ERR_SVID_JWT_HEADER',
  },
  {
    rule: 'JWT-14',
    name: 'b64 header without crit',
    token: craft({ ...es256Header, b64: false }),
    code: 'ERR_SVID_JWT_HEADER',
  },
  {
    rule: 'JWT-14',
    name: 'kid not a string',
    token: craft({ alg: 'ES256', kid: 7 }),
    code: 'ERR_SVID_JWT_HEADER',
  },
  // JWT-15
  {
    rule: 'JWT-15 (CTS JV-19)',
    name: 'sub missing',
    token: craft(es256Header, { aud: AUD, exp: NOW_S + 60 }),
    code: 'ERR_SVID_JWT_SUB',
  },
  {
    rule: 'JWT-15 (CTS JV-19)',
    name: 'sub not a string',
    token: craft(es256Header, { ...baseClaims, sub: 42 }),
    code: 'ERR_SVID_JWT_SUB',
  },
  {
    rule: 'JWT-15 (CTS JV-19)',
    name: 'sub with an https scheme',
    token: await mint({ claims: { sub: `https://${A}/workload` } }),
    code: 'ERR_SVID_JWT_SUB',
  },
  {
    rule: 'JWT-15 (CTS JV-19)',
    name: 'sub with an upper-case trust domain',
    token: await mint({ claims: { sub: 'spiffe://A.example/w' } }),
    code: 'ERR_SVID_JWT_SUB',
  },
  {
    rule: 'JWT-15',
    name: 'path-less sub',
    token: await mint({ claims: { sub: `spiffe://${A}` } }),
    code: 'ERR_SVID_JWT_SUB',
  },
  // JWT-16
  {
    rule: 'JWT-16 (CTS JV-17)',
    name: 'no bundle for the sub trust domain',
    token: await mint({ claims: { sub: 'spiffe://c.example/w' } }),
    code: 'ERR_SVID_JWT_NO_BUNDLE',
  },
  {
    rule: 'JWT-16',
    name: "cross trust domain: sub in B, signed with A's key and kid",
    token: await mint({ claims: { sub: `spiffe://${B}/w` } }),
    code: 'ERR_SVID_JWT_KID_UNKNOWN',
  },
  {
    rule: 'JWT-16',
    name: "cross trust domain without kid: A's keys are never tried",
    token: await mint({ kid: null, claims: { sub: `spiffe://${B}/w` } }),
    code: 'ERR_SVID_JWT_SIGNATURE',
  },
  // JWT-17
  {
    rule: 'JWT-17 (CTS JV-16)',
    name: 'kid unknown',
    token: await mint({ kid: 'nope' }),
    code: 'ERR_SVID_JWT_KID_UNKNOWN',
  },
  {
    rule: 'JWT-17 (CTS JV-6)',
    name: 'kid names a P-384 key for ES256 (wrong curve)',
    token: await mint({ kid: 'p384' }),
    code: 'ERR_SVID_JWT_KEY_MISMATCH',
  },
  {
    rule: 'JWT-17 (CTS JV-6)',
    name: 'kid names an EC key for RS256',
    token: craft({ alg: 'RS256', kid: 'es256' }),
    code: 'ERR_SVID_JWT_KEY_MISMATCH',
  },
  {
    rule: 'JWT-17 (CTS JV-6)',
    name: 'kid names an RSA key for ES256',
    token: craft({ alg: 'ES256', kid: 'rsa' }),
    code: 'ERR_SVID_JWT_KEY_MISMATCH',
  },
  {
    rule: 'JWT-17 (CTS JV-6)',
    name: 'kid absent and no key fits the alg',
    token: craft({ alg: 'PS256' }, { ...baseClaims, sub: `spiffe://${B}/w` }),
    code: 'ERR_SVID_JWT_KEY_MISMATCH',
  },
  // JWT-18
  {
    rule: 'JWT-18 (CTS JV-14)',
    name: 'payload changed after signing',
    token: replacePart(good, 1, b64(JSON.stringify({ ...baseClaims, sub: `spiffe://${A}/admin` }))),
    code: 'ERR_SVID_JWT_SIGNATURE',
  },
  {
    rule: 'JWT-18 (CTS JV-15)',
    name: 'signature bytes changed',
    token: replacePart(
      good,
      2,
      b64(Buffer.from(Buffer.from(goodSig, 'base64url').map((b, i) => (i === 5 ? b ^ 1 : b)))),
    ),
    code: 'ERR_SVID_JWT_SIGNATURE',
  },
  {
    rule: 'JWT-18 (CTS JV-15)',
    name: 'signature empty',
    token: replacePart(good, 2, ''),
    code: 'ERR_SVID_JWT_SIGNATURE',
  },
  {
    rule: 'JWT-18',
    name: 'DER-encoded ECDSA signature',
    token: derSignature,
    code: 'ERR_SVID_JWT_SIGNATURE',
  },
  {
    rule: 'JWT-18',
    name: 'signed by another key under the same kid',
    token: craft(es256Header, baseClaims, signWith(stranger.privateKey)),
    code: 'ERR_SVID_JWT_SIGNATURE',
  },
  {
    rule: 'JWT-18',
    name: 'kid absent and no key verifies',
    token: craft({ alg: 'ES256' }, baseClaims, signWith(stranger.privateKey)),
    code: 'ERR_SVID_JWT_SIGNATURE',
  },
  // JWT-19
  {
    rule: 'JWT-19 (CTS JV-7)',
    name: 'aud missing',
    token: await mint({ claims: { aud: undefined } }),
    code: 'ERR_SVID_JWT_AUD',
  },
  {
    rule: 'JWT-19 (CTS JV-8)',
    name: 'aud does not match',
    token: await mint({ claims: { aud: 'billing' } }),
    code: 'ERR_SVID_JWT_AUD',
  },
  {
    rule: 'JWT-19 (CTS JV-9)',
    name: 'aud array without a match',
    token: await mint({ claims: { aud: ['billing', 'ops'] } }),
    code: 'ERR_SVID_JWT_AUD',
  },
  {
    rule: 'JWT-19 (CTS JV-10)',
    name: 'aud a number',
    token: await mint({ claims: { aud: 7 } }),
    code: 'ERR_SVID_JWT_AUD',
  },
  {
    rule: 'JWT-19',
    name: 'aud array with a non-string',
    token: await mint({ claims: { aud: [AUD, 7] } }),
    code: 'ERR_SVID_JWT_AUD',
  },
  {
    rule: 'JWT-19',
    name: 'aud empty array',
    token: await mint({ claims: { aud: [] } }),
    code: 'ERR_SVID_JWT_AUD',
  },
  {
    rule: 'JWT-19',
    name: 'aud contains an empty string',
    token: await mint({ claims: { aud: ['', AUD] } }),
    code: 'ERR_SVID_JWT_AUD',
  },
  {
    rule: 'JWT-19',
    name: 'aud match is exact (case)',
    token: await mint({ claims: { aud: 'Reports' } }),
    code: 'ERR_SVID_JWT_AUD',
  },
  // JWT-20
  {
    rule: 'JWT-20 (CTS JV-11)',
    name: 'exp missing',
    token: await mint({ claims: { exp: undefined } }),
    code: 'ERR_SVID_JWT_EXP',
  },
  {
    rule: 'JWT-20',
    name: 'exp a string',
    token: await mint({ claims: { exp: String(NOW_S + 60) } }),
    code: 'ERR_SVID_JWT_EXP',
  },
  {
    rule: 'JWT-20',
    name: 'exp overflowing to infinity',
    token: craft(es256Header, `{"sub":"${SUB}","aud":"${AUD}","exp":1e400}`),
    code: 'ERR_SVID_JWT_EXP',
  },
  {
    rule: 'JWT-20 (CTS JV-12)',
    name: 'expired beyond the default leeway',
    token: await mint({ claims: { exp: NOW_S - 31 } }),
    code: 'ERR_SVID_JWT_EXPIRED',
  },
  {
    rule: 'JWT-20',
    name: 'expired with leeway 0',
    token: await mint({ claims: { exp: NOW_S - 1 } }),
    options: { leewaySeconds: 0 },
    code: 'ERR_SVID_JWT_EXPIRED',
  },
  // JWT-21
  {
    rule: 'JWT-21 (CTS JV-13)',
    name: 'nbf in the future',
    token: await mint({ claims: { nbf: NOW_S + 31 } }),
    code: 'ERR_SVID_JWT_NOT_YET_VALID',
  },
  {
    rule: 'JWT-21',
    name: 'nbf not numeric',
    token: await mint({ claims: { nbf: 'soon' } }),
    code: 'ERR_SVID_JWT_MALFORMED',
  },
  {
    rule: 'JWT-21',
    name: 'iat in the future',
    token: await mint({ claims: { iat: NOW_S + 31 } }),
    code: 'ERR_SVID_JWT_IAT_FUTURE',
  },
  {
    rule: 'JWT-21',
    name: 'iat not numeric',
    token: await mint({ claims: { iat: true } }),
    code: 'ERR_SVID_JWT_MALFORMED',
  },
];

describe('validateJwtSvid rejects', () => {
  it.each(rejected.map((c) => [`${c.rule}: ${c.name} -> ${c.code}`, c] as const))(
    '%s',
    (_title, { token, options, code }) => {
      expect(codeOf(() => validate(token, options))).toBe(code);
    },
  );

  it('JWT-16 (CTS JV-18): bundle without jwt-svid keys', () => {
    expect(codeOf(() => validate(good, {}, x509Only))).toBe('ERR_SVID_JWT_NO_KEYS');
  });

  it('JWT-17: kid absent and the only fitting key has the wrong curve', () => {
    const onlyP384 = sourceOf(bundleOf(A, [], [p384]));
    expect(codeOf(() => validate(craft({ alg: 'ES256' }), {}, onlyP384))).toBe(
      'ERR_SVID_JWT_KEY_MISMATCH',
    );
  });

  it('messages never contain the token or key material', () => {
    try {
      validate(replacePart(good, 2, b64('x'.repeat(64))));
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(SvidError);
      expect((error as Error).message).not.toContain(goodPayload);
      expect((error as Error).message).not.toContain(goodSig);
    }
  });

  it.each([
    ['empty audience list (GS-7)', () => validate(good, { audience: [] })],
    ['empty audience string', () => validate(good, { audience: '' })],
    ['non-string audience value', () => validate(good, { audience: [7 as never] })],
    ['leeway above 60 s', () => validate(good, { leewaySeconds: 61 })],
    ['negative leeway', () => validate(good, { leewaySeconds: -1 })],
    ['NaN leeway', () => validate(good, { leewaySeconds: NaN })],
    ['invalid now', () => validate(good, { now: new Date(NaN) })],
    ['token not a string', () => validateJwtSvid(42 as never, source, { audience: AUD })],
    ['source missing', () => validateJwtSvid(good, undefined as never, { audience: AUD })],
    ['options missing', () => validateJwtSvid(good, source, undefined as never)],
  ])('JWT-19/JWT-20: caller mistake throws TypeError: %s', (_name, call) => {
    expect(call).toThrow(TypeError);
  });

  it('JWT-20: leeway of exactly 60 s is allowed', async () => {
    const token = await mint({ claims: { exp: NOW_S - 59 } });
    expect(validate(token, { leewaySeconds: 60 }).spiffeId.toString()).toBe(SUB);
  });
});
