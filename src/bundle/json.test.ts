// Tests of the strict JSON parser: RFC 8259 grammar, UTF-8, duplicate members (BUNDLE-7),
// lossless numbers (BUNDLE-4), depth limit and prototype safety.
import { describe, expect, it } from 'vitest';
import { BundleError } from '../errors.js';
import {
  JsonNumber,
  isJsonArray,
  isJsonObject,
  jsonMemberNames,
  parseStrictJson,
  stringifyJsonValue,
  type JsonValue,
} from './index.js';

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(BundleError);
    return (error as BundleError).code;
  }
  return undefined;
}

/** Plain JS view of a parsed value (numbers as their raw text) for easy comparison. */
function plain(value: JsonValue): unknown {
  if (value instanceof JsonNumber) return `#${value.raw}`;
  if (isJsonArray(value)) return value.map(plain);
  if (isJsonObject(value)) {
    return Object.fromEntries(jsonMemberNames(value).map((k) => [k, plain(value[k] ?? null)]));
  }
  return value;
}

describe('parseStrictJson accepts RFC 8259 documents', () => {
  it.each([
    ['object', '{"a":1,"b":"x"}', { a: '#1', b: 'x' }],
    ['empty object', '{}', {}],
    ['empty array', '[]', []],
    ['nested', '{"a":[{"b":[null,true,false]}]}', { a: [{ b: [null, true, false] }] }],
    ['scalar top level (RFC 8259)', '"x"', 'x'],
    ['number top level', '-0', '#-0'],
    ['whitespace everywhere', ' \t\r\n{ "a" : [ 1 , 2 ] }\n ', { a: ['#1', '#2'] }],
    [
      'fraction and exponent',
      '[1.5,-2e10,3E+2,4e-3,0.0]',
      ['#1.5', '#-2e10', '#3E+2', '#4e-3', '#0.0'],
    ],
    ['escapes', '"\\"\\\\\\/\\b\\f\\n\\r\\t\\u0041\\u00e9"', '"\\/\b\f\n\r\tAé'],
    ['surrogate pair escape', '"\\ud83d\\ude00"', '😀'],
    ['raw non-ASCII text', '"héllo 😀"', 'héllo 😀'],
    ['same name in different objects', '[{"a":1},{"a":2}]', [{ a: '#1' }, { a: '#2' }]],
    ['names differing by case only (BUNDLE-7)', '{"a":1,"A":2}', { a: '#1', A: '#2' }],
  ])('%s', (_name, text, expected) => {
    expect(plain(parseStrictJson(text))).toEqual(expected);
    expect(plain(parseStrictJson(Buffer.from(text, 'utf8')))).toEqual(expected);
  });
});

describe('parseStrictJson rejects anything outside the grammar (ERR_BUNDLE_JSON)', () => {
  it.each([
    ['empty input', ''],
    ['only whitespace', '  \n'],
    ['trailing comma in object', '{"a":1,}'],
    ['trailing comma in array', '[1,]'],
    ['leading zero', '[01]'],
    ['plus sign', '[+1]'],
    ['bare decimal point', '[1.]'],
    ['leading decimal point', '[.5]'],
    ['empty exponent', '[1e]'],
    ['NaN', '[NaN]'],
    ['Infinity', '[Infinity]'],
    ['hex number', '[0x10]'],
    ['single quotes', "{'a':1}"],
    ['unquoted name', '{a:1}'],
    ['line comment', '{"a":1} // x'],
    ['block comment', '/* x */ {}'],
    ['raw control character', '"a\u0001b"'],
    ['raw newline in string', '"a\nb"'],
    ['invalid escape', '"\\x41"'],
    ['short unicode escape', '"\\u12"'],
    ['non-hex unicode escape', '"\\u12g4"'],
    ['unpaired high surrogate escape', '"\\ud83d"'],
    ['unpaired low surrogate escape', '"\\ude00"'],
    ['high surrogate followed by non-surrogate', '"\\ud83d\\u0041"'],
    ['unterminated string', '"abc'],
    ['unterminated object', '{"a":1'],
    ['unterminated array', '[1,2'],
    ['missing colon', '{"a" 1}'],
    ['missing value', '{"a":}'],
    ['two values', '{} {}'],
    ['capitalised literal', 'True'],
    ['truncated literal', 'nul'],
    ['byte order mark', '\ufeff{}'],
    ['vertical tab as whitespace', '\u000b{}'],
    ['non-breaking space as whitespace', '\u00a0{}'],
  ])('%s', (_name, text) => {
    expect(codeOf(() => parseStrictJson(text))).toBe('ERR_BUNDLE_JSON');
  });

  it('refuses a UTF-8 byte order mark on the bytes path too', () => {
    expect(codeOf(() => parseStrictJson(Buffer.from([0xef, 0xbb, 0xbf, 0x7b, 0x7d])))).toBe(
      'ERR_BUNDLE_JSON',
    );
  });
});

describe('parseStrictJson validates UTF-8 (ERR_BUNDLE_NOT_UTF8)', () => {
  it.each([
    ['invalid byte', [0x22, 0xff, 0x22]],
    ['truncated sequence', [0x22, 0xc3, 0x22]],
    ['overlong encoding of "/"', [0x22, 0xc0, 0xaf, 0x22]],
    ['encoded surrogate', [0x22, 0xed, 0xa0, 0x80, 0x22]],
    ['code point above U+10FFFF', [0x22, 0xf4, 0x90, 0x80, 0x80, 0x22]],
  ])('bytes: %s', (_name, bytes) => {
    expect(codeOf(() => parseStrictJson(Uint8Array.from(bytes)))).toBe('ERR_BUNDLE_NOT_UTF8');
  });

  it.each([
    ['lone high surrogate', '"a\ud83db"'],
    ['lone low surrogate', '"a\ude00b"'],
    ['high surrogate at end of string', '"\ud83d"'],
  ])('string: %s', (_name, text) => {
    expect(codeOf(() => parseStrictJson(text))).toBe('ERR_BUNDLE_NOT_UTF8');
  });
});

