// Table-driven tests of parseBundle's per-entry rules: kty (BUNDLE-10), use (BUNDLE-11), one bad entry
// never invalidates the others (BUNDLE-12), and complete, well-formed key parameters (BUNDLE-13).
import { describe, expect, it } from 'vitest';
import {
  EXAMPLE_JWT_KID,
  b64u,
  caEd25519,
  caP256,
  caP384,
  caP521,
  caRsa,
  ed25519Jwk,
  exampleJwt,
  exampleX509,
  jwtEntryOf,
  jwtKeys,
  parse,
  rsa1024Jwk,
  skipReasonOf,
  withKeys,
  x509EntryOf,
  type Entry,
} from '../../test/helpers/bundle-fixtures.js';
import { SKIP_REASONS } from './index.js';

describe('BUNDLE-10 kty', () => {
  it.each([
    ['BUNDLE-10 kty missing', { use: 'jwt-svid', kid: 'k' }, 'missing-kty'],
    ['BUNDLE-10 unknown kty', { kty: 'XYZ', use: 'jwt-svid', kid: 'k' }, 'unknown-kty'],
    ['BUNDLE-10 kty is case-sensitive ("ec")', { ...exampleJwt(), kty: 'ec' }, 'unknown-kty'],
    ['BUNDLE-10 kty not a string', { ...exampleJwt(), kty: 1 }, 'unknown-kty'],
    ['BUNDLE-10 kty null', { ...exampleJwt(), kty: null }, 'unknown-kty'],
    [
      'BUNDLE-10 oct (symmetric) is never a bundle key',
      { kty: 'oct', use: 'jwt-svid', kid: 's' },
      'kty-oct',
    ],
    [
      'BUNDLE-10 OKP X25519 is not understood',
      { kty: 'OKP', crv: 'X25519', use: 'jwt-svid', kid: 'k', x: b64u(Buffer.alloc(32, 9)) },
      'invalid-key',
    ],
    [
      'BUNDLE-10 OKP Ed448 is not understood',
      { kty: 'OKP', crv: 'Ed448', use: 'jwt-svid', kid: 'k', x: b64u(Buffer.alloc(57, 9)) },
      'invalid-key',
    ],
  ])('ignores: %s', (_name, entry, reason) => {
    expect(skipReasonOf(entry)).toBe(reason);
  });

  it.each([
    ['EC P-256', 'ES256'],
    ['EC P-384', 'ES384'],
    ['EC P-521', 'ES512'],
    ['RSA 2048', 'RS256'],
  ] as const)('BUNDLE-10 accepts jwt-svid %s keys', (_name, alg) => {
    const bundle = parse(withKeys(jwtEntryOf('k1', jwtKeys[alg])));
    expect(bundle.skipped).toEqual([]);
    expect(bundle.jwtAuthorities.get('k1')?.jwk).toEqual(jwtKeys[alg]);
  });

  it('BUNDLE-10 accepts jwt-svid OKP Ed25519 keys', () => {
    const bundle = parse(withKeys(jwtEntryOf('ed', ed25519Jwk)));
    expect(bundle.jwtAuthorities.get('ed')?.publicKey.asymmetricKeyType).toBe('ed25519');
  });

  it.each([
    ['EC P-256', () => caP256],
    ['EC P-384', () => caP384],
    ['EC P-521', () => caP521],
    ['RSA 2048', () => caRsa],
    ['OKP Ed25519', () => caEd25519],
  ])('BUNDLE-10 accepts x509-svid %s CA certificates', (_name, ca) => {
    const bundle = parse(withKeys(x509EntryOf(ca())));
    expect(bundle.skipped).toEqual([]);
    expect(bundle.x509Authorities[0]?.der.equals(ca().der)).toBe(true);
  });
});

describe('BUNDLE-11 use', () => {
  it.each([
    ['BUNDLE-11 use missing', () => ({ ...exampleJwt(), use: undefined }), 'missing-use'],
    ['BUNDLE-11 use "sig" is unknown', () => ({ ...exampleJwt(), use: 'sig' }), 'unknown-use'],
    [
      'BUNDLE-11 use "JWT-SVID" (case-sensitive)',
      () => ({ ...exampleJwt(), use: 'JWT-SVID' }),
      'unknown-use',
    ],
    ['BUNDLE-11 use not a string', () => ({ ...exampleJwt(), use: ['jwt-svid'] }), 'unknown-use'],
    [
      'BUNDLE-11 use "wit-svid" (WIT-SVID not implemented)',
      () => ({ ...exampleJwt(), use: 'wit-svid' }),
      'use-wit-svid',
    ],
  ])('ignores: %s', (_name, entry, reason) => {
    expect(skipReasonOf(entry())).toBe(reason);
  });
});

describe('BUNDLE-12 ignoring one entry never invalidates the others', () => {
  it('BUNDLE-12 good entries around bad ones are all kept, with indexes of the bad ones', () => {
    const doc = withKeys(
      { kty: 'XYZ', use: 'jwt-svid', kid: 'a' },
      exampleX509(),
      { ...exampleJwt(), kid: 'b', use: 'unknown' },
      exampleJwt(),
      { kty: 'EC', use: 'x509-svid' },
    );
    const bundle = parse(doc);
    expect(bundle.x509Authorities).toHaveLength(1);
    expect([...bundle.jwtAuthorities.keys()]).toEqual([EXAMPLE_JWT_KID]);
    expect(bundle.skipped.map((s) => [s.index, s.reason])).toEqual([
      [0, 'unknown-kty'],
      [2, 'unknown-use'],
      [4, 'x5c-missing'],
    ]);
    for (const entry of bundle.skipped) {
      expect(SKIP_REASONS).toContain(entry.reason);
      expect(entry.detail.length).toBeGreaterThan(0);
    }
  });
});

