// parseBundle against the SPIFFE-RULES §4.8 example bundle and its twelve variants (each naming the
// BUNDLE-* rule it exercises).
import { describe, expect, it } from 'vitest';
import {
  EXAMPLE_JWT_KID,
  EXAMPLE_TEXT,
  codeOf,
  example,
  exampleJwt,
  exampleX509,
  noteReasons,
  parse,
  reasons,
  type Doc,
} from '../../test/helpers/bundle-fixtures.js';

describe('§4.8 example bundle and its variants', () => {
  it('the example parses: one X.509 authority, one JWT authority, sequence 7, hint 300', () => {
    const bundle = parse(EXAMPLE_TEXT);
    expect(bundle.trustDomain.name).toBe('acme.example');
    expect(bundle.sequence).toBe(7n);
    expect(bundle.refreshHintSeconds).toBe(300);
    expect(bundle.x509Authorities).toHaveLength(1);
    expect(bundle.x509Authorities[0]?.certificate.ca).toBe(true);
    expect(bundle.x509Authorities[0]?.notAfter.getUTCFullYear()).toBe(2031);
    expect([...bundle.jwtAuthorities.keys()]).toEqual([EXAMPLE_JWT_KID]);
    expect(bundle.skipped).toEqual([]);
    expect(bundle.notes).toEqual([]);
  });

  it('`"keys": []` → valid; TD trusts nothing (BUNDLE-3)', () => {
    const bundle = parse({ ...example(), keys: [] });
    expect(bundle.isEmpty).toBe(true);
    expect(bundle.sequence).toBe(7n);
  });

  it('drop `keys` → document invalid (BUNDLE-3)', () => {
    const doc = example() as Doc;
    delete doc.keys;
    expect(codeOf(() => parse(doc))).toBe('ERR_BUNDLE_KEYS_MISSING');
  });

  it('add `"kid": "x"` to the x509 entry → entry accepted, kid ignored (BUNDLE-22)', () => {
    const doc = example();
    doc.keys[0] = { ...exampleX509(), kid: 'x' };
    const bundle = parse(doc);
    expect(bundle.x509Authorities).toHaveLength(1);
    expect(bundle.skipped).toEqual([]);
    expect(noteReasons(bundle)).toEqual(['x509-kid-ignored']);
    expect(bundle.jwtAuthorities.has('x')).toBe(false);
  });

  it('duplicate the `x5c` element (two certs) → entry uses the first cert (BUNDLE-21)', () => {
    const doc = example();
    const x5c = exampleX509().x5c as string[];
    doc.keys[0] = { ...exampleX509(), x5c: [x5c[0], x5c[0]] };
    const bundle = parse(doc);
    expect(bundle.x509Authorities).toHaveLength(1);
    expect(bundle.x509Authorities[0]?.der.toString('base64')).toBe(x5c[0]);
    expect(noteReasons(bundle)).toEqual(['x5c-extra-ignored']);
  });

  it('remove `x5c` from the x509 entry → entry ignored; TD has no X.509 authorities (BUNDLE-21/23)', () => {
    const doc = example();
    const entry = exampleX509();
    delete entry.x5c;
    doc.keys[0] = entry;
    const bundle = parse(doc);
    expect(bundle.x509Authorities).toEqual([]);
    expect(bundle.jwtAuthorities.size).toBe(1);
    expect(bundle.skipped).toEqual([expect.objectContaining({ index: 0, reason: 'x5c-missing' })]);
  });

  it('change `use` to `X509-SVID` → entry ignored (case-sensitive, BUNDLE-11)', () => {
    const doc = example();
    doc.keys[0] = { ...exampleX509(), use: 'X509-SVID' };
    const bundle = parse(doc);
    expect(bundle.x509Authorities).toEqual([]);
    expect(reasons(bundle)).toEqual(['unknown-use']);
  });

  it('remove `kid` from the jwt entry → entry ignored (BUNDLE-26)', () => {
    const doc = example();
    const entry = exampleJwt();
    delete entry.kid;
    doc.keys[1] = entry;
    const bundle = parse(doc);
    expect(bundle.jwtAuthorities.size).toBe(0);
    expect(bundle.x509Authorities).toHaveLength(1);
    expect(bundle.skipped).toEqual([expect.objectContaining({ index: 1, reason: 'missing-kid' })]);
  });

  it('add an entry `{"kty":"XYZ","use":"jwt-svid","kid":"k2"}` → that entry ignored, rest kept (BUNDLE-10/12)', () => {
    const doc = example();
    doc.keys.push({ kty: 'XYZ', use: 'jwt-svid', kid: 'k2' });
    const bundle = parse(doc);
    expect(bundle.x509Authorities).toHaveLength(1);
    expect([...bundle.jwtAuthorities.keys()]).toEqual([EXAMPLE_JWT_KID]);
    expect(bundle.skipped).toEqual([expect.objectContaining({ index: 2, reason: 'unknown-kty' })]);
  });

  it('add `"d": "..."` to the jwt entry → document rejected + alert (BUNDLE-14)', () => {
    const doc = example();
    doc.keys[1] = { ...exampleJwt(), d: 'bm90LWEtcmVhbC1rZXk' };
    expect(codeOf(() => parse(doc))).toBe('ERR_BUNDLE_PRIVATE_KEY');
  });

  it('`"spiffe_sequence": -1` or `"7"` → document invalid (BUNDLE-4)', () => {
    expect(codeOf(() => parse({ ...example(), spiffe_sequence: -1 }))).toBe('ERR_BUNDLE_SEQUENCE');
    expect(codeOf(() => parse({ ...example(), spiffe_sequence: '7' }))).toBe('ERR_BUNDLE_SEQUENCE');
  });

  it('`"spiffe_sequence": 18446744073709551615` → valid; no precision loss (BUNDLE-4)', () => {
    const text = EXAMPLE_TEXT.replace(
      '"spiffe_sequence": 7',
      '"spiffe_sequence": 18446744073709551615',
    );
    expect(text).not.toBe(EXAMPLE_TEXT);
    const bundle = parse(text);
    expect(bundle.sequence).toBe(18446744073709551615n);
    // JSON.parse would have rounded it to 2^64.
    expect(BigInt((JSON.parse(text) as { spiffe_sequence: number }).spiffe_sequence)).not.toBe(
      18446744073709551615n,
    );
  });

  it('swap `x`/`y` of the x509 entry → entry ignored: key does not match certificate (BUNDLE-21)', () => {
    const doc = example();
    const entry = exampleX509();
    doc.keys[0] = { ...entry, x: entry.y, y: entry.x };
    const bundle = parse(doc);
    expect(bundle.x509Authorities).toEqual([]);
    expect(reasons(bundle)).toEqual(['x5c-key-mismatch']);
  });
});