describe('BUNDLE-7 duplicate member names anywhere are refused', () => {
  it.each([
    ['top level', '{"keys":[],"keys":[]}'],
    ['nested object', '{"keys":[{"kty":"EC","kty":"EC"}]}'],
    ['deep inside an array', '[[[{"a":{"b":1,"b":1}}]]]'],
    ['names equal after unescaping', '{"kid":1,"k\\u0069d":2}'],
    ['__proto__ twice', '{"__proto__":1,"__proto__":2}'],
  ])('%s', (_name, text) => {
    expect(codeOf(() => parseStrictJson(text))).toBe('ERR_BUNDLE_DUPLICATE_MEMBER');
  });
});

describe('prototype safety', () => {
  it('keeps __proto__, constructor and toString as plain data members', () => {
    const value = parseStrictJson(
      '{"__proto__":{"polluted":true},"constructor":1,"toString":"x","hasOwnProperty":null}',
    );
    expect(isJsonObject(value)).toBe(true);
    if (!isJsonObject(value)) return;
    expect(Object.getPrototypeOf(value)).toBeNull();
    expect(jsonMemberNames(value)).toEqual([
      '__proto__',
      'constructor',
      'toString',
      'hasOwnProperty',
    ]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(value.polluted).toBeUndefined();
    expect(value.toString).toBe('x');
  });

  it('does not see inherited names as duplicates or as present', () => {
    const value = parseStrictJson('{"a":1}');
    if (!isJsonObject(value)) throw new Error('expected an object');
    expect(value.constructor).toBeUndefined();
    expect(value.valueOf).toBeUndefined();
  });
});

describe('nesting depth', () => {
  const nested = (depth: number): string => '['.repeat(depth) + ']'.repeat(depth);

  it('accepts 64 levels by default', () => {
    expect(isJsonArray(parseStrictJson(nested(64)))).toBe(true);
  });

  it.each([
    ['65 arrays', nested(65)],
    ['65 objects', '{"a":'.repeat(64) + '{}' + '}'.repeat(64)],
    ['100000 arrays (no stack overflow)', nested(100_000)],
  ])('refuses %s with ERR_BUNDLE_JSON', (_name, text) => {
    expect(codeOf(() => parseStrictJson(text))).toBe('ERR_BUNDLE_JSON');
  });

  it('honours maxDepth', () => {
    expect(codeOf(() => parseStrictJson('[[1]]', { maxDepth: 1 }))).toBe('ERR_BUNDLE_JSON');
    expect(isJsonArray(parseStrictJson('[1]', { maxDepth: 1 }))).toBe(true);
  });

  it('throws TypeError for a bad maxDepth or a bad input type (caller mistakes)', () => {
    expect(() => parseStrictJson('[]', { maxDepth: 0 })).toThrow(TypeError);
    expect(() => parseStrictJson(42 as unknown as string)).toThrow(TypeError);
  });
});

describe('BUNDLE-4 lossless numbers (JsonNumber)', () => {
  const num = (text: string): JsonNumber => {
    const value = parseStrictJson(text);
    if (!(value instanceof JsonNumber)) throw new Error('expected a number');
    return value;
  };

  it('keeps the raw literal of numbers beyond 2^53', () => {
    expect(num('18446744073709551615').raw).toBe('18446744073709551615');
    expect(num('18446744073709551615').toBigInt()).toBe(18446744073709551615n);
    expect(num('9007199254740993').toBigInt()).toBe(9007199254740993n);
  });

  it.each([
    ['7', true],
    ['-0', true],
    ['7.0', false],
    ['7e0', false],
    ['7E0', false],
  ])('%s is an integer literal: %s', (text, expected) => {
    expect(num(text).isIntegerLiteral).toBe(expected);
  });

  it.each([
    ['0', 0n, 10n, 0n],
    ['10', 0n, 10n, 10n],
    ['11', 0n, 10n, undefined],
    ['-1', 0n, 10n, undefined],
    ['-5', -5n, 5n, -5n],
    ['1.0', 0n, 10n, undefined],
    ['1e1', 0n, 100n, undefined],
    ['9'.repeat(100_000), 0n, (1n << 64n) - 1n, undefined],
  ])('toBigIntInRange(%s)', (text, min, max, expected) => {
    expect(num(text).toBigIntInRange(min, max)).toBe(expected);
  });

  it('toBigInt refuses a non-integer literal with TypeError', () => {
    expect(() => num('1.5').toBigInt()).toThrow(TypeError);
    expect(num('1.5').toNumber()).toBe(1.5);
  });

  it('serialises back as the raw literal', () => {
    expect(JSON.stringify({ n: num('1.50') })).toBe('{"n":"1.50"}');
    expect(String(num('-12e3'))).toBe('-12e3');
  });
});

describe('stringifyJsonValue', () => {
  it('BUNDLE-4: round-trips numbers exactly and keeps __proto__ an ordinary member', () => {
    const text =
      '{"spiffe_sequence":18446744073709551617,"x":[1.50,-0,2e400,null,true,"\\u2028é"],"__proto__":{"a":{}}}';
    const value = parseStrictJson(text);
    const again = stringifyJsonValue(value);
    expect(again).toContain('18446744073709551617');
    expect(again).toContain('1.50');
    expect(again).toContain('2e400');
    expect(stringifyJsonValue(parseStrictJson(again))).toBe(again);
    expect(JSON.parse(again)).toEqual(JSON.parse(text));
  });
});
