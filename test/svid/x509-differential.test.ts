// Differential test: verifyX509Svid (X509-20..26) against node:crypto X509Certificate and @peculiar/x509
// with the SPIFFE leaf rules on top, on 2,000 seeded chains and byte-flipped variants. Choices are
// seeded (DIFF_SEED); keys are fresh per run, so a failure prints the chain's DER (DIFF_DUMP=file).
import { X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import '../helpers/reflect-shim.js';
import * as x509 from '@peculiar/x509';
import { describe, expect, it } from 'vitest';
import { SvidError } from '../../src/errors.js';
import { verifyX509Svid } from '../../src/svid/index.js';
import type { Bundle } from '../../src/bundle/index.js';
import { childrenOf, isStrictDer, someTlv, tlvAt, type Tlv } from '../helpers/der-tlv.js';
import { bundleOf, createCa, createLeaf, KU, sourceOf, type TestCert } from '../helpers/pki.js';
import { reference, refCert, type RefCert, type Verdict } from './x509-reference.js';
import { prng, type Rand } from '../helpers/prng.js';

const SEED = Number(process.env.DIFF_SEED ?? 0x16509);
const ITERATIONS = 2000;
const TD = 'diff.example';
const OTHER_TD = 'other.example';
const NOW = new Date();
const DAY = 86_400_000;

// ---- a fixed population of certificates (generated once; the mutations pick and flip them) ----

const root = await createCa({ trustDomain: TD });
const root2 = await createCa({ trustDomain: TD });
const otherRoot = await createCa({ trustDomain: OTHER_TD });
const inter = await createCa({ issuer: root });
const interLen0 = await createCa({ issuer: root, pathLength: 0 });
const interBelowLen0 = await createCa({ issuer: interLen0 });
const interNotCa = await createCa({ issuer: root, notCa: true });
const interNoCertSign = await createCa({ issuer: root, keyUsage: KU.digitalSignature });
const interNc = await createCa({
  issuer: root,
  nameConstraints: { permitted: [{ uri: OTHER_TD }] },
});
const interExpired = await createCa({
  issuer: root,
  notBefore: new Date(NOW.getTime() - 10 * DAY),
  notAfter: new Date(NOW.getTime() - DAY),
});
const INTERMEDIATES = [
  inter,
  interLen0,
  interBelowLen0,
  interNotCa,
  interNoCertSign,
  interNc,
  interExpired,
];

const leafShapes = (issuer: TestCert): Promise<TestCert>[] => [
  createLeaf(issuer),
  createLeaf(issuer, { dnsNames: ['svc.diff.example'] }),
  createLeaf(issuer, { spiffeIds: [] }),
  createLeaf(issuer, { spiffeIds: [`spiffe://${TD}/a`, `spiffe://${TD}/b`] }),
  createLeaf(issuer, { spiffeIds: [`spiffe://${TD}`] }),
  createLeaf(issuer, { spiffeIds: [`https://${TD}/a`] }),
  createLeaf(issuer, { spiffeIds: [`spiffe://${OTHER_TD}/a`] }),
  createLeaf(issuer, { ca: true }),
  createLeaf(issuer, { keyUsage: KU.digitalSignature | KU.keyCertSign }),
  createLeaf(issuer, { keyUsage: null }),
  createLeaf(issuer, { keyUsage: KU.keyEncipherment }),
  createLeaf(issuer, { unknownCriticalExtension: true }),
  createLeaf(issuer, { extKeyUsage: null }),
  createLeaf(issuer, { notAfter: new Date(NOW.getTime() - 1000) }),
  createLeaf(issuer, { notBefore: new Date(NOW.getTime() + DAY) }),
];
const LEAVES = (
  await Promise.all(
    [root, inter, interLen0, interBelowLen0, interNotCa, interNc, otherRoot].flatMap(leafShapes),
  )
).map((cert) => cert.der);
/** Plain X509-SVIDs under root and under inter, so that a good share of inputs should pass. */
const GOOD_LEAVES = [
  (await createLeaf(root)).der,
  (await createLeaf(inter)).der,
  (await createLeaf(interBelowLen0)).der,
];

const BUNDLES: readonly Bundle[][] = [
  [bundleOf(TD, [root])],
  [bundleOf(TD, [root]), bundleOf(OTHER_TD, [otherRoot])],
  [bundleOf(TD, [root2])],
  [bundleOf(TD, [inter])],
  [bundleOf(TD, [root2, root])],
  [bundleOf(OTHER_TD, [otherRoot])],
  [bundleOf(TD, [])],
];

function ours(chain: readonly Buffer[], bundles: readonly Bundle[], now: Date): Verdict {
  try {
    verifyX509Svid(chain, sourceOf(...bundles), { now });
    return { ok: true };
  } catch (error) {
    if (error instanceof SvidError) return { ok: false, code: error.code };
    throw error;
  }
}

// ---- where we differ: checked on the input ----

/** A dNSName, rfc822Name or URI GeneralName (IA5String, RFC 5280 §4.2.1.6) with a non-ASCII byte. */
function hasNonIa5GeneralName(der: Uint8Array): boolean {
  let cert: RefCert;
  try {
    cert = refCert(der);
  } catch {
    return false;
  }
  return cert.ext.extensions
    .filter((e) => e.type === '2.5.29.17' || e.type === '2.5.29.30')
    .some((e) => {
      const value = new Uint8Array(e.value);
      return someTlv(
        value,
        (tlv) =>
          [0x81, 0x82, 0x86].includes(tlv.tag) &&
          value.subarray(tlv.contentStart, tlv.end).some((b) => b > 0x7f),
      );
    });
}

/**
 * A certificate node:crypto reads but @peculiar/x509 does not, because of a non-critical extension
 * the verifier does not act on (anything but key usage, SAN, basic and name constraints and the
 * key identifiers): @peculiar decodes every extension type it knows, OpenSSL and we keep them opaque.
 */
function hasUndecodableIgnoredExtension(der: Uint8Array): boolean {
  try {
    new X509Certificate(der);
  } catch {
    return false;
  }
  try {
    void new x509.X509Certificate(der).extensions;
    return false;
  } catch {
    // @peculiar refuses it: is there an extension that could be why?
  }
  const read = ['551d0f', '551d11', '551d13', '551d1e', '551d0e', '551d23'];
  const field = tbsParts(der).find((p) => p.tag === 0xa3);
  const list = field && childrenOf(der, field)?.[0];
  return (list === undefined ? [] : (childrenOf(der, list) ?? [])).some((extension) => {
    const [oid, second] = childrenOf(der, extension) ?? [];
    if (oid === undefined || second === undefined) return false;
    const critical = second.tag === 0x01 && der[second.contentStart] !== 0;
    return (
      !critical &&
      !read.includes(Buffer.from(der.subarray(oid.contentStart, oid.end)).toString('hex'))
    );
  });
}

/** RFC 5280 §4.1.2.4: an issuer or subject attribute value that is not one of the string types. */
function hasNonStringNameValue(der: Uint8Array): boolean {
  const strings = [0x0c, 0x12, 0x13, 0x14, 0x16, 0x1c, 0x1e];
  const parts = tbsParts(der);
  const issuerAt = parts[0]?.tag === 0xa0 ? 3 : 2;
  return [parts[issuerAt], parts[issuerAt + 2]].some((name) =>
    (name === undefined ? [] : (childrenOf(der, name) ?? [])).some((rdn) =>
      (childrenOf(der, rdn) ?? []).some((attribute) => {
        const value = childrenOf(der, attribute)?.[1];
        return value !== undefined && !strings.includes(value.tag);
      }),
    ),
  );
}

/** RFC 5280 §4.1.1.3: the signature BIT STRING carries whole octets (its unused-bits octet is 0). */
function hasSignatureWithUnusedBits(der: Uint8Array): boolean {
  const root = tlvAt(der, 0);
  const signature = root && childrenOf(der, root)?.[2];
  return signature?.tag === 0x03 && der[signature.contentStart] !== 0;
}

const ACTED_ON_EXTENSIONS = ['2.5.29.15', '2.5.29.17', '2.5.29.19', '2.5.29.30'];
let madeExtensionValues: Set<string> | undefined;

/**
 * An extension the verifier acts on (key usage, SAN, basic and name constraints: X509-23..26) whose
 * value is none of those this test made, that is, one a flipped byte damaged.
 */
function hasDamagedActedOnExtension(der: Uint8Array): boolean {
  const valuesOf = (bytes: Uint8Array): string[] =>
    refCert(bytes)
      .ext.extensions.filter((e) => ACTED_ON_EXTENSIONS.includes(e.type))
      .map((e) => Buffer.from(e.value).toString('hex'));
  madeExtensionValues ??= new Set(
    [root, root2, otherRoot, ...INTERMEDIATES]
      .map((c) => c.der)
      .concat(LEAVES, GOOD_LEAVES)
      .flatMap(valuesOf),
  );
  const made = madeExtensionValues;
  try {
    return valuesOf(der).some((value) => !made.has(value));
  } catch {
    return false;
  }
}

/**
 * A BOOLEAN whose content is not DER's 0x00 or 0xFF (X.690 §11.1), in the certificate or inside an
 * extension's value.
 */
function hasNonDerBoolean(der: Uint8Array): boolean {
  const found = (bytes: Uint8Array): boolean =>
    someTlv(bytes, (tlv) => {
      const value = bytes[tlv.contentStart];
      return (
        tlv.tag === 0x01 && tlv.end - tlv.contentStart === 1 && value !== 0x00 && value !== 0xff
      );
    });
  if (found(der)) return true;
  try {
    return refCert(der).ext.extensions.some((e) => found(new Uint8Array(e.value)));
  } catch {
    return false;
  }
}

/** RFC 5280 §4.1.1.2: Certificate.signatureAlgorithm differs from TBSCertificate.signature. */
function hasMismatchedSignatureAlgorithm(der: Uint8Array): boolean {
  const root = tlvAt(der, 0);
  const [tbs, outerAlg] = (root && childrenOf(der, root)) ?? [];
  const tbsParts = tbs && childrenOf(der, tbs);
  const innerAlg = tbsParts?.[0]?.tag === 0xa0 ? tbsParts[2] : tbsParts?.[1];
  if (outerAlg === undefined || innerAlg === undefined) return false;
  const bytes = (t: Tlv): Buffer => Buffer.from(der.subarray(t.start, t.end));
  return !bytes(outerAlg).equals(bytes(innerAlg));
}

function tbsParts(der: Uint8Array): Tlv[] {
  const root = tlvAt(der, 0);
  const tbs = root && childrenOf(der, root)?.[0];
  return (tbs && childrenOf(der, tbs)) ?? [];
}

/** RFC 5280 §4.1.2.5: UTCTime YYMMDDHHMMSSZ, GeneralizedTime YYYYMMDDHHMMSSZ, a real UTC instant. */
function isGoodTime(tag: number, text: string): boolean {
  const m = (
    tag === 0x17
      ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/
      : /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/
  ).exec(text);
  if (m === null) return false;
  const [y, mo, d, h, mi, sec] = m.slice(1).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const year = tag === 0x17 ? (y < 50 ? 2000 + y : 1900 + y) : y;
  const date = new Date(Date.UTC(year, mo - 1, d, h, mi, sec));
  return (
    date.getUTCFullYear() === year &&
    date.getUTCMonth() === mo - 1 &&
    date.getUTCDate() === d &&
    date.getUTCHours() === h &&
    date.getUTCMinutes() === mi &&
    date.getUTCSeconds() === sec
  );
}

function hasBadTime(der: Uint8Array): boolean {
  const parts = tbsParts(der);
  const validity = parts[parts[0]?.tag === 0xa0 ? 4 : 3];
  const times = (validity && childrenOf(der, validity)) ?? [];
  return times.some(
    (t) => !isGoodTime(t.tag, Buffer.from(der.subarray(t.contentStart, t.end)).toString('latin1')),
  );
}

/** RFC 5280 §4.1.2.1: a certificate with extensions is v3 (version INTEGER 2). */
function hasExtensionsWithoutV3(der: Uint8Array): boolean {
  const parts = tbsParts(der);
  if (!parts.some((p) => p.tag === 0xa3)) return false;
  const version = parts[0]?.tag === 0xa0 ? childrenOf(der, parts[0])?.[0] : undefined;
  return (
    version === undefined ||
    version.end - version.contentStart !== 1 ||
    der[version.contentStart] !== 2
  );
}

interface Stricter {
  readonly rule: string;
  readonly why: string;
  readonly ourCode: string;
  readonly applies: (chain: readonly Buffer[], bundles: readonly Bundle[], now: Date) => boolean;
}

const STRICTER: readonly Stricter[] = [
  {
    rule: 'RFC 5280 §4.2 (an extension not processed)',
    why: 'a non-critical extension the verifier does not act on, whose value @peculiar/x509 cannot decode; node:crypto accepts the certificate too, and a verifier may ignore an extension it does not process',
    ourCode: 'accepted',
    applies: (chain) => chain.some(hasUndecodableIgnoredExtension),
  },
  {
    rule: 'X509-20',
    why: 'a Name attribute value that is not a string type (RFC 5280 §4.1.2.4, Appendix A); OpenSSL keeps some other universal types as unknown',
    ourCode: 'ERR_SVID_CERT_PARSE',
    applies: (chain) => chain.some(hasNonStringNameValue),
  },
  {
    rule: 'X509-20',
    why: 'a signature BIT STRING with unused bits (RFC 5280 §4.1.1.3); node:crypto reads it and checks nothing else',
    ourCode: 'ERR_SVID_CERT_PARSE',
    applies: (chain) => chain.some(hasSignatureWithUnusedBits),
  },
  {
    rule: 'X509-20',
    why: 'an extension the verifier acts on (key usage, SAN, basic or name constraints) whose value a flipped byte damaged: our reader refuses what it cannot read as RFC 5280 says; the libraries read such values lazily or not at all',
    ourCode: 'ERR_SVID_CERT_PARSE',
    applies: (chain) => chain.some(hasDamagedActedOnExtension),
  },
  {
    rule: 'X509-20',
    why: 'a BOOLEAN whose TRUE is not 0xFF (X.690 §11.1, DER); OpenSSL reads any non-zero octet as TRUE',
    ourCode: 'ERR_SVID_CERT_PARSE',
    applies: (chain) => chain.some(hasNonDerBoolean),
  },
  {
    rule: 'X509-20',
    why: 'a certificate that is not strict DER (X.690 §10; RFC 5280 §4.1): OpenSSL and asn1js read BER',
    ourCode: 'ERR_SVID_CERT_PARSE',
    applies: (chain) => chain.some((der) => !isStrictDer(der)),
  },
  {
    rule: 'X509-20',
    why: 'a SAN or name-constraint GeneralName that is not IA5String (RFC 5280 §4.2.1.6, §4.2.1.10): the certificate does not parse here; OpenSSL and @peculiar keep the bytes',
    ourCode: 'ERR_SVID_CERT_PARSE',
    applies: (chain) => chain.some(hasNonIa5GeneralName),
  },
  {
    rule: 'X509-20',
    why: 'signatureAlgorithm differs from the TBSCertificate signature field (RFC 5280 §4.1.1.2 MUST match); OpenSSL parses it and fails only when it checks that certificate',
    ourCode: 'ERR_SVID_CERT_PARSE',
    applies: (chain) => chain.some(hasMismatchedSignatureAlgorithm),
  },
  {
    rule: 'X509-20',
    why: 'a validity time that is not an RFC 5280 §4.1.2.5 instant (non-digits, month 13, hour 24...); OpenSSL reads some of them',
    ourCode: 'ERR_SVID_CERT_PARSE',
    applies: (chain) => chain.some(hasBadTime),
  },
  {
    rule: 'X509-20',
    why: 'extensions in a certificate whose version is not v3 (RFC 5280 §4.1.2.1); OpenSSL does not check',
    ourCode: 'ERR_SVID_CERT_PARSE',
    applies: (chain) => chain.some(hasExtensionsWithoutV3),
  },
  {
    rule: 'X509-26',
    why: 'RFC 5280 §6.1.3 name constraints on a CA in the path; node:crypto builds no paths and does not apply them',
    ourCode: 'ERR_SVID_NAME_CONSTRAINTS',
    applies: (chain) =>
      chain.some((der) => {
        try {
          return refCert(der).ext.getExtension('2.5.29.30') !== null;
        } catch {
          return false;
        }
      }),
  },
];

// ---- mutations ----

function pick<T>(rand: Rand, items: readonly T[]): T {
  return items[Math.floor(rand() * items.length)] as T;
}

function generate(rand: Rand): { chain: Buffer[]; bundles: readonly Bundle[]; now: Date } {
  const chain = [Buffer.from(pick(rand, rand() < 0.4 ? GOOD_LEAVES : LEAVES))];
  const count = Math.floor(rand() * 3);
  for (let i = 0; i < count; i++) chain.push(Buffer.from(pick(rand, INTERMEDIATES).der));
  if (rand() < 0.4) chain.push(Buffer.from(inter.der));
  if (rand() < 0.2) {
    // flip one byte of one certificate
    const der = pick(rand, chain);
    const at = Math.floor(rand() * der.length);
    der[at] = (der[at] as number) ^ (1 << Math.floor(rand() * 8));
  }
  const now = pick(rand, [NOW, NOW, NOW, new Date(NOW.getTime() + 2 * DAY)]);
  return { chain, bundles: rand() < 0.5 ? (BUNDLES[0] as Bundle[]) : pick(rand, BUNDLES), now };
}

describe('X509-SVID verification against node:crypto and @peculiar/x509 (differential, X509-20..26)', () => {
  it(`reaches the libraries' verdict on ${ITERATIONS} seeded chains, or a rule-cited stricter one`, () => {
    const rand = prng(SEED);
    const tally = new Map<string, number>();
    const mismatches: string[] = [];
    for (let i = 0; i < ITERATIONS; i++) {
      const { chain, bundles, now } = generate(rand);
      const a = ours(chain, bundles, now);
      const b = reference(chain, bundles, now);
      let key = a.ok === b.ok ? (a.ok ? 'both accept' : 'both refuse') : '';
      if (key === '') {
        const ourCode = a.ok ? 'accepted' : a.code;
        const allowed = STRICTER.find(
          (s) => s.ourCode === ourCode && s.applies(chain, bundles, now),
        );
        if (allowed === undefined) {
          mismatches.push(
            `seed ${SEED} iteration ${i}: ours ${ourCode}, libraries ${b.ok ? 'accepted' : b.code}: ${chain.map((d) => d.toString('base64')).join(',')}`,
          );
          continue;
        }
        key = `${allowed.rule} ${ourCode}`;
      }
      tally.set(key, (tally.get(key) ?? 0) + 1);
    }
    if (process.env.DIFF_TALLY) console.log(Object.fromEntries(tally));
    if (process.env.DIFF_DUMP) writeFileSync(process.env.DIFF_DUMP, mismatches.join('\n'));
    const first = mismatches[0]?.split(': ').slice(0, 2).join(': ');
    expect(
      mismatches.slice(0, 20),
      `DIFF_SEED=${SEED}, ${mismatches.length} mismatches, first: ${first}`,
    ).toEqual([]);
    expect(tally.get('both accept') ?? 0).toBeGreaterThan(ITERATIONS / 20);
    expect(tally.get('both refuse') ?? 0).toBeGreaterThan(ITERATIONS / 10);
  });
});
