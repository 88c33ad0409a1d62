// Differential test: the CA's EC CSR checks on the ecverify addon (src/ca/native-ecdsa.ts, inline and
// batched on the thread pool) against the node:crypto path they replace, on 3,000 seeded mutated
// CSRs over P-256, P-384 and P-521, uncompressed and compressed points, every hash the CA accepts:
// the same verdict and error code every time (proof of possession, X509-8), nothing stricter, nothing looser.
import { generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseCsr, readVerifiedCsr } from '../../src/ca/index.js';
import { isNativeCheckable, verifyThenSign } from '../../src/ca/csr.js';
import { bitString, name, oid, sequence, smallInteger, tlv } from '../../src/encoding/index.js';
import {
  loadEcdsaChecker,
  type EcdsaChecker,
  type EcdsaSigningKey,
} from '../../src/ca/native-ecdsa.js';
import { CaError } from '../../src/errors.js';
import { prng, type Rand } from '../helpers/prng.js';

const SEED = Number(process.env.DIFF_SEED ?? 0x20ec);
const ITERATIONS = 3000;

const { checker, reason } = loadEcdsaChecker();

const CURVES = [
  { curve: 'P-256', oid: '1.2.840.10045.3.1.7', bytes: 32, hashes: ['sha256', 'sha384', 'sha512'] },
  { curve: 'P-384', oid: '1.3.132.0.34', bytes: 48, hashes: ['sha384', 'sha256'] },
  { curve: 'P-521', oid: '1.3.132.0.35', bytes: 66, hashes: ['sha512'] },
] as const;
const SIG_OIDS: Record<string, string> = {
  sha256: '1.2.840.10045.4.3.2',
  sha384: '1.2.840.10045.4.3.3',
  sha512: '1.2.840.10045.4.3.4',
};

interface Base {
  readonly der: Buffer;
  /** Offsets of the EC point inside der (for point mutations). */
  readonly pointAt: number;
  readonly pointLength: number;
}

function ecPoint(publicKey: KeyObject, compressed: boolean): Buffer {
  const jwk = publicKey.export({ format: 'jwk' });
  const x = Buffer.from(jwk.x as string, 'base64url');
  const y = Buffer.from(jwk.y as string, 'base64url');
  if (!compressed) return Buffer.concat([Buffer.from([4]), x, y]);
  return Buffer.concat([Buffer.from([2 + ((y[y.length - 1] as number) & 1)]), x]);
}

/** A CSR with the point encoded as asked, signed by its key with `hash`. */
function makeCsr(
  curve: (typeof CURVES)[number],
  privateKey: KeyObject,
  publicKey: KeyObject,
  hash: string,
  compressed: boolean,
): Base {
  const point = ecPoint(publicKey, compressed);
  const spki = sequence(sequence(oid('1.2.840.10045.2.1'), oid(curve.oid)), bitString(point));
  const subject = name([['2.5.4.3', `ecverify ${curve.curve}`]]);
  const head = Buffer.concat([smallInteger(0), subject]);
  const info = sequence(head, spki, tlv(0xa0));
  const der = sequence(
    info,
    sequence(oid(SIG_OIDS[hash] as string)),
    bitString(sign(hash, info, privateKey)),
  );
  return { der, pointAt: der.indexOf(point), pointLength: point.length };
}

const BASES: Base[] = [];
for (const curve of CURVES) {
  for (let k = 0; k < 2; k++) {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: curve.curve });
    for (const hash of curve.hashes) {
      BASES.push(makeCsr(curve, privateKey, publicKey, hash, false));
      BASES.push(makeCsr(curve, privateKey, publicKey, hash, true));
    }
  }
}

function pick<T>(rand: Rand, items: readonly T[]): T {
  return items[Math.floor(rand() * items.length)] as T;
}

