// Rule tests for validateJwtSvid: rejected tokens, JWT-10..24 (CTS JV-*), each with its SvidError code;
// bad tokens are made by hand (accepted tokens in validate-jwt-svid.test.ts).
import { createHmac, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { codeOf } from '../../test/helpers/svid-code.js';
import type { ValidateJwtSvidOptions } from './index.js';
import {
  A,
  AUD,
  B,
  NOW_S,
  SUB,
  b64,
  baseClaims,
  craft,
  ed,
  es256,
  es256Header,
  good,
  goodHeader,
  goodPayload,
  goodSig,
  mint,
  replacePart,
  stranger,
  validate,
} from '../../test/helpers/jwt-svid-fixtures.js';

const hmacWithPublicKey = craft({ alg: 'HS256', kid: 'es256', typ: 'JWT' }, baseClaims, (data) =>
  createHmac('sha256', es256.publicKey.export({ format: 'pem', type: 'spki' }))
    .update(data)
    .digest(),
);
const edDsa = craft({ alg: 'EdDSA', kid: 'ed', typ: 'JWT' }, baseClaims, (data) =>
  cryptoSign(null, data, ed.privateKey),
);
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
});
