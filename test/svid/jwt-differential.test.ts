// Differential test: validateJwtSvid (hand-written JWS, JWT-10..24) against `jose` jwtVerify plus the
// JWT-SVID rules jose leaves to its caller, on 3,000 seeded mutated tokens. Same verdict, or one of a
// small allow-list of rule-cited cases where we are stricter (or the spec's boundary differs).
import { constants, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { SvidError } from '../../src/errors.js';
import { JWT_SVID_ALGORITHMS, validateJwtSvid } from '../../src/svid/index.js';
import { bundleOf, createJwtKey, sourceOf, type TestJwtKey } from '../helpers/pki.js';
import { prng, type Rand } from '../helpers/prng.js';

const SEED = Number(process.env.DIFF_SEED ?? 0x16d1ff);
const ITERATIONS = 3000;
const NOW = new Date(Date.UTC(2030, 0, 1));
const NOW_S = NOW.getTime() / 1000;
const LEEWAY = 30;
const TD = 'diff.example';
const OTHER_TD = 'other.example';
const AUDIENCE = 'api';

const k1 = await createJwtKey('ES256', 'k1');
const k2 = await createJwtKey('RS256', 'k2');
const k3 = await createJwtKey('ES256', 'k3');
const o1 = await createJwtKey('ES256', 'o1');
const bundles = [bundleOf(TD, [], [k1, k2, k3]), bundleOf(OTHER_TD, [], [o1])];
const source = sourceOf(...bundles);
const keysByKid = new Map([k1, k2, k3, o1].map((k) => [k.kid, k]));

type Verdict = { ok: true } | { ok: false; code: string };

// ---- the reference: jose plus the JWT-SVID rules that jose leaves to the application ----

/** SPIFFE ID with a non-empty path (ID rules, JWT-15), written independently of src/spiffeid. */
function isWorkloadSpiffeId(value: unknown): value is string {
  if (typeof value !== 'string' || value.length > 2048) return false;
  const m = /^spiffe:\/\/([a-z0-9._-]{1,255})((?:\/[A-Za-z0-9._-]+)+)$/.exec(value);
  if (m === null) return false;
  return (m[2] as string).split('/').every((s) => s !== '.' && s !== '..');
}

async function reference(token: string): Promise<Verdict> {
  let header: Record<string, unknown>;
  let claims: Record<string, unknown>;
  try {
    header = decodeProtectedHeader(token) as Record<string, unknown>;
    claims = decodeJwt(token) as Record<string, unknown>;
  } catch {
    return { ok: false, code: 'jose-decode' };
  }
  // JWT-12, JWT-13, JWT-14: typ exact, no crit, no header but alg, kid, typ.
  if ('typ' in header && header['typ'] !== 'JWT' && header['typ'] !== 'JOSE') {
    return { ok: false, code: 'JWT-12' };
  }
  if (Object.keys(header).some((h) => !['alg', 'kid', 'typ'].includes(h))) {
    return { ok: false, code: 'JWT-14' };
  }
  // JWT-15 / JWT-16: the keys are the jwt-svid authorities of sub's trust domain.
  const sub = claims['sub'];
  if (!isWorkloadSpiffeId(sub)) return { ok: false, code: 'JWT-15' };
  const bundle = bundles.find((b) => sub.startsWith(`spiffe://${b.trustDomain.name}/`));
  if (bundle === undefined) return { ok: false, code: 'JWT-16' };
  // JWT-19 on top of jose's intersection check: only strings, never empty.
  const aud = claims['aud'];
  const audList = typeof aud === 'string' ? [aud] : aud;
  if (
    !Array.isArray(audList) ||
    audList.length === 0 ||
    audList.some((a) => typeof a !== 'string' || a === '')
  ) {
    return { ok: false, code: 'JWT-19' };
  }
  // JWT-17: exactly the kid's key, or each key of the trust domain when there is no kid.
  const kid = header['kid'];
  const candidates =
    kid === undefined
      ? [...bundle.jwtAuthorities.values()]
      : [typeof kid === 'string' ? bundle.jwtAuthorities.get(kid) : undefined];
  let last = 'JWT-17';
  for (const candidate of candidates) {
    if (candidate === undefined) continue;
    try {
      await jwtVerify(token, candidate.publicKey, {
        algorithms: [...JWT_SVID_ALGORITHMS],
        audience: AUDIENCE,
        currentDate: NOW,
        clockTolerance: LEEWAY,
        requiredClaims: ['exp', 'sub', 'aud'],
      });
      return { ok: true };
    } catch (error) {
      last = (error as { code?: string }).code ?? 'jose-type-error';
    }
  }
  return { ok: false, code: last };
}

function ours(token: string): Verdict {
  try {
    validateJwtSvid(token, source, { audience: AUDIENCE, now: NOW, leewaySeconds: LEEWAY });
    return { ok: true };
  } catch (error) {
    if (error instanceof SvidError) return { ok: false, code: error.code };
    throw error;
  }
}

// ---- where we are stricter than jose (or the spec's boundary differs): rule-cited, checked on the input ----

/** Member names of a JSON object text at depth 1, duplicates kept (JSON.parse keeps only the last). */
function topLevelNames(text: string): string[] {
  const names: string[] = [];
  let depth = 0;
  let expectName = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (depth === 1 && expectName) names.push(text.slice(i, j + 1));
      expectName = false;
      i = j;
    } else if (c === '{' || c === '[') {
      depth += 1;
      expectName = c === '{' && depth === 1;
    } else if (c === '}' || c === ']') {
      depth -= 1;
    } else if (c === ',' && depth === 1) {
      expectName = true;
    }
  }
  return names;
}

