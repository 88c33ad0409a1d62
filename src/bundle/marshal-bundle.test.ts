// Tests of marshalBundle (BUNDLE-30/32, GS-4), round trips through parseBundle, bundleDigest and
// bundleContentEquals (FED-32).
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  authorityOf,
  createCa,
  createJwtKey,
  type TestCert,
  type TestJwtKey,
} from '../../test/helpers/pki.js';
import { codeOf } from '../../test/helpers/bundle-code.js';
import { parseTrustDomain } from '../spiffeid/index.js';
import {
  Bundle,
  PRIVATE_JWK_MEMBERS,
  bundleContentEquals,
  bundleDigest,
  jwtAuthorityFromJwk,
  marshalBundle,
  parseBundle,
  type BundleInit,
  type JwtAuthority,
} from './index.js';

const EXAMPLE_TEXT = readFileSync(new URL('./spec-example-bundle.json', import.meta.url), 'utf8');
const ACME = parseTrustDomain('acme.example');
const DAY = 86_400_000;

let rootOld: TestCert;
let rootNew: TestCert;
let rootSameTime: TestCert;
let rootRsa: TestCert;
let rootEd: TestCert;
let rootExtra: TestCert;
let keyA: TestJwtKey;
let keyB: TestJwtKey;
let keyRsa: TestJwtKey;
const edJwk = generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' });

beforeAll(async () => {
  const t0 = new Date(Date.UTC(2030, 0, 1));
  [rootOld, rootNew, rootSameTime, rootRsa, rootEd, rootExtra] = await Promise.all([
    createCa({ notBefore: t0, notAfter: new Date(t0.getTime() + 400 * DAY) }),
    createCa({
      notBefore: new Date(t0.getTime() + DAY),
      notAfter: new Date(t0.getTime() + 500 * DAY),
    }),
    createCa({ notBefore: t0, notAfter: new Date(t0.getTime() + 400 * DAY) }),
    createCa({ keyAlg: 'rsa-2048', notBefore: new Date(t0.getTime() + 2 * DAY) }),
    createCa({ keyAlg: 'ed25519', notBefore: new Date(t0.getTime() + 3 * DAY) }),
    createCa(),
  ]);
  [keyA, keyB, keyRsa] = await Promise.all([
    createJwtKey('ES256', 'a-key'),
    createJwtKey('ES384', 'b-key'),
    createJwtKey('RS256', 'c-key'),
  ]);
});

function bundle(init: Partial<BundleInit> = {}): Bundle {
  return new Bundle({ trustDomain: ACME, ...init });
}
function jwt(key: TestJwtKey, kid = key.kid): JwtAuthority {
  return jwtAuthorityFromJwk(kid, key.jwk);
}
function fullInit(order: 'forward' | 'reverse' = 'forward'): BundleInit {
  const x509 = [rootOld, rootNew, rootSameTime, rootRsa, rootEd].map((c) => authorityOf(c));
  const jwts = [jwt(keyA), jwt(keyB), jwt(keyRsa), jwtAuthorityFromJwk('d-key', edJwk)];
  return {
    trustDomain: ACME,
    x509Authorities: order === 'forward' ? x509 : x509.reverse(),
    jwtAuthorities: order === 'forward' ? jwts : jwts.reverse(),
    sequence: 42n,
    refreshHintSeconds: 300,
  };
}
function full(order: 'forward' | 'reverse' = 'forward'): Bundle {
  return new Bundle(fullInit(order));
}
function variant(over: Partial<BundleInit>): Bundle {
  return new Bundle({ ...fullInit(), ...over });
}
interface Doc {
  spiffe_sequence?: number;
  spiffe_refresh_hint?: number;
  keys: Record<string, unknown>[];
}
function doc(b: Bundle): Doc {
  return JSON.parse(marshalBundle(b).toString('utf8')) as Doc;
}

