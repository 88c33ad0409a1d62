// Table-driven tests of parseBundle's document-level rules: UTF-8 JSON and the given trust domain
// (BUNDLE-1), keys (BUNDLE-3), sequence and refresh hint (BUNDLE-4/5), other members and limits
// (BUNDLE-6/7), and the outcome of parsing (BUNDLE-27/28).
import { describe, expect, it } from 'vitest';
import {
  ACME,
  EXAMPLE_TEXT,
  codeOf,
  example,
  exampleJwt,
  parse,
  reasons,
  skipReasonOf,
  withKeys,
  type Doc,
} from '../../test/helpers/bundle-fixtures.js';
import { parseTrustDomain } from '../spiffeid/index.js';
import { MAX_BUNDLE_BYTES, MAX_BUNDLE_KEYS, parseBundle } from './index.js';

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