function partBytes(token: string, i: number): Buffer {
  return Buffer.from(token.split('.')[i] ?? '', 'base64url');
}

function claimsOf(token: string): Record<string, unknown> {
  try {
    return JSON.parse(partBytes(token, 1).toString('utf8')) as Record<string, unknown>;
  } catch {
    return {};
  }
}

interface Stricter {
  readonly rule: string;
  readonly why: string;
  readonly ourCode: string;
  readonly applies: (token: string) => boolean;
}

/** The whole allow-list. Anything else that differs fails the test. */
const STRICTER: readonly Stricter[] = [
  {
    rule: 'JWT-10',
    why: 'a part that is not canonical unpadded base64url (padding, foreign characters, stray trailing bits); jose decodes leniently',
    ourCode: 'ERR_SVID_JWT_MALFORMED',
    applies: (token) =>
      token.split('.').some((p) => Buffer.from(p, 'base64url').toString('base64url') !== p),
  },
  {
    rule: 'JWT-10',
    why: 'duplicate JSON member names in header or payload (policy, as go-jose); JSON.parse keeps the last',
    ourCode: 'ERR_SVID_JWT_MALFORMED',
    applies: (token) =>
      [0, 1].some((i) => {
        const names = topLevelNames(partBytes(token, i).toString('utf8'));
        return new Set(names).size !== names.length;
      }),
  },
  {
    rule: 'JWT-10',
    why: 'header or payload bytes that are not UTF-8; jose decodes with replacement characters',
    ourCode: 'ERR_SVID_JWT_MALFORMED',
    applies: (token) =>
      [0, 1].some((i) => {
        try {
          new TextDecoder('utf-8', { fatal: true }).decode(partBytes(token, i));
          return false;
        } catch {
          return true;
        }
      }),
  },
  {
    rule: 'JWT-21',
    why: 'iat later than now + leeway (policy, as go-jose); jose checks iat only with maxTokenAge',
    ourCode: 'ERR_SVID_JWT_IAT_FUTURE',
    applies: (token) => {
      const iat = claimsOf(token)['iat'];
      return typeof iat === 'number' && iat > NOW_S + LEEWAY;
    },
  },
  {
    rule: 'JWT-20',
    why: 'exp that is not a finite number (1e400 parses to Infinity): never expires for jose, not numeric here',
    ourCode: 'ERR_SVID_JWT_EXP',
    applies: (token) => {
      const exp = claimsOf(token)['exp'];
      return typeof exp === 'number' && !Number.isFinite(exp);
    },
  },
  {
    rule: 'JWT-20',
    why: 'exp + leeway exactly now: the rule rejects only when now > exp + leeway; jose (RFC 7519 "before") rejects at equality',
    ourCode: 'accepted',
    applies: (token) => claimsOf(token)['exp'] === NOW_S - LEEWAY,
  },
];

// ---- the generator: a valid token, then a few seeded mutations ----

type Json = Record<string, unknown>;
const DELETE = Symbol('delete');

function pick<T>(rand: Rand, items: readonly T[]): T {
  return items[Math.floor(rand() * items.length)] as T;
}

function setOrDelete(obj: Json, name: string, value: unknown): void {
  if (value === DELETE) delete obj[name];
  else obj[name] = value;
}

