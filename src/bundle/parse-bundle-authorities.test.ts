// Table-driven tests of the authorities parseBundle builds: unique jwt-svid kids (BUNDLE-16), x509-svid
// entries and their deduplication (BUNDLE-20..23), jwt-svid entries (BUNDLE-25/26).
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  EXAMPLE_JWT_KID,
  caNoBasicConstraints,
  caNotCa,
  caP256,
  caP384,
  caRsa,
  codeOf,
  ed25519Jwk,
  exampleJwt,
  exampleX509,
  jwtEntryOf,
  jwtKeys,
  leaf,
  noteReasons,
  parse,
  publicJwk,
  skipReasonOf,
  withKeys,
  x509EntryOf,
  type Entry,
} from '../../test/helpers/bundle-fixtures.js';
import { createCa } from '../../test/helpers/pki.js';

describe('BUNDLE-16 jwt-svid kids are unique', () => {
  it.each([
    ['two identical jwt-svid entries', () => [exampleJwt(), exampleJwt()]],
    ['same kid, different keys', () => [exampleJwt(), jwtEntryOf(EXAMPLE_JWT_KID, ed25519Jwk)]],
    [
      'same kid, the second entry would be skipped (bad key)',
      () => [exampleJwt(), { ...exampleJwt(), x: 'AA' }],
    ],
  ])('BUNDLE-16 rejects %s with ERR_BUNDLE_DUPLICATE_KID', (_name, keys) => {
    expect(codeOf(() => parse(withKeys(...keys())))).toBe('ERR_BUNDLE_DUPLICATE_KID');
  });

  it.each([
    [
      'an x509-svid entry with the same kid',
      () => [{ ...exampleX509(), kid: EXAMPLE_JWT_KID }, exampleJwt()],
    ],
    [
      'a kid differing only by case',
      () => [exampleJwt(), { ...exampleJwt(), kid: EXAMPLE_JWT_KID.toLowerCase() }],
    ],
    [
      'an unknown-use entry with the same kid',
      () => [{ ...exampleJwt(), use: 'sig' }, exampleJwt()],
    ],
    // BUNDLE-10/12/14: an entry of a key type we do not know is ignored whole, kid included.
    [
      'an unknown-kty entry with the same kid, before or after',
      () => [{ ...exampleJwt(), kty: 'XYZ' }, exampleJwt(), { ...exampleJwt(), kty: 'oct' }],
    ],
  ])('BUNDLE-16 accepts %s', (_name, keys) => {
    expect(parse(withKeys(...keys())).jwtAuthorities.has(EXAMPLE_JWT_KID)).toBe(true);
  });
});

describe('BUNDLE-20/21 x509-svid entries', () => {
  const x5c0 = (): string => String((exampleX509().x5c as string[])[0]);
  const withX5c = (x5c: unknown): Entry => ({ ...exampleX509(), x5c });

  it.each([
    ['BUNDLE-21 x5c missing', () => ({ ...exampleX509(), x5c: undefined }), 'x5c-missing'],
    ['BUNDLE-21 x5c empty', () => withX5c([]), 'x5c-missing'],
    ['BUNDLE-21 x5c a string, not an array', () => withX5c(x5c0()), 'x5c-missing'],
    ['BUNDLE-21 x5c null', () => withX5c(null), 'x5c-missing'],
    [
      'BUNDLE-20 x5c[0] in base64url',
      () => withX5c([Buffer.from(x5c0(), 'base64').toString('base64url')]),
      'x5c-invalid',
    ],
    ['BUNDLE-20 x5c[0] without padding', () => withX5c([x5c0().replace(/=+$/, '')]), 'x5c-invalid'],
    [
      'BUNDLE-20 x5c[0] with line breaks',
      () => withX5c([x5c0().replace(/(.{64})/g, '$1\n')]),
      'x5c-invalid',
    ],
    [
      'BUNDLE-20 x5c[0] as PEM',
      () => withX5c([`-----BEGIN CERTIFICATE-----\n${x5c0()}\n-----END CERTIFICATE-----`]),
      'x5c-invalid',
    ],
    ['BUNDLE-21 x5c[0] not a string', () => withX5c([1]), 'x5c-invalid'],
    ['BUNDLE-21 x5c[0] empty string', () => withX5c(['']), 'x5c-invalid'],
    [
      'BUNDLE-21 x5c[0] not a certificate',
      () => withX5c([Buffer.from('not a certificate at all').toString('base64')]),
      'x5c-invalid',
    ],
    [
      'BUNDLE-21 x5c[0] truncated certificate',
      () => withX5c([Buffer.from(x5c0(), 'base64').subarray(0, 300).toString('base64')]),
      'x5c-invalid',
    ],
    [
      'BUNDLE-21 x5c[0] with trailing bytes',
      () =>
        withX5c([
          Buffer.concat([Buffer.from(x5c0(), 'base64'), Buffer.from([0, 0])]).toString('base64'),
        ]),
      'x5c-invalid',
    ],
    ['BUNDLE-21 x5c[0] bad but x5c[1] good', () => withX5c(['AAAA', x5c0()]), 'x5c-invalid'],
  ])('ignores: %s', (_name, entry, reason) => {
    expect(skipReasonOf(entry())).toBe(reason);
  });

  it.each([
    ['BUNDLE-21 a leaf (cA false) with matching key', () => x509EntryOf(leaf), 'x5c-not-ca'],
    [
      'BUNDLE-21 a certificate without basicConstraints',
      () => x509EntryOf(caNoBasicConstraints),
      'x5c-not-ca',
    ],
    ['BUNDLE-21 basicConstraints with cA false', () => x509EntryOf(caNotCa), 'x5c-not-ca'],
    [
      'BUNDLE-21 JWK parameters of another key',
      () => ({ ...x509EntryOf(caP256), x: exampleX509().x, y: exampleX509().y }),
      'x5c-key-mismatch',
    ],
    [
      'BUNDLE-21 JWK of another key type (RSA params, EC certificate)',
      () => ({ ...x509EntryOf(caP256), kty: 'RSA', n: jwtKeys.RS256.n, e: jwtKeys.RS256.e }),
      'x5c-key-mismatch',
    ],
    [
      'BUNDLE-21 JWK of another curve (P-384 params, P-256 certificate)',
      () => ({ ...x509EntryOf(caP256), ...publicJwk(caP384) }),
      'x5c-key-mismatch',
    ],
    [
      'BUNDLE-20 key parameters missing',
      () => ({ use: 'x509-svid', kty: 'EC', x5c: [caP256.der.toString('base64')] }),
      'invalid-key',
    ],
  ])('ignores: %s', (_name, entry, reason) => {
    expect(skipReasonOf(entry())).toBe(reason);
  });

  it('BUNDLE-21 extra x5c elements are ignored even when they are not certificates', () => {
    const bundle = parse(withKeys(withX5c([x5c0(), 'not base64 at all', 7])));
    expect(bundle.x509Authorities).toHaveLength(1);
    expect(noteReasons(bundle)).toEqual(['x5c-extra-ignored']);
  });

  it('BUNDLE-20 a valid entry yields an authority with its DER, key and validity', () => {
    const bundle = parse(withKeys(x509EntryOf(caP384)));
    const authority = bundle.x509Authorities[0];
    expect(authority?.der.equals(caP384.der)).toBe(true);
    expect(authority?.publicKey.equals(caP384.nodePublicKey())).toBe(true);
    expect(authority?.fingerprintSha256).toBe(
      createHash('sha256').update(caP384.der).digest('hex'),
    );
  });

  it('BUNDLE-20 an x509-svid entry needs no SPIFFE URI SAN and may be an intermediate', async () => {
    const intermediate = await createCa({ issuer: caP256 });
    const bundle = parse(withKeys(x509EntryOf(intermediate)));
    expect(bundle.x509Authorities).toHaveLength(1);
  });
});