function mutate(rand: Rand): Buffer {
  const base = pick(rand, BASES);
  const der = Buffer.from(base.der);
  switch (Math.floor(rand() * 8)) {
    case 0:
    case 1:
      return der;
    case 2: {
      const at = Math.floor(rand() * der.length);
      der[at] = (der[at] as number) ^ (1 + Math.floor(rand() * 255));
      return der;
    }
    case 3: {
      // the signature: its last bytes (r, s) or its DER header
      const at = der.length - 1 - Math.floor(rand() * 24);
      der[at] = (der[at] as number) ^ (1 << Math.floor(rand() * 8));
      return der;
    }
    case 4: {
      // the point: off the curve, a wrong form byte, or another point's coordinates
      const at = base.pointAt + Math.floor(rand() * base.pointLength);
      der[at] = (der[at] as number) ^ (1 << Math.floor(rand() * 8));
      return der;
    }
    case 5:
      return der.subarray(0, Math.floor(rand() * der.length));
    case 6: {
      // the point's form byte swapped between compressed and uncompressed (length no longer fits)
      der[base.pointAt] = pick(rand, [2, 3, 4, 6, 7, 0]);
      return der;
    }
    default:
      return Buffer.concat([der, Buffer.alloc(1 + Math.floor(rand() * 3))]);
  }
}

type Verdict = 'accepted' | string;

async function verdictOf(promise: Promise<unknown>): Promise<Verdict> {
  try {
    await promise;
    return 'accepted';
  } catch (error) {
    if (error instanceof CaError) return error.code;
    throw error;
  }
}

