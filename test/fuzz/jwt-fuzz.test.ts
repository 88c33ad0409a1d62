// Seeded fuzzing of validateJwtSvid (5,000 mutated JWT-SVIDs) and verifyX509Svid (bit-flipped DER):
// every call returns or throws an SvidError with a known code, never anything else. Deterministic.
import { sign as cryptoSign } from 'node:crypto';
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { SVID_ERROR_CODES, SvidError } from '../../src/errors.js';
import { validateJwtSvid, verifyX509Svid } from '../../src/svid/index.js';
import { bundleOf, createCa, createJwtKey, createLeaf, sourceOf } from '../helpers/pki.js';

const NOW = new Date(Date.UTC(2030, 0, 1));
const NOW_S = NOW.getTime() / 1000;
const TD = 'fuzz.example';
const KNOWN = new Set<string>(SVID_ERROR_CODES);

/** mulberry32: small, fast, seeded. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Outcome = { ok: true } | { ok: false; code: string };

function outcome(fn: () => unknown): Outcome {
  try {
    fn();
    return { ok: true };
  } catch (error) {
    if (error instanceof SvidError && KNOWN.has(error.code)) return { ok: false, code: error.code };
    throw error;
  }
}

const es256 = await createJwtKey('ES256', 'k1');
const rsa = await createJwtKey('RS256', 'k2');
const source = sourceOf(bundleOf(TD, [], [es256, rsa]));
const claims = { sub: `spiffe://${TD}/svc`, aud: ['api'], exp: NOW_S + 300, iat: NOW_S - 5 };
const valid = await new SignJWT(claims)
  .setProtectedHeader({ alg: 'ES256', kid: 'k1', typ: 'JWT' })
  .sign(es256.privateKey);

const b64 = (v: string | Buffer): string => Buffer.from(v).toString('base64url');
const CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/.% \u00e9\u0000';

function pick<T>(rand: () => number, items: readonly T[]): T {
  return items[Math.floor(rand() * items.length)] as T;
}

function randomValue(rand: () => number, depth = 0): unknown {
  const kind = Math.floor(rand() * (depth > 1 ? 6 : 8));
  switch (kind) {
    case 0:
      return null;
    case 1:
      return rand() < 0.5;
    case 2:
      return pick(rand, [0, -1, 1e308, 2 ** 53 + 1, NOW_S, NOW_S + 1e6, NOW_S - 1e6, 0.5]);
    case 3:
      return pick(rand, [
        '',
        'api',
        'JWT',
        'none',
        'ES256',
        `spiffe://${TD}`,
        `spiffe://${TD}/x`,
        'k1',
      ]);
    case 4:
      return pick(rand, ['RS256', 'PS512', 'HS256', 'EdDSA', 'JOSE', `spiffe://other.example/x`]);
    case 5:
      return 'x'.repeat(Math.floor(rand() * 40));
    case 6:
      return Array.from({ length: Math.floor(rand() * 3) }, () => randomValue(rand, depth + 1));
    default:
      return {
        [pick(rand, ['a', 'alg', '__proto__', 'constructor'])]: randomValue(rand, depth + 1),
      };
  }
}

const HEADER_NAMES = ['alg', 'kid', 'typ', 'crit', 'jwk', 'x5c', 'b64', '__proto__', 'toString'];
const CLAIM_NAMES = ['sub', 'aud', 'exp', 'nbf', 'iat', 'jti', '__proto__', 'hasOwnProperty'];

function mutateObject(rand: () => number, base: Record<string, unknown>, names: string[]): string {
  const obj: Record<string, unknown> = { ...base };
  const steps = 1 + Math.floor(rand() * 3);
  for (let s = 0; s < steps; s++) {
    const name = pick(rand, names);
    const op = rand();
    if (op < 0.6) obj[name] = randomValue(rand);
    else if (op < 0.8) delete obj[name];
    else obj[name] = base[name];
  }
  let text = JSON.stringify(obj);
  const raw = rand();
  if (raw < 0.1)
    text = text.replace('{', `{"${pick(rand, names)}":1,`); // duplicate member likely
  else if (raw < 0.2) text = text.slice(0, Math.floor(rand() * text.length));
  return text;
}

function sign(header: string, payload: string): string {
  const h = b64(header);
  const p = b64(payload);
  const sig = cryptoSign('sha256', Buffer.from(`${h}.${p}`), {
    key: es256.privateKey,
    dsaEncoding: 'ieee-p1363',
  });
  return `${h}.${p}.${b64(sig)}`;
}

function mutateToken(rand: () => number): string {
  const parts = valid.split('.');
  const op = Math.floor(rand() * 8);
  switch (op) {
    case 0: {
      // byte flips inside one part
      const i = Math.floor(rand() * 3);
      const chars = (parts[i] as string).split('');
      const flips = 1 + Math.floor(rand() * 3);
      for (let f = 0; f < flips && chars.length > 0; f++) {
        chars[Math.floor(rand() * chars.length)] = pick(rand, CHARS.split(''));
      }
      parts[i] = chars.join('');
      return parts.join('.');
    }
    case 1:
      return valid.slice(0, Math.floor(rand() * valid.length));
    case 2: {
      const at = Math.floor(rand() * valid.length);
      return valid.slice(0, at) + '.'.repeat(1 + Math.floor(rand() * 2)) + valid.slice(at);
    }
    case 3: {
      // header with type swaps, original signature
      const header = mutateObject(rand, { alg: 'ES256', kid: 'k1', typ: 'JWT' }, HEADER_NAMES);
      return [b64(header), parts[1], parts[2]].join('.');
    }
    case 4: {
      // payload with type swaps, re-signed so later rules are reached
      const payload = mutateObject(rand, claims, CLAIM_NAMES);
      return sign(JSON.stringify({ alg: 'ES256', kid: 'k1', typ: 'JWT' }), payload);
    }
    case 5: {
      // both re-encoded and re-signed
      const header = mutateObject(rand, { alg: 'ES256', kid: 'k1', typ: 'JWT' }, HEADER_NAMES);
      return sign(header, mutateObject(rand, claims, CLAIM_NAMES));
    }
    case 6: {
      // random bytes as a part
      const i = Math.floor(rand() * 3);
      parts[i] = b64(
        Buffer.from(
          Array.from({ length: Math.floor(rand() * 80) }, () => Math.floor(rand() * 256)),
        ),
      );
      return parts.join('.');
    }
    default: {
      // parts swapped or duplicated
      return [pick(rand, parts), pick(rand, parts), pick(rand, parts)].join('.');
    }
  }
}

describe('fuzz', () => {
  it('JWT-10..21: 5,000 mutated JWT-SVIDs only ever yield known SvidError codes', () => {
    const rand = prng(0x5eed);
    const seen = new Map<string, number>();
    for (let i = 0; i < 5000; i++) {
      const token = mutateToken(rand);
      const result = outcome(() => validateJwtSvid(token, source, { audience: 'api', now: NOW }));
      const key = result.ok ? 'accepted' : result.code;
      seen.set(key, (seen.get(key) ?? 0) + 1);
    }
    // The mutations reach deep into the rule list, not just the parser.
    expect(seen.size).toBeGreaterThanOrEqual(10);
    for (const code of [
      'ERR_SVID_JWT_MALFORMED',
      'ERR_SVID_JWT_ALG',
      'ERR_SVID_JWT_SIGNATURE',
      'ERR_SVID_JWT_SUB',
    ]) {
      expect(seen.get(code) ?? 0).toBeGreaterThan(0);
    }
  });

  it('X509-20..26: bit-flipped DER chains only ever yield known SvidError codes', async () => {
    const root = await createCa({ trustDomain: TD });
    const inter = await createCa({ issuer: root });
    const leaf = await createLeaf(inter, { dnsNames: ['svc.fuzz.example'] });
    const bundle = bundleOf(TD, [root]);
    const now = new Date();
    expect(verifyX509Svid([leaf.der, inter.der], bundle, { now }).spiffeId.toString()).toBe(
      `spiffe://${TD}/workload`,
    );
    const rand = prng(0xde7);
    const seen = new Set<string>();
    for (let i = 0; i < 1500; i++) {
      const target = rand() < 0.75 ? 0 : 1;
      const original = target === 0 ? leaf.der : inter.der;
      let der = Buffer.from(original);
      const op = rand();
      if (op < 0.7) {
        const flips = 1 + Math.floor(rand() * 3);
        for (let f = 0; f < flips; f++) {
          const at = Math.floor(rand() * der.length);
          der[at] = (der[at] as number) ^ (1 << Math.floor(rand() * 8));
        }
      } else if (op < 0.85) {
        der = der.subarray(0, Math.floor(rand() * der.length));
      } else {
        const at = Math.floor(rand() * der.length);
        der = Buffer.concat([
          der.subarray(0, at),
          Buffer.from([Math.floor(rand() * 256)]),
          der.subarray(at),
        ]);
      }
      const chain = target === 0 ? [der, inter.der] : [leaf.der, der];
      const result = outcome(() => verifyX509Svid(chain, bundle, { now }));
      // A changed certificate can never verify (its signature or structure breaks).
      if (result.ok) expect(der.equals(original)).toBe(true);
      seen.add(result.ok ? 'accepted' : result.code);
    }
    expect(seen.size).toBeGreaterThanOrEqual(3);
  });
});