describe('BUNDLE-22/23 kid on x509 entries; authorities deduplicated', () => {
  it('BUNDLE-22 a kid of any type on an x509-svid entry is tolerated and noted', () => {
    const bundle = parse(withKeys({ ...exampleX509(), kid: 42 }));
    expect(bundle.x509Authorities).toHaveLength(1);
    expect(bundle.notes).toEqual([
      expect.objectContaining({ index: 0, reason: 'x509-kid-ignored' }),
    ]);
  });

  it('BUNDLE-23 the same certificate twice gives one authority', () => {
    const bundle = parse(withKeys(exampleX509(), { ...exampleX509(), alg: 'ES256' }));
    expect(bundle.x509Authorities).toHaveLength(1);
    expect(bundle.notes).toEqual([expect.objectContaining({ index: 1, reason: 'x509-duplicate' })]);
  });

  it('BUNDLE-23 the X.509 authorities are the x5c[0] of every accepted entry, in order', () => {
    const bundle = parse(withKeys(x509EntryOf(caP256), exampleJwt(), x509EntryOf(caRsa)));
    expect(bundle.x509Authorities.map((a) => a.der)).toEqual([caP256.der, caRsa.der]);
  });

  it('BUNDLE-23 no accepted x509-svid entry → no X.509 authorities', () => {
    expect(parse(withKeys(exampleJwt())).x509Authorities).toEqual([]);
  });
});

describe('BUNDLE-25/26 jwt-svid entries', () => {
  it.each([
    ['BUNDLE-26 kid missing', () => ({ ...exampleJwt(), kid: undefined })],
    ['BUNDLE-26 kid empty', () => ({ ...exampleJwt(), kid: '' })],
    ['BUNDLE-26 kid a number', () => ({ ...exampleJwt(), kid: 7 })],
    ['BUNDLE-26 kid null', () => ({ ...exampleJwt(), kid: null })],
  ])('ignores: %s', (_name, entry) => {
    expect(skipReasonOf(entry())).toBe('missing-kid');
  });

  it('BUNDLE-26 the JWT authorities are the map kid → public key', () => {
    const bundle = parse(
      withKeys(
        jwtEntryOf('a', jwtKeys.ES256),
        jwtEntryOf('b', jwtKeys.RS256),
        jwtEntryOf('c', ed25519Jwk),
      ),
    );
    expect([...bundle.jwtAuthorities.keys()]).toEqual(['a', 'b', 'c']);
    expect(bundle.jwtAuthorities.get('b')?.publicKey.asymmetricKeyType).toBe('rsa');
    expect(bundle.jwtAuthorities.get('a')?.jwk).toEqual(jwtKeys.ES256);
  });

  it('BUNDLE-25 an x5c on a jwt-svid entry is not needed and not checked', () => {
    const bundle = parse(withKeys({ ...exampleJwt(), x5c: ['garbage'] }));
    expect(bundle.jwtAuthorities.size).toBe(1);
  });

  it('BUNDLE-26 kids keep their exact spelling (unicode, spaces)', () => {
    const bundle = parse(withKeys(jwtEntryOf('clé 1 😀', jwtKeys.ES256)));
    expect(bundle.jwtAuthorities.has('clé 1 😀')).toBe(true);
  });
});
