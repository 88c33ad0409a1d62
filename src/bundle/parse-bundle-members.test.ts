// Table-driven tests of parseBundle's rules on JWK members: private members reject the whole document
// (BUNDLE-14); extra members are ignored and thumbprints must match x5c[0] (BUNDLE-15).
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  EXAMPLE_JWT_KID,
  b64u,
  codeOf,
  example,
  exampleJwt,
  exampleX509,
  parse,
  skipReasonOf,
  withKeys,
  type Entry,
} from '../../test/helpers/bundle-fixtures.js';
import { MAX_BUNDLE_KEYS } from './index.js';

describe('BUNDLE-14 private members reject the whole document', () => {
  const rsaJwt = (): Entry => ({ kty: 'RSA', use: 'jwt-svid', kid: 'r1', n: 'AQAB', e: 'AQAB' });
  const okpJwt = (): Entry => ({
    kty: 'OKP',
    use: 'jwt-svid',
    kid: 'o1',
    crv: 'Ed25519',
    x: 'AQAB',
  });
  const octJwt = (): Entry => ({ kty: 'oct', use: 'jwt-svid', kid: 's' });

  // BUNDLE-14: which members are private depends on the key type.
  it.each([
    ...['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth'].map((m) => ['RSA', m, rsaJwt] as const),
    ['EC', 'd', exampleJwt] as const,
    ['OKP', 'd', okpJwt] as const,
    ['oct', 'k', octJwt] as const,
  ])('BUNDLE-14 a %s entry carrying "%s" rejects the document', (_kty, member, entry) => {
    const doc = withKeys(exampleX509(), { ...entry(), [member]: 'AQAB' });
    expect(codeOf(() => parse(doc))).toBe('ERR_BUNDLE_PRIVATE_KEY');
  });

  // BUNDLE-14 (clarified): an entry of unknown kty is ignored whole before any member is judged;
  // a `k` or `d` there proves nothing (JB-6), and the other entries stay (BUNDLE-12).
  it.each([
    [
      'an unknown kty with "d"',
      { kty: 'XYZ', use: 'jwt-svid', kid: 'u', d: 'AQAB' },
      'unknown-kty',
    ],
    [
      'an unknown kty with "k"',
      { kty: 'PQC', use: 'jwt-svid', kid: 'u', k: 'c2VjcmV0' },
      'unknown-kty',
    ],
    [
      'a kty in the wrong case with "d"',
      { kty: 'ec', use: 'jwt-svid', kid: 'u', d: 'AQAB' },
      'unknown-kty',
    ],
    ['a non-string kty with "d"', { kty: 7, use: 'jwt-svid', kid: 'u', d: 'AQAB' }, 'unknown-kty'],
    ['no kty with "k"', { use: 'jwt-svid', kid: 'u', k: 'c2VjcmV0' }, 'missing-kty'],
  ])('BUNDLE-14 %s is ignored, not judged private', (_name, entry, reason) => {
    const bundle = parse(withKeys(exampleX509(), exampleJwt(), entry));
    expect(bundle.x509Authorities).toHaveLength(1);
    expect(bundle.jwtAuthorities.size).toBe(1);
    expect(bundle.skipped.map((s) => s.reason)).toEqual([reason]);
  });

  // Members private only for another key type are not a leak for this one (BUNDLE-15: ignored).
  it.each([
    ['EC', 'p', exampleJwt],
    ['EC', 'k', exampleJwt],
    ['OKP', 'qi', okpJwt],
    ['oct', 'd', octJwt],
  ] as const)('BUNDLE-14 a %s entry carrying "%s" is not judged private', (_kty, member, entry) => {
    const doc = withKeys(exampleX509(), { ...entry(), [member]: 'AQAB' });
    expect(codeOf(() => parse(doc))).not.toBe('ERR_BUNDLE_PRIVATE_KEY');
  });

  it.each([
    ['in an x509-svid entry', () => ({ ...exampleX509(), d: 'AQAB' })],
    ['in an oct entry ("k")', () => ({ kty: 'oct', use: 'jwt-svid', kid: 's', k: 'c2VjcmV0' })],
    ['in an entry without use', () => ({ ...exampleJwt(), use: undefined, d: 'AQAB' })],
    ['with a null value', () => ({ ...rsaJwt(), qi: null })],
    ['with an empty string value', () => ({ ...rsaJwt(), oth: '' })],
  ])('BUNDLE-14 private member %s', (_name, entry) => {
    expect(codeOf(() => parse(withKeys(entry())))).toBe('ERR_BUNDLE_PRIVATE_KEY');
  });

  it.each([
    ['a bad spiffe_sequence', { spiffe_sequence: 'x' }],
    ['a bad refresh hint', { spiffe_refresh_hint: 'x' }],
    ['a non-object entry', {}],
    ['a duplicate kid', {}],
  ])('BUNDLE-14 the private-key alert wins over %s', (name, extra) => {
    const keys: unknown[] = [{ ...exampleJwt(), d: 'AQAB' }];
    if (name === 'a non-object entry') keys.push(42);
    if (name === 'a duplicate kid') keys.push(exampleJwt());
    expect(codeOf(() => parse({ ...extra, keys }))).toBe('ERR_BUNDLE_PRIVATE_KEY');
  });

  it('BUNDLE-14 the alert wins over too many keys', () => {
    const keys: unknown[] = Array.from({ length: MAX_BUNDLE_KEYS + 1 }, () => ({}));
    keys.push({ kty: 'EC', d: 'AQAB' });
    expect(codeOf(() => parse({ keys }))).toBe('ERR_BUNDLE_PRIVATE_KEY');
  });

  it('BUNDLE-14 a private member at the top level is not an entry and is ignored (BUNDLE-6)', () => {
    expect(parse({ ...example(), d: 'x' }).jwtAuthorities.size).toBe(1);
  });

  it('BUNDLE-14 the error message does not echo the key material', () => {
    const secret = 'c2VjcmV0LWtleS1tYXRlcmlhbA';
    try {
      parse(withKeys({ ...exampleJwt(), d: secret }));
      expect.unreachable();
    } catch (error) {
      expect(String((error as Error).message)).not.toContain(secret);
    }
  });
});