describe.skipIf(checker === undefined)(
  'the ecverify addon against node:crypto (X509-8, differential)',
  () => {
    it(`gives node:crypto's verdict inline and batched on ${ITERATIONS} seeded mutated EC CSRs`, async () => {
      const rand = prng(SEED);
      const inputs = Array.from({ length: ITERATIONS }, () => mutate(rand));
      const node: Verdict[] = [];
      const inline: Verdict[] = [];
      for (const der of inputs) {
        node.push(await verdictOf(readVerifiedCsr(der)));
        inline.push(await verdictOf(readVerifiedCsr(der, { ecdsa: checker })));
      }
      // All at once: the checks are asked for in one turn and go to the thread pool in batches.
      const before = checker?.traffic() ?? { batches: 0, checks: 0 };
      const batched = await Promise.all(
        inputs.map((der) => verdictOf(readVerifiedCsr(der, { ecdsa: checker, busy: true }))),
      );
      const mismatches = inputs.flatMap((der, i) =>
        node[i] === inline[i] && node[i] === batched[i]
          ? []
          : [
              `seed ${SEED} #${i}: node ${node[i]}, inline ${inline[i]}, batched ${batched[i]}: ${der.toString('base64')}`,
            ],
      );
      expect(mismatches, `DIFF_SEED=${SEED}`).toEqual([]);
      const tally = new Map<string, number>();
      for (const v of node) tally.set(v, (tally.get(v) ?? 0) + 1);
      // The mutations reach every outcome: accepted, a bad signature, a bad key or a bad request.
      expect(tally.get('accepted') ?? 0).toBeGreaterThan(ITERATIONS / 10);
      expect(tally.get('ERR_CA_CSR_SIGNATURE') ?? 0).toBeGreaterThan(ITERATIONS / 20);
      expect(tally.get('ERR_CA_CSR_INVALID') ?? 0).toBeGreaterThan(ITERATIONS / 20);
      // Batched means batched: far fewer thread-pool work items than checks.
      const after = checker?.traffic() ?? { batches: 0, checks: 0 };
      const batches = after.batches - before.batches;
      const checks = after.checks - before.checks;
      expect(checks).toBeGreaterThan(ITERATIONS / 4);
      // Work items of 8 checks (flushed as they fill), not one per check.
      expect(batches).toBeGreaterThan(0);
      expect(batches * 8).toBeLessThanOrEqual(checks + 7);
    });

    it(`gives node:crypto's verdict when the check and the CA's signature share a work item, on ${ITERATIONS} seeded mutated EC CSRs (signed only if accepted)`, async () => {
      const rand = prng(SEED + 1);
      const inputs = Array.from({ length: ITERATIONS }, () => mutate(rand));
      const authority = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const key = checker?.signingKey(authority.privateKey);
      expect(key).toBeDefined();
      const node: Verdict[] = [];
      for (const der of inputs) node.push(await verdictOf(readVerifiedCsr(der)));
      const signed = await Promise.all(
        inputs.map(async (der, i): Promise<Verdict> => {
          const tbs = Buffer.from(`tbs of request ${i}`);
          const outcome = await verdictOf(
            (async () => {
              const csr = parseCsr(der);
              if (!isNativeCheckable(csr)) return readVerifiedCsr(der);
              const signature = await verifyThenSign(
                csr,
                checker as EcdsaChecker,
                key as EcdsaSigningKey,
                'sha256',
                tbs,
              );
              if (signature === undefined) throw new Error('the addon failed a batch');
              if (!verify('sha256', tbs, authority.publicKey, signature)) {
                throw new Error(`signature ${i} does not verify`);
              }
              return signature;
            })(),
          );
          return outcome;
        }),
      );
      const mismatches = inputs.flatMap((der, i) =>
        node[i] === signed[i]
          ? []
          : [
              `seed ${SEED + 1} #${i}: node ${node[i]}, signed ${signed[i]}: ${der.toString('base64')}`,
            ],
      );
      expect(mismatches, `DIFF_SEED=${SEED}`).toEqual([]);
      expect(signed.filter((v) => v === 'accepted').length).toBeGreaterThan(ITERATIONS / 10);
      expect(signed.filter((v) => v === 'ERR_CA_CSR_SIGNATURE').length).toBeGreaterThan(
        ITERATIONS / 20,
      );
    });

    it('makes a signing key only of an EC private key, once per key, and leaves the key object usable', () => {
      const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
      const ed = generateKeyPairSync('ed25519').privateKey;
      expect(checker?.signingKey(rsa)).toBeUndefined();
      expect(checker?.signingKey(ed)).toBeUndefined();
      const ec = generateKeyPairSync('ec', { namedCurve: 'P-521' }).privateKey;
      const first = checker?.signingKey(ec);
      expect(first).toBeDefined();
      // One handle per key, made once.
      expect(checker?.signingKey(ec)).toBe(first);
      // The key object itself is untouched: it still signs.
      expect(sign('sha512', Buffer.from('x'), ec).length).toBeGreaterThan(0);
    });

    it('refuses a point off the curve as an invalid key, as node:crypto does (not a bad signature)', async () => {
      const base = BASES[0] as Base;
      const der = Buffer.from(base.der);
      der[base.pointAt + base.pointLength - 1] =
        (der[base.pointAt + base.pointLength - 1] as number) ^ 1;
      for (const options of [{}, { ecdsa: checker }, { ecdsa: checker, busy: true }]) {
        await expect(readVerifiedCsr(der, options)).rejects.toMatchObject({
          code: 'ERR_CA_CSR_INVALID',
        });
      }
    });
  },
);

describe('loading the ecverify addon', () => {
  it('says why there is no checker when the addon is missing, and the CA falls back to node:crypto', () => {
    const missing = loadEcdsaChecker('/nonexistent/ecverify.node');
    expect(missing.checker).toBeUndefined();
    expect(missing.reason).toMatch(/not built/);
  });

  it.skipIf(process.platform !== 'linux')(
    'is built on Linux by npm ci (CI must not silently lose it)',
    () => {
      expect(reason).toBeUndefined();
      expect(checker).toBeDefined();
    },
  );

  it('refuses an addon that loads but fails its self-check', () => {
    // The peercred addon loads, but has no verify/verifyBatch.
    const wrong = loadEcdsaChecker(
      new URL('../../build/Release/peercred.node', import.meta.url).pathname,
    );
    expect(wrong.checker).toBeUndefined();
    expect(wrong.reason).toMatch(/not exported/);
  });
});