describe('BUNDLE-30 / GS-4 what we publish', () => {
  it('BUNDLE-30 x509 entries: kty, use, key parameters, one-element x5c, no kid, no thumbprints', () => {
    const keys = doc(
      bundle({
        x509Authorities: [authorityOf(rootOld), authorityOf(rootRsa), authorityOf(rootEd)],
      }),
    ).keys;
    expect(keys.map((k) => Object.keys(k))).toEqual([
      ['kty', 'use', 'crv', 'x', 'y', 'x5c'],
      ['kty', 'use', 'n', 'e', 'x5c'],
      ['kty', 'use', 'crv', 'x', 'x5c'],
    ]);
    expect(keys[0]).toMatchObject({
      kty: 'EC',
      use: 'x509-svid',
      crv: 'P-256',
      x5c: [rootOld.der.toString('base64')],
    });
    expect(keys[1]).toMatchObject({
      kty: 'RSA',
      use: 'x509-svid',
      ...rootRsa.nodePublicKey().export({ format: 'jwk' }),
    });
    expect(keys[2]).toMatchObject({ kty: 'OKP', crv: 'Ed25519', use: 'x509-svid' });
  });

  it('BUNDLE-30 jwt entries: kty, kid, use, key parameters', () => {
    const keys = doc(
      bundle({ jwtAuthorities: [jwt(keyA), jwt(keyRsa), jwtAuthorityFromJwk('d-key', edJwk)] }),
    ).keys;
    expect(keys.map((k) => Object.keys(k))).toEqual([
      ['kty', 'kid', 'use', 'crv', 'x', 'y'],
      ['kty', 'kid', 'use', 'n', 'e'],
      ['kty', 'kid', 'use', 'crv', 'x'],
    ]);
    expect(keys[0]).toEqual({ kid: 'a-key', use: 'jwt-svid', ...keyA.jwk });
  });

  it('BUNDLE-14/15 never emits private members or thumbprints, for any key type', () => {
    for (const entry of doc(full()).keys) {
      for (const member of [...PRIVATE_JWK_MEMBERS, 'x5t', 'x5t#S256', 'alg', 'key_ops']) {
        expect(entry).not.toHaveProperty([member]);
      }
    }
  });

  it.each([
    ['absent', undefined, undefined],
    ['0', 0n, 0],
    ['2^63-1', (1n << 63n) - 1n, '9223372036854775807'],
  ])('BUNDLE-30 spiffe_sequence %s is emitted as exact digits', (_name, sequence, expected) => {
    const text = marshalBundle(bundle(sequence === undefined ? {} : { sequence })).toString();
    if (expected === undefined) expect(text).not.toContain('spiffe_sequence');
    else expect(text).toContain(`"spiffe_sequence":${String(expected)},`);
  });

  it.each([
    ['2^63', 1n << 63n],
    ['2^64-1', (1n << 64n) - 1n],
    ['negative', -1n],
  ])('BUNDLE-30 spiffe_sequence %s cannot be published (ERR_BUNDLE_MARSHAL)', (_name, sequence) => {
    expect(codeOf(() => marshalBundle(bundle({ sequence })))).toBe('ERR_BUNDLE_MARSHAL');
  });

  it.each([
    ['absent', undefined, undefined],
    ['300', 300, 300],
    ['1.2 rounds up to 2 (GS-4)', 1.2, 2],
    ['2^53-1', Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  ])('BUNDLE-30 spiffe_refresh_hint %s', (_name, hint, expected) => {
    const parsed = doc(bundle(hint === undefined ? {} : { refreshHintSeconds: hint }));
    expect(parsed.spiffe_refresh_hint).toBe(expected);
  });

  it.each([
    ['Infinity', Number.POSITIVE_INFINITY],
    ['above 2^63-1', 2 ** 64],
  ])('BUNDLE-30 spiffe_refresh_hint %s cannot be published', (_name, hint) => {
    expect(codeOf(() => marshalBundle(bundle({ refreshHintSeconds: hint })))).toBe(
      'ERR_BUNDLE_MARSHAL',
    );
  });

  it.each([
    ['an empty kid', () => jwtAuthorityFromJwk('', keyA.jwk)],
    ['a kid with a lone surrogate', () => jwtAuthorityFromJwk('k\ud800', keyA.jwk)],
    [
      'a secp256k1 key',
      () =>
        jwtAuthorityFromJwk(
          'k',
          generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).publicKey.export({
            format: 'jwk',
          }),
        ),
    ],
  ])('BUNDLE-30 a jwt authority with %s cannot be published', (_name, authority) => {
    expect(codeOf(() => marshalBundle(bundle({ jwtAuthorities: [authority()] })))).toBe(
      'ERR_BUNDLE_MARSHAL',
    );
  });

  it('BUNDLE-30 an empty bundle is `{"keys":[]}` (BUNDLE-3)', () => {
    expect(marshalBundle(bundle()).toString()).toBe('{"keys":[]}');
  });

  it('BUNDLE-30 output is UTF-8 JSON, kids escaped by JSON rules', () => {
    const text = marshalBundle(bundle({ jwtAuthorities: [jwt(keyA, 'q"uote\\é😀')] })).toString(
      'utf8',
    );
    expect(parseBundle(text, ACME).jwtAuthorities.has('q"uote\\é😀')).toBe(true);
  });
});

describe('BUNDLE-32 deterministic serialisation', () => {
  it('BUNDLE-32 same content in a different input order gives the same bytes', () => {
    expect(marshalBundle(full('forward')).equals(marshalBundle(full('reverse')))).toBe(true);
  });

  it('BUNDLE-32 x509 entries first by notBefore then fingerprint, then jwt entries by kid', () => {
    const keys = doc(full('reverse')).keys;
    expect(keys.map((k) => k.use)).toEqual([
      ...Array<string>(5).fill('x509-svid'),
      ...Array<string>(4).fill('jwt-svid'),
    ]);
    const sameTime = [authorityOf(rootOld), authorityOf(rootSameTime)].sort((a, b) =>
      a.fingerprintSha256 < b.fingerprintSha256 ? -1 : 1,
    );
    expect(keys.slice(0, 5).map((k) => (k.x5c as string[])[0])).toEqual([
      ...sameTime.map((a) => a.der.toString('base64')),
      rootNew.der.toString('base64'),
      rootRsa.der.toString('base64'),
      rootEd.der.toString('base64'),
    ]);
    expect(keys.slice(5).map((k) => k.kid)).toEqual(['a-key', 'b-key', 'c-key', 'd-key']);
  });

  it('BUNDLE-32 marshalling twice gives equal bytes and an equal digest', () => {
    const a = marshalBundle(full());
    const b = marshalBundle(full());
    expect(a.equals(b)).toBe(true);
    expect(bundleDigest(a)).toBe(bundleDigest(b));
  });
});