describe('BUNDLE-15 extra members; thumbprints must match x5c[0]', () => {
  const der = (): Buffer => Buffer.from(String((exampleX509().x5c as string[])[0]), 'base64');
  const sha1 = (): string => createHash('sha1').update(der()).digest('base64url');
  const sha256 = (): string => createHash('sha256').update(der()).digest('base64url');

  it.each([
    [
      'alg, key_ops, ext and x5u are ignored',
      () => ({ alg: 'ES256', key_ops: ['verify'], ext: true, x5u: 'https://evil.example/x' }),
    ],
    ['a matching x5t', () => ({ x5t: sha1() })],
    ['a matching x5t#S256', () => ({ 'x5t#S256': sha256() })],
    ['both thumbprints matching', () => ({ x5t: sha1(), 'x5t#S256': sha256() })],
  ])('BUNDLE-15 accepts an x509-svid entry with %s', (_name, extra) => {
    const bundle = parse(withKeys({ ...exampleX509(), ...extra() }));
    expect(bundle.x509Authorities).toHaveLength(1);
    expect(bundle.skipped).toEqual([]);
  });

  it('BUNDLE-15 accepts a jwt-svid entry with alg and key_ops', () => {
    const bundle = parse(withKeys({ ...exampleJwt(), alg: 'RS256', key_ops: ['sign'] }));
    expect(bundle.jwtAuthorities.get(EXAMPLE_JWT_KID)?.jwk).not.toHaveProperty('alg');
  });

  it.each([
    ['x5t of another certificate', () => ({ x5t: b64u(Buffer.alloc(20, 1)) })],
    ['x5t#S256 of another certificate', () => ({ 'x5t#S256': b64u(Buffer.alloc(32, 1)) })],
    ['x5t holding the SHA-256 digest', () => ({ x5t: sha256() })],
    ['x5t in hex', () => ({ x5t: createHash('sha1').update(der()).digest('hex') })],
    ['x5t#S256 with padding', () => ({ 'x5t#S256': `${sha256()}=` })],
    ['x5t not a string', () => ({ x5t: 1 })],
    ['one good and one bad thumbprint', () => ({ x5t: sha1(), 'x5t#S256': sha1() })],
  ])('BUNDLE-15 ignores an x509-svid entry with %s', (_name, extra) => {
    expect(skipReasonOf({ ...exampleX509(), ...extra() })).toBe('thumbprint-mismatch');
  });
});