const T = (offset: number): number => NOW_S + offset;

const HEADER_MUTATIONS: readonly ((h: Json, rand: Rand) => void)[] = [
  (h, r) =>
    setOrDelete(
      h,
      'alg',
      pick(r, ['ES256', 'ES384', 'RS256', 'PS256', 'none', 'HS256', 'EdDSA', 'es256', 7, DELETE]),
    ),
  (h, r) => setOrDelete(h, 'kid', pick(r, ['k1', 'k2', 'k3', 'o1', 'nope', '', 7, DELETE])),
  (h, r) => setOrDelete(h, 'typ', pick(r, ['JWT', 'JOSE', 'jwt', 'at+jwt', '', 1, DELETE])),
  (h, r) => {
    const [name, value] = pick(r, [
      ['crit', ['exp']],
      ['jwk', k1.jwk],
      ['b64', false],
      ['x5c', []],
      ['cty', 'JWT'],
      ['jku', 'https://x.example/jwks'],
    ] as const);
    h[name] = value;
  },
];

const CLAIM_MUTATIONS: readonly ((c: Json, rand: Rand) => void)[] = [
  (c, r) =>
    setOrDelete(
      c,
      'sub',
      pick(r, [
        `spiffe://${TD}/other`,
        `spiffe://${OTHER_TD}/svc`,
        'spiffe://unknown.example/svc',
        `spiffe://${TD}`,
        `spiffe://${TD}/`,
        'spiffe://Diff.example/svc',
        `spiffe://${TD}/a/../b`,
        `spiffe://${TD}/a//b`,
        `http://${TD}/svc`,
        42,
        DELETE,
      ]),
    ),
  (c, r) =>
    setOrDelete(
      c,
      'aud',
      pick(r, [
        'api',
        ['api'],
        ['x', 'api'],
        ['x'],
        [],
        [''],
        ['', 'api'],
        ['api', 3],
        'x',
        '',
        5,
        null,
        {},
        DELETE,
      ]),
    ),
  (c, r) =>
    setOrDelete(
      c,
      'exp',
      pick(r, [
        T(300),
        T(1),
        T(0),
        T(-1),
        T(-LEEWAY),
        T(-LEEWAY - 1),
        T(-LEEWAY + 1),
        T(-1000),
        T(0.5),
        String(T(300)),
        null,
        DELETE,
      ]),
    ),
  (c, r) =>
    setOrDelete(
      c,
      'nbf',
      pick(r, [T(-10), T(LEEWAY), T(LEEWAY + 1), T(LEEWAY - 1), T(1000), 'soon', DELETE]),
    ),
  (c, r) =>
    setOrDelete(
      c,
      'iat',
      pick(r, [T(-10), T(LEEWAY), T(LEEWAY + 1), T(LEEWAY - 1), T(1000), 'then', DELETE]),
    ),
  (c, r) => {
    c[pick(r, ['jti', 'iss', 'x-foreign'])] = pick(r, ['a', 1, { nested: [true] }]);
  },
];

/** JSON text of an object, sometimes with a raw-level change JSON.stringify cannot make. */
function jsonText(obj: Json, rand: Rand): Buffer {
  const text = JSON.stringify(obj);
  const raw = rand();
  if (raw < 0.04) return Buffer.from(text.replace('{', `{"${pick(rand, Object.keys(obj))}":1,`));
  if (raw < 0.06) return Buffer.from(` ${text}\n`);
  if (raw < 0.07) return Buffer.from(`[${text}]`);
  if (raw < 0.08)
    return Buffer.concat([Buffer.from(text.slice(0, -1)), Buffer.from(',"x":"\xff"}', 'latin1')]);
  if (raw < 0.09) return Buffer.from(text.replace(/"exp":[^,}]+/, '"exp":1e400'));
  return Buffer.from(text);
}

/** Signs with `key` under `alg` when the key fits it, otherwise under the key's own algorithm. */
function signWith(key: TestJwtKey, alg: unknown, data: Buffer): Buffer {
  const a = typeof alg === 'string' && alg.slice(0, 2) === key.alg.slice(0, 2) ? alg : key.alg;
  const hash = `sha${a.slice(2)}`;
  const privateKey: KeyObject = key.privateKey;
  if (a.startsWith('ES'))
    return cryptoSign(hash, data, { key: privateKey, dsaEncoding: 'ieee-p1363' });
  if (a.startsWith('PS')) {
    return cryptoSign(hash, data, {
      key: privateKey,
      padding: constants.RSA_PKCS1_PSS_PADDING,
      saltLength: constants.RSA_PSS_SALTLEN_DIGEST,
    });
  }
  return cryptoSign(hash, data, { key: privateKey, padding: constants.RSA_PKCS1_PADDING });
}