describe('BUNDLE-13 key parameters must be complete and well-formed', () => {
  const ecJwt = (): Entry => exampleJwt();
  const flipLastChar = (text: string): string =>
    text.slice(0, -1) + (text.endsWith('8') ? '9' : text.endsWith('w') ? 'x' : 'A');
  it.each([
    ['BUNDLE-13 EC without crv', () => ({ ...ecJwt(), crv: undefined }), 'invalid-key'],
    [
      'BUNDLE-13 EC with an unsupported curve',
      () => ({ ...ecJwt(), crv: 'secp256k1' }),
      'invalid-key',
    ],
    [
      'BUNDLE-13 EC with crv of the wrong size (P-384)',
      () => ({ ...ecJwt(), crv: 'P-384' }),
      'invalid-key',
    ],
    ['BUNDLE-13 EC without x', () => ({ ...ecJwt(), x: undefined }), 'invalid-key'],
    ['BUNDLE-13 EC without y', () => ({ ...ecJwt(), y: undefined }), 'invalid-key'],
    ['BUNDLE-13 EC x not a string', () => ({ ...ecJwt(), x: 5 }), 'invalid-key'],
    [
      'BUNDLE-13 EC x one byte short',
      () => ({ ...ecJwt(), x: b64u(Buffer.alloc(31, 1)) }),
      'invalid-key',
    ],
    [
      'BUNDLE-13 EC y one byte long',
      () => ({ ...ecJwt(), y: b64u(Buffer.alloc(33, 1)) }),
      'invalid-key',
    ],
    [
      'BUNDLE-13 EC x with base64 padding',
      () => ({ ...ecJwt(), x: `${String(ecJwt().x)}=` }),
      'invalid-key',
    ],
    [
      'BUNDLE-13 EC y in the standard alphabet',
      () => ({ ...ecJwt(), y: String(ecJwt().y).replace('-', '+') }),
      'invalid-key',
    ],
    [
      'BUNDLE-13 EC x with non-zero padding bits',
      () => ({ ...ecJwt(), x: flipLastChar(String(ecJwt().x)) }),
      'invalid-key',
    ],
    [
      'BUNDLE-13 EC point not on the curve (x and y swapped)',
      () => ({ ...ecJwt(), x: ecJwt().y, y: ecJwt().x }),
      'invalid-key',
    ],
    [
      'BUNDLE-13 EC point (0,0)',
      () => ({ ...ecJwt(), x: b64u(Buffer.alloc(32)), y: b64u(Buffer.alloc(32)) }),
      'invalid-key',
    ],
    [
      'BUNDLE-13 RSA without e',
      () => jwtEntryOf('r', { ...jwtKeys.RS256, e: undefined }),
      'invalid-key',
    ],
    [
      'BUNDLE-13 RSA without n',
      () => jwtEntryOf('r', { ...jwtKeys.RS256, n: undefined }),
      'invalid-key',
    ],
    ['BUNDLE-13 RSA empty n', () => jwtEntryOf('r', { ...jwtKeys.RS256, n: '' }), 'invalid-key'],
    [
      'BUNDLE-13 RSA even exponent',
      () => jwtEntryOf('r', { ...jwtKeys.RS256, e: 'AQAA' }),
      'invalid-key',
    ],
    [
      'BUNDLE-13 RSA exponent 1',
      () => jwtEntryOf('r', { ...jwtKeys.RS256, e: 'AQ' }),
      'invalid-key',
    ],
    [
      'BUNDLE-13 RSA exponent above 2^31-1',
      () => jwtEntryOf('r', { ...jwtKeys.RS256, e: 'AQAAAAE' }),
      'invalid-key',
    ],
    ['BUNDLE-13 RSA modulus of 1024 bits is weak', () => jwtEntryOf('r', rsa1024Jwk), 'weak-key'],
    [
      'BUNDLE-13 RSA modulus larger than 8192 bits (policy: a 16,384-bit key costs ~2 ms a check)',
      () => jwtEntryOf('r', { ...jwtKeys.RS256, n: b64u(Buffer.alloc(1025, 0xff)) }),
      'invalid-key',
    ],
    [
      'BUNDLE-13 OKP Ed25519 x of 31 bytes',
      () => jwtEntryOf('o', { ...ed25519Jwk, x: b64u(Buffer.alloc(31, 1)) }),
      'invalid-key',
    ],
    [
      'BUNDLE-13 OKP without crv',
      () => jwtEntryOf('o', { ...ed25519Jwk, crv: undefined }),
      'invalid-key',
    ],
    [
      'BUNDLE-13 OKP without x',
      () => jwtEntryOf('o', { ...ed25519Jwk, x: undefined }),
      'invalid-key',
    ],
  ])('ignores: %s', (_name, entry, reason) => {
    expect(skipReasonOf(entry())).toBe(reason);
  });

  it('BUNDLE-13 an RSA modulus with a leading zero octet is accepted and made canonical', () => {
    const n = b64u(
      Buffer.concat([Buffer.alloc(1), Buffer.from(String(jwtKeys.RS256.n), 'base64url')]),
    );
    const bundle = parse(withKeys(jwtEntryOf('r', { ...jwtKeys.RS256, n })));
    expect(bundle.jwtAuthorities.get('r')?.jwk.n).toBe(jwtKeys.RS256.n);
  });

  it('BUNDLE-13 a weak RSA key is ignored for x509-svid entries as well as jwt-svid ones', () => {
    // A 1024-bit key cannot match any 2048-bit CA, but weakness is reported first.
    const entry = { ...x509EntryOf(caRsa), n: rsa1024Jwk.n, e: rsa1024Jwk.e };
    expect(skipReasonOf(entry)).toBe('weak-key');
  });
});
