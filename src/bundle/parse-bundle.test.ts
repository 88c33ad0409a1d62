// Table-driven tests of parseBundle against every BUNDLE-* parsing rule (BUNDLE-1..28) and the
// SPIFFE-RULES §4.8 example bundle with its twelve variants.
import { createHash, generateKeyPairSync, type JsonWebKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { createCa, createJwtKey, createLeaf, type TestCert } from '../../test/helpers/pki.js';
import { BundleError } from '../errors.js';
import { parseTrustDomain } from '../spiffeid/index.js';
import {
  MAX_BUNDLE_BYTES,
  MAX_BUNDLE_KEYS,
  SKIP_REASONS,
  parseBundle,
  type Bundle,
} from './index.js';

/** The §4.8 example, copied verbatim from SPIFFE-RULES.md. */
const EXAMPLE_TEXT = readFileSync(new URL('./spec-example-bundle.json', import.meta.url), 'utf8');
const ACME = parseTrustDomain('acme.example');
const EXAMPLE_JWT_KID = 'OaeHp488GZFo4XJU';

type Entry = Record<string, unknown>;
interface Doc extends Record<string, unknown> {
  keys?: unknown;
}

function example(): Doc & { keys: Entry[] } {
  return JSON.parse(EXAMPLE_TEXT) as Doc & { keys: Entry[] };
}
function exampleX509(): Entry {
  return example().keys[0] as Entry;
}
function exampleJwt(): Entry {
  return example().keys[1] as Entry;
}
function parse(doc: Doc | string | Uint8Array): Bundle {
  return parseBundle(
    typeof doc === 'string' || doc instanceof Uint8Array ? doc : JSON.stringify(doc),
    ACME,
  );
}
function withKeys(...keys: unknown[]): Doc {
  return { keys };
}
function codeOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(BundleError);
    return (error as BundleError).code;
  }
  return 'no error';
}
function reasons(bundle: Bundle): string[] {
  return bundle.skipped.map((s) => s.reason);
}
function noteReasons(bundle: Bundle): string[] {
  return bundle.notes.map((n) => n.reason);
}
/** The only entry of a one-entry document is skipped with this reason. */
function skipReasonOf(entry: Entry): string {
  const bundle = parse(withKeys(entry));
  expect(bundle.isEmpty).toBe(true);
  expect(bundle.skipped).toHaveLength(1);
  return bundle.skipped[0]?.reason ?? 'not skipped';
}

function publicJwk(cert: TestCert): JsonWebKey {
  return cert.nodePublicKey().export({ format: 'jwk' });
}
function x509EntryOf(cert: TestCert, extra: Entry = {}): Entry {
  return { use: 'x509-svid', ...publicJwk(cert), x5c: [cert.der.toString('base64')], ...extra };
}
function jwtEntryOf(kid: string, jwk: Entry | JsonWebKey, extra: Entry = {}): Entry {
  return { kid, use: 'jwt-svid', ...jwk, ...extra };
}
function b64u(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64url');
}

let caP256: TestCert;
let caP384: TestCert;
let caP521: TestCert;
let caRsa: TestCert;
let caEd25519: TestCert;
let caNoBasicConstraints: TestCert;
let caNotCa: TestCert;
let leaf: TestCert;
let jwtKeys: Record<'ES256' | 'ES384' | 'ES512' | 'RS256', JsonWebKey>;
const ed25519Jwk = generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' });
const rsa1024Jwk = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({
  format: 'jwk',
});

beforeAll(async () => {
  [caP256, caP384, caP521, caRsa, caEd25519, caNoBasicConstraints, caNotCa] = await Promise.all([
    createCa({ keyAlg: 'ec-p256', trustDomain: 'acme.example' }),
    createCa({ keyAlg: 'ec-p384', trustDomain: 'acme.example' }),
    createCa({ keyAlg: 'ec-p521', trustDomain: 'acme.example' }),
    createCa({ keyAlg: 'rsa-2048', trustDomain: 'acme.example' }),
    createCa({ keyAlg: 'ed25519', trustDomain: 'acme.example' }),
    createCa({ basicConstraints: false, trustDomain: 'acme.example' }),
    createCa({ notCa: true, trustDomain: 'acme.example' }),
  ]);
  leaf = await createLeaf(caP256);
  const keys = await Promise.all([
    createJwtKey('ES256'),
    createJwtKey('ES384'),
    createJwtKey('ES512'),
    createJwtKey('RS256'),
  ]);
  jwtKeys = {
    ES256: keys[0].jwk,
    ES384: keys[1].jwk,
    ES512: keys[2].jwk,
    RS256: keys[3].jwk,
  };
});

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

