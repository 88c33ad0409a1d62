// Differential test: our lean PKCS#10 reader (src/ca/csr.ts, readVerifiedCsr) against @peculiar/x509
// (Pkcs10CertificateRequest + verify) plus the CA's key policy (X509-8), on 2,000 seeded mutated CSRs.
// Same verdict, or a rule-cited case where we are stricter, checked on the input.
import { createPublicKey, webcrypto } from 'node:crypto';
import '../helpers/reflect-shim.js';
import * as x509 from '@peculiar/x509';
import { describe, expect, it } from 'vitest';
import { readVerifiedCsr } from '../../src/ca/index.js';
import { CaError } from '../../src/errors.js';
import { childrenOf, isStrictDer, tlvAt } from '../helpers/der-tlv.js';
import { prng, type Rand } from '../helpers/prng.js';

const SEED = Number(process.env.DIFF_SEED ?? 0x16c5a);
const ITERATIONS = 2000;

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
type Algorithm = webcrypto.Algorithm;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
type EcdsaParams = webcrypto.EcdsaParams;
type EcKeyGenParams = webcrypto.EcKeyGenParams;
type RsaHashedKeyGenParams = webcrypto.RsaHashedKeyGenParams;
type RsaPssParams = webcrypto.RsaPssParams;

type Verdict = { ok: true } | { ok: false; code: string };

interface Variant {
  readonly name: string;
  readonly gen: RsaHashedKeyGenParams | EcKeyGenParams | Algorithm;
  readonly sign: Algorithm | EcdsaParams | RsaPssParams;
}

const rsa = (bits: number, hash = 'SHA-256'): RsaHashedKeyGenParams => ({
  name: 'RSASSA-PKCS1-v1_5',
  modulusLength: bits,
  publicExponent: new Uint8Array([1, 0, 1]),
  hash,
});

const VARIANTS: readonly Variant[] = [
  {
    name: 'p256',
    gen: { name: 'ECDSA', namedCurve: 'P-256' } as EcKeyGenParams,
    sign: { name: 'ECDSA', hash: 'SHA-256' } as EcdsaParams,
  },
  {
    name: 'p256-sha384',
    gen: { name: 'ECDSA', namedCurve: 'P-256' } as EcKeyGenParams,
    sign: { name: 'ECDSA', hash: 'SHA-384' } as EcdsaParams,
  },
  {
    name: 'p384',
    gen: { name: 'ECDSA', namedCurve: 'P-384' } as EcKeyGenParams,
    sign: { name: 'ECDSA', hash: 'SHA-384' } as EcdsaParams,
  },
  {
    name: 'p521',
    gen: { name: 'ECDSA', namedCurve: 'P-521' } as EcKeyGenParams,
    sign: { name: 'ECDSA', hash: 'SHA-512' } as EcdsaParams,
  },
  {
    name: 'p256-sha1',
    gen: { name: 'ECDSA', namedCurve: 'P-256' } as EcKeyGenParams,
    sign: { name: 'ECDSA', hash: 'SHA-1' } as EcdsaParams,
  },
  { name: 'rsa2048', gen: rsa(2048), sign: { name: 'RSASSA-PKCS1-v1_5' } },
  { name: 'rsa2048-sha512', gen: rsa(2048, 'SHA-512'), sign: { name: 'RSASSA-PKCS1-v1_5' } },
  { name: 'rsa1024', gen: rsa(1024), sign: { name: 'RSASSA-PKCS1-v1_5' } },
  { name: 'rsa2048-sha1', gen: rsa(2048, 'SHA-1'), sign: { name: 'RSASSA-PKCS1-v1_5' } },
  {
    name: 'rsa-pss',
    gen: { ...rsa(2048), name: 'RSA-PSS' },
    sign: { name: 'RSA-PSS', saltLength: 32 } as RsaPssParams,
  },
  { name: 'ed25519', gen: { name: 'Ed25519' }, sign: { name: 'Ed25519' } },
];

const BASES: Buffer[] = [];
for (const v of VARIANTS) {
  const keys = (await webcrypto.subtle.generateKey(v.gen as EcKeyGenParams, true, [
    'sign',
    'verify',
  ])) as CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: `CN=${v.name}`,
    keys,
    signingAlgorithm: v.sign,
  });
  BASES.push(Buffer.from(csr.rawData));
}

