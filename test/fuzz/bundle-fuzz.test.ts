// Seeded fuzzing of parseBundle and parseStrictJson: thousands of mutated bundles must each give a
// Bundle or a BundleError with a known code (never TypeError/RangeError), deterministically.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  Bundle,
  bundleContentEquals,
  jwtAuthorityFromJwk,
  marshalBundle,
  parseBundle,
  parseStrictJson,
} from '../../src/bundle/index.js';
import { BUNDLE_ERROR_CODES, BundleError } from '../../src/errors.js';
import { parseTrustDomain } from '../../src/spiffeid/index.js';
import { authorityOf, createCa, createJwtKey } from '../helpers/pki.js';

const CASES = 5000;
const SEED = 0x5eed_b0b;
const ACME = parseTrustDomain('acme.example');
const EXAMPLE_TEXT = readFileSync(
  new URL('../../src/bundle/spec-example-bundle.json', import.meta.url),
  'utf8',
);
const JSON_CODES = new Set([
  'ERR_BUNDLE_NOT_UTF8',
  'ERR_BUNDLE_JSON',
  'ERR_BUNDLE_DUPLICATE_MEMBER',
]);
const BUNDLE_CODES = new Set<string>(BUNDLE_ERROR_CODES);

/** mulberry32: a small, fast, seeded PRNG (deterministic across runs and platforms). */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rand = () => number;
const int = (rand: Rand, n: number): number => Math.floor(rand() * n);
function pick<T>(rand: Rand, items: readonly T[]): T {
  return items[int(rand, items.length)] as T;
}

const FRAGMENTS = [
  '{',
  '}',
  '[',
  ']',
  ',',
  ':',
  '"',
  '\\',
  '\\u',
  '\\ud800',
  '"\\ud800"',
  'null',
  'true',
  '-0',
  '01',
  '1e999',
  '-1',
  '18446744073709551616',
  '9'.repeat(400),
  '"d":"AQAB",',
  '"k":"c2VjcmV0",',
  '"kty":"oct",',
  '"use":"wit-svid",',
  '"kid":"",',
  '"x5c":[],',
  '"x5t":"AAAA",',
  '"__proto__":{"keys":[]},',
  '"keys":[],',
  '"spiffe_sequence":-1,',
  '"spiffe_refresh_hint":1.5,',
  '[1,]',
  '/* c */',
  '\u0000',
  '\ufeff',
  '\ud800',
  'é😀',
  '['.repeat(80) + ']'.repeat(80),
  '{"a":'.repeat(70) + '1' + '}'.repeat(70),
];

const VALUES: readonly unknown[] = [
  0,
  -1,
  1.5,
  '',
  'x',
  'AQAB',
  null,
  true,
  false,
  [],
  {},
  [1],
  ['AAAA'],
  { a: 1 },
];

const NUMBER_LITERALS = [
  '18446744073709551615',
  '18446744073709551616',
  '9223372036854775808',
  '-9223372036854775809',
  '1e400',
  '-0',
  '0.0000001',
  '9'.repeat(1000),
  '1E2',
];

/** Mutates a parsed JSON tree in place: member deletion, type swap, deep nesting. */
function mutateTree(rand: Rand, root: unknown): void {
  let node = root;
  for (let depth = 0; depth < 4; depth++) {
    const children =
      Array.isArray(node) || (typeof node === 'object' && node !== null)
        ? Object.values(node as object).filter((v) => typeof v === 'object' && v !== null)
        : [];
    if (children.length === 0 || rand() < 0.35) break;
    node = pick(rand, children);
  }
  if (typeof node !== 'object' || node === null) return;
  const record = node as Record<string, unknown>;
  const keys = Object.keys(record);
  const key = keys.length > 0 ? pick(rand, keys) : '0';
  switch (int(rand, 4)) {
    case 0:
      if (Array.isArray(node)) node.splice(Number(key), 1);
      else delete record[key];
      break;
    case 1:
      record[key] = structuredClone(pick(rand, VALUES));
      break;
    case 2: {
      let deep: unknown = 1;
      for (let i = 0; i < 40 + int(rand, 60); i++) deep = [deep];
      record[key] = deep;
      break;
    }
    default:
      if (Array.isArray(node) && node.length > 0) node.push(node[int(rand, node.length)]);
      else record[`${key}_`] = record[key];
  }
}