describe('BUNDLE-1 the document is UTF-8 JSON; the trust domain travels beside it', () => {
  it('BUNDLE-1 bytes and string input give the same content', () => {
    const fromBytes = parse(Buffer.from(EXAMPLE_TEXT, 'utf8'));
    const fromString = parse(EXAMPLE_TEXT);
    expect(fromBytes.sequence).toBe(fromString.sequence);
    expect(fromBytes.x509Authorities[0]?.fingerprintSha256).toBe(
      fromString.x509Authorities[0]?.fingerprintSha256,
    );
  });

  it('BUNDLE-1 / FED-26 the trust domain is the one given, whatever the body says', () => {
    const other = parseTrustDomain('evil.example');
    const bundle = parseBundle(
      JSON.stringify({ ...example(), trust_domain: 'acme.example' }),
      other,
    );
    expect(bundle.trustDomain.name).toBe('evil.example');
  });

  it.each([
    [
      'BUNDLE-1 invalid UTF-8 bytes',
      Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]),
      'ERR_BUNDLE_NOT_UTF8',
    ],
    ['BUNDLE-1 not JSON', 'keys: []', 'ERR_BUNDLE_JSON'],
    ['BUNDLE-1 truncated JSON', EXAMPLE_TEXT.slice(0, 200), 'ERR_BUNDLE_JSON'],
    ['BUNDLE-1 JSON with a trailing comma', '{"keys":[],}', 'ERR_BUNDLE_JSON'],
    ['BUNDLE-1 empty body', '', 'ERR_BUNDLE_JSON'],
    ['BUNDLE-28 top level is an array', '[]', 'ERR_BUNDLE_NOT_OBJECT'],
    ['BUNDLE-28 top level is a string', '"keys"', 'ERR_BUNDLE_NOT_OBJECT'],
    ['BUNDLE-28 top level is null', 'null', 'ERR_BUNDLE_NOT_OBJECT'],
    ['BUNDLE-28 top level is a number', '7', 'ERR_BUNDLE_NOT_OBJECT'],
  ])('rejects: %s', (_name, input, code) => {
    expect(codeOf(() => parse(input))).toBe(code);
  });

  it('throws TypeError for caller mistakes (wrong argument types)', () => {
    expect(() => parseBundle({} as unknown as string, ACME)).toThrow(TypeError);
    expect(() => parseBundle('{"keys":[]}', 'acme.example' as unknown as typeof ACME)).toThrow(
      TypeError,
    );
  });
});

describe('BUNDLE-3 keys', () => {
  it('BUNDLE-3 `keys: []` is a valid empty bundle', () => {
    expect(parse({ keys: [] }).isEmpty).toBe(true);
  });

  it.each([
    ['BUNDLE-3 keys missing', {}, 'ERR_BUNDLE_KEYS_MISSING'],
    ['BUNDLE-3 keys is an object', { keys: {} }, 'ERR_BUNDLE_KEYS_MISSING'],
    ['BUNDLE-3 keys is a string', { keys: '[]' }, 'ERR_BUNDLE_KEYS_MISSING'],
    ['BUNDLE-3 keys is null', { keys: null }, 'ERR_BUNDLE_KEYS_MISSING'],
    ['BUNDLE-28 a keys element is a number', { keys: [1] }, 'ERR_BUNDLE_KEY_NOT_OBJECT'],
    ['BUNDLE-28 a keys element is a string', { keys: ['{}'] }, 'ERR_BUNDLE_KEY_NOT_OBJECT'],
    ['BUNDLE-28 a keys element is null', { keys: [null] }, 'ERR_BUNDLE_KEY_NOT_OBJECT'],
    ['BUNDLE-28 a keys element is an array', { keys: [[]] }, 'ERR_BUNDLE_KEY_NOT_OBJECT'],
    [
      'BUNDLE-28 one bad element among good ones',
      { keys: [{ kty: 'XYZ' }, true] },
      'ERR_BUNDLE_KEY_NOT_OBJECT',
    ],
  ])('rejects: %s', (_name, doc, code) => {
    expect(codeOf(() => parse(doc))).toBe(code);
  });
});