describe('round trips', () => {
  it('BUNDLE-30 marshal → parse gives the same content, and marshal again the same bytes', () => {
    const original = full();
    const bytes = marshalBundle(original);
    const parsed = parseBundle(bytes, ACME);
    expect(parsed.skipped).toEqual([]);
    expect(parsed.notes).toEqual([]);
    expect(bundleContentEquals(parsed, original)).toBe(true);
    expect(marshalBundle(parsed).equals(bytes)).toBe(true);
  });

  it('the §4.8 example survives parse → marshal → parse', () => {
    const parsed = parseBundle(EXAMPLE_TEXT, ACME);
    const again = parseBundle(marshalBundle(parsed), ACME);
    expect(bundleContentEquals(parsed, again)).toBe(true);
    expect(JSON.parse(marshalBundle(parsed).toString())).toEqual(JSON.parse(EXAMPLE_TEXT));
  });

  it('BUNDLE-4 spiffe_sequence 18446744073709551615 parses losslessly; marshal refuses it (BUNDLE-30)', () => {
    const text = '{"spiffe_sequence":18446744073709551615,"keys":[]}';
    const parsed = parseBundle(text, ACME);
    expect(parsed.sequence).toBe(18446744073709551615n);
    expect(codeOf(() => marshalBundle(parsed))).toBe('ERR_BUNDLE_MARSHAL');
  });

  it('BUNDLE-4 spiffe_sequence 2^63-1 round-trips exactly', () => {
    const text = '{"spiffe_sequence":9223372036854775807,"keys":[]}';
    const parsed = parseBundle(text, ACME);
    expect(parsed.sequence).toBe(9223372036854775807n);
    expect(marshalBundle(parsed).toString()).toBe(text);
    expect(parseBundle(marshalBundle(parsed), ACME).sequence).toBe(9223372036854775807n);
  });
});

describe('bundleDigest', () => {
  it('is the lowercase hex SHA-256 of the bytes', () => {
    expect(bundleDigest(Buffer.from('abc'))).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
    expect(bundleDigest('abc')).toBe(bundleDigest(Buffer.from('abc')));
  });
});

describe('FED-32 bundleContentEquals', () => {
  it('FED-32 equal content regardless of authority order', () => {
    expect(bundleContentEquals(full('forward'), full('reverse'))).toBe(true);
  });

  it('FED-32 skipped entries and notes are not content', () => {
    const parsed = parseBundle(EXAMPLE_TEXT, ACME);
    const withSkips = parseBundle(
      EXAMPLE_TEXT.replace('"keys": [', '"keys": [{"kty":"XYZ"},'),
      ACME,
    );
    expect(withSkips.skipped).toHaveLength(1);
    expect(bundleContentEquals(parsed, withSkips)).toBe(true);
  });

  const x509 = (): BundleInit['x509Authorities'] => fullInit().x509Authorities ?? [];
  const jwts = (): JwtAuthority[] => [...(fullInit().jwtAuthorities ?? [])];
  it.each([
    ['another trust domain', () => variant({ trustDomain: parseTrustDomain('other.example') })],
    ['another sequence', () => variant({ sequence: 43n })],
    ['no sequence', () => variant({ sequence: undefined })],
    ['another refresh hint', () => variant({ refreshHintSeconds: 301 })],
    ['no refresh hint', () => variant({ refreshHintSeconds: undefined })],
    ['one X.509 authority fewer', () => variant({ x509Authorities: x509()?.slice(1) ?? [] })],
    [
      'another X.509 authority',
      () => variant({ x509Authorities: [...(x509()?.slice(1) ?? []), authorityOf(rootExtra)] }),
    ],
    ['one JWT authority fewer', () => variant({ jwtAuthorities: jwts().slice(1) })],
    [
      'a JWT key under another kid',
      () => variant({ jwtAuthorities: [jwt(keyA, 'z-key'), ...jwts().slice(1)] }),
    ],
    [
      'another JWT key under the same kid',
      () =>
        variant({ jwtAuthorities: [jwtAuthorityFromJwk('a-key', keyB.jwk), ...jwts().slice(1)] }),
    ],
  ])('FED-32 differs with %s', (_name, other) => {
    expect(bundleContentEquals(full(), other())).toBe(false);
    expect(bundleContentEquals(other(), full())).toBe(false);
  });
});