// ---- the reference: @peculiar/x509 plus the key policy of X509-8 (what the CA issues for) ----

const CURVES = new Set(['prime256v1', 'secp384r1', 'secp521r1']);
const HASHES = new Set(['SHA-256', 'SHA-384', 'SHA-512']);

async function reference(der: Buffer): Promise<Verdict> {
  try {
    const csr = new x509.Pkcs10CertificateRequest(der);
    const key = createPublicKey({
      key: Buffer.from(csr.publicKey.rawData),
      format: 'der',
      type: 'spki',
    });
    const details = key.asymmetricKeyDetails ?? {};
    const alg = csr.signatureAlgorithm as { name: string; hash?: { name: string } };
    const hash = alg.hash?.name ?? '';
    const fits =
      (key.asymmetricKeyType === 'ec' &&
        CURVES.has(details.namedCurve ?? '') &&
        alg.name === 'ECDSA' &&
        HASHES.has(hash)) ||
      (key.asymmetricKeyType === 'rsa' &&
        (details.modulusLength ?? 0) >= 2048 &&
        (details.modulusLength ?? 0) <= 8192 &&
        alg.name === 'RSASSA-PKCS1-v1_5' &&
        HASHES.has(hash)) ||
      (key.asymmetricKeyType === 'ed25519' && alg.name === 'Ed25519');
    if (!fits) return { ok: false, code: 'X509-8' };
    return (await csr.verify()) ? { ok: true } : { ok: false, code: 'signature' };
  } catch (error) {
    return { ok: false, code: `peculiar ${(error as Error).name}` };
  }
}

async function ours(der: Buffer): Promise<Verdict> {
  try {
    await readVerifiedCsr(der);
    return { ok: true };
  } catch (error) {
    if (error instanceof CaError) return { ok: false, code: error.code };
    throw error;
  }
}

// ---- where we are stricter: checked on the input ----

interface Stricter {
  readonly rule: string;
  readonly why: string;
  readonly ourCode: string;
  readonly applies: (der: Buffer) => boolean;
}

/** signatureAlgorithm AlgorithmIdentifier of a CertificationRequest: [oid, params?]. */
function algorithmParts(der: Buffer): { oid: string; params: Buffer | undefined } | undefined {
  const outer = tlvAt(der, 0);
  const parts = outer && childrenOf(der, outer);
  const alg = parts?.[1];
  const inner = alg && childrenOf(der, alg);
  if (inner?.[0] === undefined) return undefined;
  const params = inner[1];
  return {
    oid: der.subarray(inner[0].contentStart, inner[0].end).toString('hex'),
    params: params && der.subarray(params.start, params.end),
  };
}

const STRICTER: readonly Stricter[] = [
  {
    rule: 'RFC 2986 §4 / X.690 DER',
    why: 'BER (long-form or non-minimal lengths) or bytes after the request; asn1js reads BER and stops at the first TLV',
    ourCode: 'ERR_CA_CSR_INVALID',
    applies: (der) => !isStrictDer(der),
  },
  {
    rule: 'RFC 5758 §3.2',
    why: 'ECDSA signatureAlgorithm with parameters (they MUST be absent); @peculiar ignores them',
    ourCode: 'ERR_CA_CSR_INVALID',
    applies: (der) => {
      const parts = algorithmParts(der);
      return (
        parts !== undefined && parts.oid.startsWith('2a8648ce3d0403') && parts.params !== undefined
      );
    },
  },
];

// ---- mutations ----

function pick<T>(rand: Rand, items: readonly T[]): T {
  return items[Math.floor(rand() * items.length)] as T;
}

const ALG_IDS = [
  '300a06082a8648ce3d040302', // ecdsa-with-SHA256
  '300a06082a8648ce3d040303', // ecdsa-with-SHA384
  '300c06082a8648ce3d0403020500', // ecdsa-with-SHA256 with NULL parameters
  '300d06092a864886f70d01010b0500', // sha256WithRSAEncryption
  '300b06092a864886f70d01010b', // sha256WithRSAEncryption without NULL
  '300d06092a864886f70d0101050500', // sha1WithRSAEncryption
  '300506032b6570', // Ed25519
];