const MEMBERS = [
  '"d":"AQAB",',
  '"p":null,',
  '"k":"c2VjcmV0",',
  '"kty":"oct",',
  '"kty":"XYZ",',
  '"use":"wit-svid",',
  '"use":"JWT-SVID",',
  '"kid":"",',
  '"kid":"OaeHp488GZFo4XJU",',
  '"x5c":[],',
  '"x5t":"AAAA",',
  '"x5t#S256":null,',
  '"crv":"P-384",',
  '"e":"AQAA",',
  '"__proto__":{"keys":[]},',
  '"keys":7,',
  '"spiffe_sequence":-1,',
  '"spiffe_refresh_hint":1.5,',
];

function mutateText(rand: Rand, text: string): string {
  switch (int(rand, 7)) {
    case 6: {
      // Insert a member right after an opening brace (reaches entry-level and top-level rules).
      const braces = [...text.matchAll(/\{/g)];
      if (braces.length === 0) return text;
      const at = (pick(rand, braces).index ?? 0) + 1;
      return text.slice(0, at) + pick(rand, MEMBERS) + text.slice(at);
    }
    case 0: {
      // Insert a fragment.
      const at = int(rand, text.length + 1);
      return text.slice(0, at) + pick(rand, FRAGMENTS) + text.slice(at);
    }
    case 1:
      // Truncate.
      return text.slice(0, int(rand, text.length));
    case 2: {
      // Duplicate a member textually (JSON.stringify cannot produce duplicates).
      const matches = [...text.matchAll(/"[A-Za-z0-9_#]+"\s*:\s*("[^"]*"|-?\d+)/g)];
      if (matches.length === 0) return text;
      const match = pick(rand, matches);
      const objectStart = text.lastIndexOf('{', match.index);
      return `${text.slice(0, objectStart + 1)}${match[0]},${text.slice(objectStart + 1)}`;
    }
    case 3: {
      // Replace a number literal with a huge or non-integer one.
      const matches = [...text.matchAll(/-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g)];
      if (matches.length === 0) return text;
      const match = pick(rand, matches);
      return (
        text.slice(0, match.index) +
        pick(rand, NUMBER_LITERALS) +
        text.slice(match.index + match[0].length)
      );
    }
    case 4: {
      // Delete a slice.
      const at = int(rand, text.length);
      return text.slice(0, at) + text.slice(at + 1 + int(rand, 20));
    }
    default: {
      // Change the case of one letter (BUNDLE-7: names are case-sensitive).
      const at = int(rand, text.length);
      const c = text.charAt(at);
      const swapped = c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase();
      return text.slice(0, at) + swapped + text.slice(at + 1);
    }
  }
}

function mutateBytes(rand: Rand, bytes: Buffer): Buffer {
  const out = Buffer.from(bytes);
  const flips = 1 + int(rand, 4);
  for (let i = 0; i < flips && out.length > 0; i++) {
    const at = int(rand, out.length);
    out[at] = rand() < 0.5 ? (out[at] ?? 0) ^ (1 << int(rand, 8)) : int(rand, 256);
  }
  return out;
}

/** One fuzz input, derived only from the PRNG and the seed corpus. */
function makeInput(rand: Rand, corpus: readonly string[]): string | Buffer {
  const seed = pick(rand, corpus);
  let text = seed;
  const kind = int(rand, 3);
  if (kind === 0) {
    const tree: unknown = JSON.parse(seed);
    const rounds = 1 + int(rand, 3);
    for (let i = 0; i < rounds; i++) mutateTree(rand, tree);
    text = JSON.stringify(tree, null, rand() < 0.5 ? 0 : 2);
  }
  const rounds = kind === 0 ? int(rand, 2) : 1 + int(rand, 3);
  for (let i = 0; i < rounds; i++) text = mutateText(rand, text);
  if (rand() < 0.4) return mutateBytes(rand, Buffer.from(text, 'utf8'));
  return rand() < 0.5 ? Buffer.from(text, 'utf8') : text;
}

type Outcome = string;

/**
 * Runs one input through both parsers and returns a short outcome label, failing on any stray
 * error. With `roundTrip`, an accepted bundle must also survive marshal -> parse unchanged.
 */
function runCase(input: string | Buffer, roundTrip = true): Outcome {
  let jsonOutcome: string;
  try {
    parseStrictJson(input);
    jsonOutcome = 'json-ok';
  } catch (error) {
    if (!(error instanceof BundleError) || !JSON_CODES.has(error.code)) throw error;
    jsonOutcome = error.code;
  }
  let bundle: Bundle;
  try {
    bundle = parseBundle(input, ACME);
  } catch (error) {
    if (!(error instanceof BundleError) || !BUNDLE_CODES.has(error.code)) throw error;
    // A document the JSON layer refused cannot be a valid bundle, and vice versa for JSON codes.
    if (JSON_CODES.has(error.code) && jsonOutcome === 'json-ok') {
      throw new Error(`parseBundle gave ${error.code} for valid json`, { cause: error });
    }
    return error.code;
  }
  if (!(bundle instanceof Bundle)) throw new Error('parseBundle returned a non-bundle');
  if (jsonOutcome !== 'json-ok') throw new Error('parseBundle accepted invalid json');
  const label = `ok:${bundle.x509Authorities.length}x509:${bundle.jwtAuthorities.size}jwt:${bundle.skipped.length}skip`;
  if (!roundTrip) return label;
  // Whatever we accept, we can publish again (unless the sequence is beyond 2^63-1) losslessly.
  let bytes: Buffer;
  try {
    bytes = marshalBundle(bundle);
  } catch (error) {
    if (!(error instanceof BundleError) || error.code !== 'ERR_BUNDLE_MARSHAL') throw error;
    return 'ok-unpublishable';
  }
  if (!bundleContentEquals(parseBundle(bytes, ACME), bundle)) {
    throw new Error('marshal -> parse changed the content');
  }
  return label;
}

function runAll(corpus: readonly string[], cases: number): { outcomes: Outcome[]; digest: string } {
  const rand = prng(SEED);
  const outcomes: Outcome[] = [];
  for (let i = 0; i < cases; i++) {
    const input = makeInput(rand, corpus);
    try {
      // The round trip costs a second parse; checking one case in four keeps the run short.
      outcomes.push(runCase(input, i % 4 === 0));
    } catch (error) {
      const preview = Buffer.from(input).subarray(0, 300).toString('base64');
      throw new Error(`fuzz case ${i} failed (input base64 prefix ${preview})`, { cause: error });
    }
  }
  return { outcomes, digest: createHash('sha256').update(outcomes.join('\n')).digest('hex') };
}

const corpus: string[] = [EXAMPLE_TEXT];

beforeAll(async () => {
  const [caEc, caRsa, caEd, jwtEc, jwtRsa] = await Promise.all([
    createCa({ trustDomain: 'acme.example' }),
    createCa({ keyAlg: 'rsa-2048' }),
    createCa({ keyAlg: 'ed25519' }),
    createJwtKey('ES256', 'ec-key'),
    createJwtKey('RS256', 'rsa-key'),
  ]);
  const bundle = new Bundle({
    trustDomain: ACME,
    x509Authorities: [authorityOf(caEc), authorityOf(caRsa), authorityOf(caEd)],
    jwtAuthorities: [jwtEc, jwtRsa].map((k) => jwtAuthorityFromJwk(k.kid, k.jwk)),
    sequence: 12n,
    refreshHintSeconds: 60,
  });
  const compact = marshalBundle(bundle).toString('utf8');
  corpus.push(compact, JSON.stringify(JSON.parse(compact), null, 2));
});

describe('bundle fuzzing', () => {
  it(`${CASES} mutated bundles give a Bundle or a coded BundleError, never a stray error`, () => {
    const { outcomes } = runAll(corpus, CASES);
    expect(outcomes).toHaveLength(CASES);
    const kinds = new Set(outcomes.map((o) => (o.startsWith('ok') ? 'ok' : o)));
    // The mutations reach deep into the parser: successes and many distinct rejections.
    expect(kinds.has('ok')).toBe(true);
    for (const code of [
      'ERR_BUNDLE_JSON',
      'ERR_BUNDLE_NOT_UTF8',
      'ERR_BUNDLE_DUPLICATE_MEMBER',
      'ERR_BUNDLE_PRIVATE_KEY',
      'ERR_BUNDLE_SEQUENCE',
      'ERR_BUNDLE_KEYS_MISSING',
    ]) {
      expect(kinds).toContain(code);
    }
    expect(outcomes.some((o) => /skip$/.test(o) && !o.endsWith(':0skip'))).toBe(true);
  });

  it('is deterministic: the same seed gives the same outcomes', () => {
    expect(runAll(corpus, 300).digest).toBe(runAll(corpus, 300).digest);
  });

  it('handles inputs at the size limit and pathological shapes', () => {
    for (const input of [
      '['.repeat(1024 * 1024),
      '{"keys":' + '['.repeat(500_000),
      '"' + '\\u0041'.repeat(170_000) + '"',
      '{"keys":[' + '{},'.repeat(2000) + '{}]}',
      ' '.repeat(1024 * 1024 + 1),
      Buffer.alloc(1024 * 1024, 0xff),
    ]) {
      expect(() => runCase(input)).not.toThrow();
    }
  });
});