function tokenLevel(token: string, rand: Rand): string {
  const parts = token.split('.');
  const i = Math.floor(rand() * 3);
  const part = parts[i] as string;
  switch (Math.floor(rand() * 6)) {
    case 0: {
      const at = Math.floor(rand() * part.length);
      parts[i] =
        part.slice(0, at) +
        pick(rand, ['A', 'x', '-', '_', '+', '/', '=', ' ']) +
        part.slice(at + 1);
      break;
    }
    case 1:
      parts[i] = `${part}${pick(rand, ['=', '==', ' ', '\n'])}`;
      break;
    case 2: {
      // flip the low bits of the last character: same bytes for a lenient decoder
      const last = part.charCodeAt(part.length - 1);
      parts[i] = part.slice(0, -1) + String.fromCharCode(last ^ 1);
      break;
    }
    case 3:
      parts[2] = '';
      break;
    case 4:
      parts.push(part);
      break;
    default:
      return `${parts.slice(0, 2).join('.')}.${Buffer.alloc(64).toString('base64url')}`;
  }
  return parts.join('.');
}

function generate(rand: Rand): string {
  const header: Json = { alg: 'ES256', kid: 'k1', typ: 'JWT' };
  const claims: Json = { sub: `spiffe://${TD}/svc`, aud: AUDIENCE, exp: T(300), iat: T(-5) };
  if (rand() < 0.3) {
    // start from another valid key: RS256, a second ES256 key, or the other trust domain
    const key = pick(rand, [k2, k3, o1]);
    header['alg'] = key.alg;
    header['kid'] = key.kid;
    if (key === o1) claims['sub'] = `spiffe://${OTHER_TD}/svc`;
  }
  const steps = Math.floor(rand() * 4);
  for (let s = 0; s < steps; s++) {
    if (rand() < 0.4) pick(rand, HEADER_MUTATIONS)(header, rand);
    else pick(rand, CLAIM_MUTATIONS)(claims, rand);
  }
  const signingInput = `${jsonText(header, rand).toString('base64url')}.${jsonText(claims, rand).toString('base64url')}`;
  const signer =
    rand() < 0.1
      ? pick(rand, [k1, k2, k3, o1])
      : (keysByKid.get(String(header['kid'])) ??
        (String(claims['sub']).includes(OTHER_TD) ? o1 : k1));
  const token = `${signingInput}.${signWith(signer, header['alg'], Buffer.from(signingInput)).toString('base64url')}`;
  return rand() < 0.15 ? tokenLevel(token, rand) : token;
}

describe('JWT-SVID validation against jose (differential, JWT-10..21)', () => {
  it(`reaches jose's verdict on ${ITERATIONS} seeded mutated tokens, or a rule-cited stricter one`, async () => {
    const rand = prng(SEED);
    const tally = new Map<string, number>();
    const mismatches: string[] = [];
    for (let i = 0; i < ITERATIONS; i++) {
      const token = generate(rand);
      const a = ours(token);
      const b = await reference(token);
      let key = a.ok === b.ok ? (a.ok ? 'both accept' : 'both refuse') : '';
      if (key === '') {
        const ourCode = a.ok ? 'accepted' : a.code;
        const allowed = STRICTER.find((s) => s.ourCode === ourCode && s.applies(token));
        if (allowed === undefined) {
          mismatches.push(
            `seed ${SEED} iteration ${i}: ours ${ourCode}, jose ${b.ok ? 'accepted' : b.code}: ${token}`,
          );
          continue;
        }
        key = `${allowed.rule} ${ourCode}`;
      }
      tally.set(key, (tally.get(key) ?? 0) + 1);
    }
    if (process.env.DIFF_TALLY) console.log(Object.fromEntries(tally));
    expect(mismatches, `DIFF_SEED=${SEED}`).toEqual([]);
    // The mutations reach both verdicts often, not only the parser.
    expect(tally.get('both accept') ?? 0).toBeGreaterThan(ITERATIONS / 10);
    expect(tally.get('both refuse') ?? 0).toBeGreaterThan(ITERATIONS / 10);
  });
});