/** Re-encodes a TLV header of the outer SEQUENCE with a longer length form (BER, not DER). */
function longFormOuter(der: Buffer): Buffer {
  const outer = tlvAt(der, 0);
  if (outer === undefined) return der;
  const length = outer.end - outer.contentStart;
  const len = Buffer.alloc(4);
  len.writeUInt32BE(length);
  return Buffer.concat([Buffer.from([0x30, 0x84]), len, der.subarray(outer.contentStart)]);
}

function withAlgorithm(der: Buffer, algHex: string): Buffer {
  const outer = tlvAt(der, 0);
  const parts = outer && childrenOf(der, outer);
  const alg = parts?.[1];
  if (outer === undefined || alg === undefined) return der;
  const body = Buffer.concat([
    der.subarray(outer.contentStart, alg.start),
    Buffer.from(algHex, 'hex'),
    der.subarray(alg.end, outer.end),
  ]);
  const header =
    body.length < 0x80
      ? Buffer.from([0x30, body.length])
      : body.length < 0x100
        ? Buffer.from([0x30, 0x81, body.length])
        : Buffer.from([0x30, 0x82, body.length >> 8, body.length & 0xff]);
  return Buffer.concat([header, body]);
}

function mutate(rand: Rand): Buffer {
  const base = pick(rand, BASES);
  const der = Buffer.from(base);
  switch (Math.floor(rand() * 9)) {
    case 0:
    case 1:
      return der;
    case 2: {
      const at = Math.floor(rand() * der.length);
      der[at] = (der[at] as number) ^ (1 + Math.floor(rand() * 255));
      return der;
    }
    case 3: {
      // a byte of the signature BIT STRING (the tail of the request)
      const at = der.length - 1 - Math.floor(rand() * 16);
      der[at] = (der[at] as number) ^ (1 << Math.floor(rand() * 8));
      return der;
    }
    case 4:
      return der.subarray(0, Math.floor(rand() * der.length));
    case 5:
      return Buffer.concat([der, Buffer.alloc(1 + Math.floor(rand() * 3))]);
    case 6:
      return longFormOuter(der);
    case 7:
      return withAlgorithm(der, pick(rand, ALG_IDS));
    default: {
      // the certificationRequestInfo version INTEGER (at a fixed place for these requests)
      const outer = tlvAt(der, 0);
      const info = outer && childrenOf(der, outer)?.[0];
      const version = info && childrenOf(der, info)?.[0];
      if (version !== undefined) der[version.contentStart] = pick(rand, [1, 2, 0x80]);
      return der;
    }
  }
}

describe('CSR reading against @peculiar/x509 (differential, X509-8)', () => {
  it(`reaches the library's verdict on ${ITERATIONS} seeded mutated CSRs, or a rule-cited stricter one`, async () => {
    const rand = prng(SEED);
    const tally = new Map<string, number>();
    const mismatches: string[] = [];
    for (let i = 0; i < ITERATIONS; i++) {
      const der = mutate(rand);
      const a = await ours(der);
      const b = await reference(der);
      let key = a.ok === b.ok ? (a.ok ? 'both accept' : 'both refuse') : '';
      if (key === '') {
        const ourCode = a.ok ? 'accepted' : a.code;
        const allowed = STRICTER.find((s) => s.ourCode === ourCode && s.applies(der));
        if (allowed === undefined) {
          mismatches.push(
            `seed ${SEED} iteration ${i}: ours ${ourCode}, @peculiar ${b.ok ? 'accepted' : b.code}: ${der.toString('base64')}`,
          );
          continue;
        }
        key = `${allowed.rule} ${ourCode}`;
      }
      tally.set(key, (tally.get(key) ?? 0) + 1);
    }
    if (process.env.DIFF_TALLY) console.log(Object.fromEntries(tally));
    expect(mismatches, `DIFF_SEED=${SEED}`).toEqual([]);
    expect(tally.get('both accept') ?? 0).toBeGreaterThan(ITERATIONS / 10);
    expect(tally.get('both refuse') ?? 0).toBeGreaterThan(ITERATIONS / 10);
  });
});