describe('BUNDLE-4 spiffe_sequence', () => {
  it.each([
    ['absent', undefined, undefined],
    ['0', '0', 0n],
    ['7', '7', 7n],
    ['2^53+1 (beyond JSON.parse precision)', '9007199254740993', 9007199254740993n],
    ['2^63', '9223372036854775808', 9223372036854775808n],
    ['2^64-1', '18446744073709551615', 18446744073709551615n],
  ])('BUNDLE-4 accepts %s', (_name, literal, expected) => {
    const text = literal === undefined ? '{"keys":[]}' : `{"spiffe_sequence":${literal},"keys":[]}`;
    expect(parse(text).sequence).toBe(expected);
  });

  it.each([
    ['-1', '-1'],
    ['-0 (Go parses it as unsigned and fails)', '-0'],
    ['a string', '"7"'],
    ['a fraction', '7.5'],
    ['an integer value with a fraction', '7.0'],
    ['an exponent', '7e0'],
    ['2^64', '18446744073709551616'],
    ['a huge literal', '9'.repeat(5000)],
    ['null', 'null'],
    ['true', 'true'],
    ['an object', '{}'],
    ['an array', '[7]'],
  ])('BUNDLE-4 rejects %s with ERR_BUNDLE_SEQUENCE', (_name, literal) => {
    expect(codeOf(() => parse(`{"spiffe_sequence":${literal},"keys":[]}`))).toBe(
      'ERR_BUNDLE_SEQUENCE',
    );
  });
});

describe('BUNDLE-5 spiffe_refresh_hint', () => {
  it.each([
    ['absent', undefined, undefined],
    ['300', '300', 300],
    ['1', '1', 1],
    ['0 counts as absent', '0', undefined],
    ['negative counts as absent', '-5', undefined],
    ['-2^63 counts as absent', '-9223372036854775808', undefined],
    ['2^63-1 is clamped to 2^53-1', '9223372036854775807', Number.MAX_SAFE_INTEGER],
  ])('BUNDLE-5 accepts %s', (_name, literal, expected) => {
    const text =
      literal === undefined ? '{"keys":[]}' : `{"spiffe_refresh_hint":${literal},"keys":[]}`;
    expect(parse(text).refreshHintSeconds).toBe(expected);
  });

  it.each([
    ['a string', '"300"'],
    ['a fraction', '1.5'],
    ['an exponent', '3e2'],
    ['2^63 (beyond signed 64-bit)', '9223372036854775808'],
    ['below -2^63', '-9223372036854775809'],
    ['null', 'null'],
    ['false', 'false'],
    ['an object', '{"seconds":300}'],
  ])('BUNDLE-5 rejects %s with ERR_BUNDLE_REFRESH_HINT', (_name, literal) => {
    expect(codeOf(() => parse(`{"spiffe_refresh_hint":${literal},"keys":[]}`))).toBe(
      'ERR_BUNDLE_REFRESH_HINT',
    );
  });
});

describe('BUNDLE-6 other top-level members are ignored', () => {
  const inject = (member: string): string => EXAMPLE_TEXT.replace('{', `{${member},`);
  it.each([
    ['a string member', inject('"trust_domain":"other.example"')],
    ['an object member', inject('"extra":{"keys":"not this one"}')],
    ['a member named __proto__', inject('"__proto__":{"keys":[]}')],
    ['a member named constructor', inject('"constructor":null')],
  ])('BUNDLE-6 %s', (_name, text) => {
    const bundle = parse(text);
    expect(bundle.x509Authorities).toHaveLength(1);
    expect(bundle.jwtAuthorities.size).toBe(1);
  });
});

