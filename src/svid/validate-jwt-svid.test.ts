// Rule tests for validateJwtSvid: accepted tokens, JWT-10..24 (CTS JV-*). Valid tokens are minted with
// jose (rejections in validate-jwt-svid-rejects.test.ts).
import { describe, expect, it } from 'vitest';
import { codeOf } from '../../test/helpers/svid-code.js';
import {
  bundleOf,
  createCa,
  createJwtKey,
  sourceOf,
  type TestJwtKey,
} from '../../test/helpers/pki.js';
import { SvidError } from '../errors.js';
import { MAX_KIDLESS_KEYS, validateJwtSvid, type ValidateJwtSvidOptions } from './index.js';
import {
  A,
  AUD,
  NOW_S,
  SUB,
  b64,
  craft,
  es256Header,
  es384,
  es512,
  good,
  goodPayload,
  goodSig,
  mint,
  p384,
  replacePart,
  rsa,
  source,
  validate,
} from '../../test/helpers/jwt-svid-fixtures.js';

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

const x509Only = sourceOf(bundleOf(A, [await createCa({ trustDomain: A })]));

describe('validateJwtSvid: bundles without fitting keys, caller mistakes, messages', () => {
  it('JWT-16 (CTS JV-18): bundle without jwt-svid keys', () => {
    expect(codeOf(() => validate(good, {}, x509Only))).toBe('ERR_SVID_JWT_NO_KEYS');
  });

  it('JWT-17: kid absent and the only fitting key has the wrong curve', () => {
    const onlyP384 = sourceOf(bundleOf(A, [], [p384]));
    expect(codeOf(() => validate(craft({ alg: 'ES256' }), {}, onlyP384))).toBe(
      'ERR_SVID_JWT_KEY_MISMATCH',
    );
  });

  it('JWT-17 (bound): kid absent and more than MAX_KIDLESS_KEYS keys fit alg: refused before any is tried, even one that verifies', async () => {
    const keys = await Promise.all(
      Array.from({ length: MAX_KIDLESS_KEYS + 1 }, () => createJwtKey('ES256')),
    );
    const signer = keys[MAX_KIDLESS_KEYS] as TestJwtKey;
    const all = sourceOf(bundleOf(A, [], keys));
    const token = await mint({ kid: null, key: signer });
    // With kid the same keys are fine: one check, the named key.
    expect(validate(await mint({ key: signer }), {}, all).spiffeId.toString()).toBe(SUB);
    expect(codeOf(() => validate(token, {}, all))).toBe('ERR_SVID_JWT_KID_UNKNOWN');
    // At the bound every fitting key is still tried: the last one verifies.
    const atBound = sourceOf(bundleOf(A, [], keys.slice(1)));
    expect(validate(token, {}, atBound).spiffeId.toString()).toBe(SUB);
    // Keys that do not fit alg do not count against the bound.
    const withOthers = sourceOf(bundleOf(A, [], [...keys.slice(1), p384, rsa]));
    expect(validate(token, {}, withOthers).spiffeId.toString()).toBe(SUB);
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