describe('BUNDLE-7 case-sensitive names, duplicates, size limits', () => {
  it.each([
    ['BUNDLE-7 "Keys" is not "keys"', '{"Keys":[]}', 'ERR_BUNDLE_KEYS_MISSING'],
    [
      'BUNDLE-7 duplicate top-level member',
      '{"keys":[],"spiffe_sequence":1,"spiffe_sequence":2}',
      'ERR_BUNDLE_DUPLICATE_MEMBER',
    ],
    ['BUNDLE-7 duplicate keys member', '{"keys":[],"keys":[]}', 'ERR_BUNDLE_DUPLICATE_MEMBER'],
    [
      'BUNDLE-7 duplicate member inside an entry',
      '{"keys":[{"kty":"EC","use":"jwt-svid","use":"x509-svid"}]}',
      'ERR_BUNDLE_DUPLICATE_MEMBER',
    ],
    [
      'BUNDLE-7 duplicate member in an ignored top-level member',
      '{"keys":[],"ext":{"a":1,"a":2}}',
      'ERR_BUNDLE_DUPLICATE_MEMBER',
    ],
  ])('rejects: %s', (_name, text, code) => {
    expect(codeOf(() => parse(text))).toBe(code);
  });

  it('BUNDLE-7 members of entries match case-sensitively ("Use", "KTY", "Kid" are unknown)', () => {
    expect(skipReasonOf({ ...exampleJwt(), use: undefined, Use: 'jwt-svid' })).toBe('missing-use');
    expect(skipReasonOf({ ...exampleJwt(), kty: undefined, KTY: 'EC' })).toBe('missing-kty');
    expect(skipReasonOf({ ...exampleJwt(), kid: undefined, Kid: 'k' })).toBe('missing-kid');
  });

  it('BUNDLE-7 "spiffe_Sequence" is an unknown member, not the sequence', () => {
    expect(parse('{"keys":[],"spiffe_Sequence":"x"}').sequence).toBeUndefined();
  });

  it('BUNDLE-7 accepts a document of exactly 1 MiB', () => {
    const padded = EXAMPLE_TEXT + ' '.repeat(MAX_BUNDLE_BYTES - Buffer.byteLength(EXAMPLE_TEXT));
    expect(Buffer.byteLength(padded)).toBe(MAX_BUNDLE_BYTES);
    expect(parse(padded).x509Authorities).toHaveLength(1);
  });

  it.each([
    ['1 MiB + 1 byte', EXAMPLE_TEXT + ' '.repeat(MAX_BUNDLE_BYTES + 1 - EXAMPLE_TEXT.length)],
    ['1 MiB + 1 byte as bytes', Buffer.alloc(MAX_BUNDLE_BYTES + 1, 0x20)],
    [
      'fewer code units than 1 MiB but more UTF-8 bytes',
      `{"keys":[],"x":"${'é'.repeat(600_000)}"}`,
    ],
    [
      'garbage larger than 1 MiB (size is checked before parsing)',
      'x'.repeat(2 * MAX_BUNDLE_BYTES),
    ],
  ])('BUNDLE-7 rejects %s with ERR_BUNDLE_TOO_LARGE', (_name, input) => {
    expect(codeOf(() => parse(input))).toBe('ERR_BUNDLE_TOO_LARGE');
  });

  it('BUNDLE-7 accepts 1000 keys and rejects 1001 with ERR_BUNDLE_TOO_MANY_KEYS', () => {
    const keys = (n: number): Doc => withKeys(...Array.from({ length: n }, () => ({})));
    const bundle = parse(keys(MAX_BUNDLE_KEYS));
    expect(bundle.skipped).toHaveLength(MAX_BUNDLE_KEYS);
    expect(codeOf(() => parse(keys(MAX_BUNDLE_KEYS + 1)))).toBe('ERR_BUNDLE_TOO_MANY_KEYS');
  });
});

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
      'BUNDLE-13 RSA modulus larger than 16384 bits',
      () => jwtEntryOf('r', { ...jwtKeys.RS256, n: b64u(Buffer.alloc(2049, 0xff)) }),
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

describe('BUNDLE-16 jwt-svid kids are unique', () => {
  it.each([
    ['two identical jwt-svid entries', () => [exampleJwt(), exampleJwt()]],
    ['same kid, different keys', () => [exampleJwt(), jwtEntryOf(EXAMPLE_JWT_KID, ed25519Jwk)]],
    [
      'same kid, the second entry would be skipped (bad key)',
      () => [exampleJwt(), { ...exampleJwt(), x: 'AA' }],
    ],
    [
      'same kid, the first entry would be skipped (unknown kty)',
      () => [{ ...exampleJwt(), kty: 'XYZ' }, exampleJwt()],
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

describe('BUNDLE-27/28 outcome of parsing', () => {
  it('BUNDLE-27 a document whose every entry is ignored is a successful, empty bundle', () => {
    const bundle = parse({
      spiffe_sequence: 9,
      keys: [{ kty: 'XYZ' }, { ...exampleJwt(), use: 'wit-svid' }, { kty: 'oct', use: 'jwt-svid' }],
    });
    expect(bundle.isEmpty).toBe(true);
    expect(bundle.sequence).toBe(9n);
    expect(reasons(bundle)).toEqual(['unknown-kty', 'use-wit-svid', 'kty-oct']);
  });

  it('BUNDLE-28 the parsed bundle is immutable', () => {
    const bundle = parse(EXAMPLE_TEXT);
    expect(Object.isFrozen(bundle)).toBe(true);
    expect(Object.isFrozen(bundle.skipped)).toBe(true);
    expect(Object.isFrozen(bundle.x509Authorities)).toBe(true);
  });

  it('BUNDLE-28 whole-document checks come in a fixed order (keys before sequence)', () => {
    expect(codeOf(() => parse({ spiffe_sequence: -1 }))).toBe('ERR_BUNDLE_KEYS_MISSING');
    expect(codeOf(() => parse({ spiffe_sequence: -1, keys: [1] }))).toBe(
      'ERR_BUNDLE_KEY_NOT_OBJECT',
    );
    expect(codeOf(() => parse({ spiffe_sequence: -1, spiffe_refresh_hint: 'x', keys: [] }))).toBe(
      'ERR_BUNDLE_SEQUENCE',
    );
    expect(
      codeOf(() => parse({ spiffe_refresh_hint: 'x', keys: [exampleJwt(), exampleJwt()] })),
    ).toBe('ERR_BUNDLE_REFRESH_HINT');
  });
});
