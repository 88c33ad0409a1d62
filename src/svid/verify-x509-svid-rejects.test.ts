// Rule tests for verifyX509Svid: rejected chains, X509-20..31 (CTS XV-*, XF-2), each with its SvidError
// code, with real certificates from test/helpers/pki (accepted chains in verify-x509-svid.test.ts).
import { describe, expect, it } from 'vitest';
import { codeOf } from '../../test/helpers/svid-code.js';
import { SvidError } from '../errors.js';
import {
  bundleOf,
  createCa,
  createJwtKey,
  createLeaf,
  KU,
  sourceOf,
  type TestCert,
} from '../../test/helpers/pki.js';
import type { BundleSource } from '../bundle/index.js';
import { MAX_PRESENTED_CERTIFICATES, verifyX509Svid } from './index.js';
import {
  A,
  B,
  both,
  bundleB,
  caValid,
  flipLastByte,
  future,
  leafA,
  leafOf,
  leafViaInter,
  past,
  rootA,
  rootA2,
  rootB,
  verify,
} from '../../test/helpers/x509-svid-fixtures.js';

// --- rejected chains ---
const notCaIssuer = await createCa({ issuer: rootA, notCa: true, ...caValid });
const noBcIssuer = await createCa({ issuer: rootA, basicConstraints: false, ...caValid });
const noCertSignIssuer = await createCa({ issuer: rootA, keyUsage: KU.cRLSign, ...caValid });
const rootPathLen0 = await createCa({ trustDomain: A, pathLength: 0, ...caValid });
const interUnderPathLen0 = await createCa({ issuer: rootPathLen0, ...caValid });
const rootNcOther = await createCa({
  trustDomain: A,
  ...caValid,
  nameConstraints: { permitted: [{ uri: 'other.example' }] },
});
const rootNcExcluded = await createCa({
  trustDomain: A,
  ...caValid,
  nameConstraints: { excluded: [{ uri: A }] },
});
const rootNcDns = await createCa({
  trustDomain: A,
  ...caValid,
  nameConstraints: { permitted: [{ uri: A }, { dns: 'allowed.example' }] },
});
const rootNcDir = await createCa({
  trustDomain: A,
  ...caValid,
  nameConstraints: { permitted: [{ uri: A }, { dirCn: 'x' }] },
});
const interNcOther = await createCa({
  issuer: rootA,
  ...caValid,
  nameConstraints: { permitted: [{ uri: '.sub.a.example' }] },
});
const expiredRoot = await createCa({ trustDomain: A, ...past });
const futureRoot = await createCa({ trustDomain: A, ...future });
const expiredInter = await createCa({ issuer: rootA, ...past });
const criticalRoot = await createCa({ trustDomain: A, ...caValid, unknownCriticalExtension: true });
const criticalInter = await createCa({ issuer: rootA, ...caValid, unknownCriticalExtension: true });
const sha1Leaf = await leafOf(rootA, { signingAlgorithm: { name: 'ECDSA', hash: 'SHA-1' } });
// A chain of 8 intermediates: longer than MAX_PATH_CERTIFICATES allows.
const deep: TestCert[] = [rootA];
for (let i = 0; i < 8; i++) deep.push(await createCa({ issuer: deep[i] as TestCert, ...caValid }));
const deepLeaf = await leafOf(deep[8] as TestCert);
const jwtOnlyBundle = bundleOf(A, [], [await createJwtKey('ES256')]);

const rejected: {
  rule: string;
  name: string;
  chain: readonly Uint8Array[];
  source?: BundleSource;
  code: string;
}[] = [
  { rule: 'X509-20', name: 'empty chain', chain: [], code: 'ERR_SVID_EMPTY_CHAIN' },
  {
    rule: 'X509-20',
    name: 'garbage bytes',
    chain: [Buffer.from('not a certificate')],
    code: 'ERR_SVID_CERT_PARSE',
  },
  {
    rule: 'X509-20',
    name: 'truncated leaf',
    chain: [leafA.der.subarray(0, leafA.der.length - 10)],
    code: 'ERR_SVID_CERT_PARSE',
  },
  {
    rule: 'X509-20',
    name: 'trailing byte after the leaf',
    chain: [Buffer.concat([leafA.der, Buffer.from([0])])],
    code: 'ERR_SVID_CERT_PARSE',
  },
  {
    rule: 'X509-20',
    name: 'unparsable intermediate',
    chain: [leafViaInter.der, Buffer.from([0x30, 0x00])],
    code: 'ERR_SVID_CERT_PARSE',
  },
  {
    rule: 'X509-20',
    name: 'PEM instead of DER',
    chain: [Buffer.from(leafA.pem)],
    code: 'ERR_SVID_CERT_PARSE',
  },
  {
    rule: 'X509-20',
    name: `more than ${MAX_PRESENTED_CERTIFICATES} certificates`,
    chain: Array<Buffer>(MAX_PRESENTED_CERTIFICATES + 1).fill(leafA.der),
    code: 'ERR_SVID_CHAIN_TOO_LONG',
  },
  {
    rule: 'X509-21 (CTS XV-12)',
    name: 'no URI SAN (DNS only)',
    chain: [(await leafOf(rootA, { spiffeIds: [], dnsNames: ['a.example'] })).der],
    code: 'ERR_SVID_URI_SAN_COUNT',
  },
  {
    rule: 'X509-21 (CTS XV-12)',
    name: 'no SAN extension at all',
    chain: [(await leafOf(rootA, { spiffeIds: [] })).der],
    code: 'ERR_SVID_URI_SAN_COUNT',
  },
  {
    rule: 'X509-21 (CTS XV-11)',
    name: 'two equal URI SANs',
    chain: [(await leafOf(rootA, { spiffeIds: [`spiffe://${A}/w`, `spiffe://${A}/w`] })).der],
    code: 'ERR_SVID_URI_SAN_COUNT',
  },
  {
    rule: 'X509-21 (CTS XV-11)',
    name: 'two different URI SANs',
    chain: [(await leafOf(rootA, { spiffeIds: [`spiffe://${A}/w`, `spiffe://${A}/x`] })).der],
    code: 'ERR_SVID_URI_SAN_COUNT',
  },
  {
    rule: 'X509-31',
    name: 'a DNS SAN that looks like a URI in the display string is not a URI SAN',
    chain: [(await leafOf(rootA, { spiffeIds: [], dnsNames: [`x, URI:spiffe://${A}/evil`] })).der],
    code: 'ERR_SVID_URI_SAN_COUNT',
  },
  {
    rule: 'X509-31',
    name: 'one URI SAN holding a display-string injection',
    chain: [(await leafOf(rootA, { spiffeIds: [`spiffe://${A}/w, URI:spiffe://${B}/x`] })).der],
    code: 'ERR_SVID_ID_INVALID',
  },
  {
    rule: 'X509-22 (CTS XV-13)',
    name: 'URI SAN with a non-spiffe scheme',
    chain: [(await leafOf(rootA, { spiffeIds: [`https://${A}/workload`] })).der],
    code: 'ERR_SVID_ID_INVALID',
  },
  {
    rule: 'X509-22 (CTS XV-14)',
    name: 'path-less SPIFFE ID',
    chain: [(await leafOf(rootA, { spiffeIds: [`spiffe://${A}`] })).der],
    code: 'ERR_SVID_ID_INVALID',
  },
  {
    rule: 'X509-22',
    name: 'upper-case trust domain',
    chain: [(await leafOf(rootA, { spiffeIds: ['spiffe://A.example/w'] })).der],
    code: 'ERR_SVID_ID_INVALID',
  },
  {
    rule: 'X509-22',
    name: 'dot segment in path',
    chain: [(await leafOf(rootA, { spiffeIds: [`spiffe://${A}/a/../b`] })).der],
    code: 'ERR_SVID_ID_INVALID',
  },
  {
    rule: 'X509-23 (CTS XV-8)',
    name: 'leaf is a CA',
    chain: [(await leafOf(rootA, { ca: true })).der],
    code: 'ERR_SVID_LEAF_IS_CA',
  },
  {
    rule: 'X509-23 (CTS XV-9)',
    name: 'leaf has keyCertSign',
    chain: [(await leafOf(rootA, { keyUsage: KU.digitalSignature | KU.keyCertSign })).der],
    code: 'ERR_SVID_LEAF_KEY_USAGE',
  },
  {
    rule: 'X509-23 (CTS XV-10)',
    name: 'leaf has cRLSign',
    chain: [(await leafOf(rootA, { keyUsage: KU.digitalSignature | KU.cRLSign })).der],
    code: 'ERR_SVID_LEAF_KEY_USAGE',
  },
  {
    rule: 'X509-24',
    name: 'leaf without key usage',
    chain: [(await leafOf(rootA, { keyUsage: null })).der],
    code: 'ERR_SVID_LEAF_KEY_USAGE',
  },
  {
    rule: 'X509-24',
    name: 'leaf key usage without digitalSignature',
    chain: [(await leafOf(rootA, { keyUsage: KU.keyEncipherment })).der],
    code: 'ERR_SVID_LEAF_KEY_USAGE',
  },
  {
    rule: 'X509-25 (CTS XV-15)',
    name: 'no bundle for the leaf trust domain',
    chain: [(await leafOf(rootA, { spiffeIds: ['spiffe://c.example/w'] })).der],
    code: 'ERR_SVID_NO_BUNDLE',
  },
  {
    rule: 'X509-25',
    name: 'bundle without X.509 authorities',
    chain: [leafA.der],
    source: jwtOnlyBundle,
    code: 'ERR_SVID_NO_AUTHORITIES',
  },
  {
    rule: 'X509-25 (CTS XF-2)',
    name: "cross trust domain: leaf claims A but chains to B's CA, both bundles present",
    chain: [(await leafOf(rootB, { spiffeIds: [`spiffe://${A}/w`] })).der],
    code: 'ERR_SVID_CHAIN_UNTRUSTED',
  },
  {
    rule: 'X509-25 (CTS XF-2)',
    name: "cross trust domain: B's root presented in the chain does not help",
    chain: [(await leafOf(rootB, { spiffeIds: [`spiffe://${A}/w`] })).der, rootB.der],
    code: 'ERR_SVID_CHAIN_UNTRUSTED',
  },
  {
    rule: 'X509-26',
    name: 'signed by a root that is not in the bundle',
    chain: [(await leafOf(rootA2)).der],
    code: 'ERR_SVID_CHAIN_UNTRUSTED',
  },
  {
    rule: 'X509-26',
    name: 'signed by a root that is not in the bundle, root presented',
    chain: [(await leafOf(rootA2)).der, rootA2.der],
    code: 'ERR_SVID_CHAIN_UNTRUSTED',
  },
  {
    rule: 'X509-26',
    name: 'tampered leaf signature',
    chain: [flipLastByte(leafA.der)],
    code: 'ERR_SVID_CHAIN_UNTRUSTED',
  },
  {
    rule: 'X509-26',
    name: 'missing intermediate',
    chain: [leafViaInter.der],
    code: 'ERR_SVID_CHAIN_UNTRUSTED',
  },
  {
    rule: 'X509-26',
    name: 'unsupported signature algorithm (ECDSA with SHA-1)',
    chain: [sha1Leaf.der],
    code: 'ERR_SVID_CHAIN_UNTRUSTED',
  },
  {
    rule: 'X509-26',
    name: 'path deeper than the bound',
    chain: [
      deepLeaf.der,
      ...deep
        .slice(1)
        .reverse()
        .map((c) => c.der),
    ],
    code: 'ERR_SVID_CHAIN_UNTRUSTED',
  },
  {
    rule: 'X509-26 (CTS XV-6)',
    name: 'expired leaf',
    chain: [(await createLeaf(rootA, past)).der],
    code: 'ERR_SVID_CERT_EXPIRED',
  },
  {
    rule: 'X509-26 (CTS XV-7)',
    name: 'leaf not yet valid',
    chain: [(await createLeaf(rootA, future)).der],
    code: 'ERR_SVID_CERT_NOT_YET_VALID',
  },
  {
    rule: 'X509-26',
    name: 'expired intermediate',
    chain: [(await leafOf(expiredInter)).der, expiredInter.der],
    code: 'ERR_SVID_CERT_EXPIRED',
  },
  {
    rule: 'X509-26',
    name: 'expired anchor',
    chain: [(await leafOf(expiredRoot)).der],
    source: bundleOf(A, [expiredRoot]),
    code: 'ERR_SVID_CERT_EXPIRED',
  },
  {
    rule: 'X509-26',
    name: 'anchor not yet valid',
    chain: [(await leafOf(futureRoot)).der],
    source: bundleOf(A, [futureRoot]),
    code: 'ERR_SVID_CERT_NOT_YET_VALID',
  },
  {
    rule: 'X509-26',
    name: 'issuer with cA false',
    chain: [(await leafOf(notCaIssuer)).der, notCaIssuer.der],
    code: 'ERR_SVID_ISSUER_NOT_CA',
  },
  {
    rule: 'X509-26',
    name: 'issuer without basicConstraints',
    chain: [(await leafOf(noBcIssuer)).der, noBcIssuer.der],
    code: 'ERR_SVID_ISSUER_NOT_CA',
  },
  {
    rule: 'X509-26',
    name: 'issuer key usage without keyCertSign',
    chain: [(await leafOf(noCertSignIssuer)).der, noCertSignIssuer.der],
    code: 'ERR_SVID_ISSUER_NOT_CA',
  },
  {
    rule: 'X509-26',
    name: 'pathLen 0 root with an intermediate below',
    chain: [(await leafOf(interUnderPathLen0)).der, interUnderPathLen0.der],
    source: bundleOf(A, [rootPathLen0]),
    code: 'ERR_SVID_PATH_LEN',
  },
  {
    rule: 'X509-26',
    name: 'URI name constraint (permitted) violated',
    chain: [(await leafOf(rootNcOther)).der],
    source: bundleOf(A, [rootNcOther]),
    code: 'ERR_SVID_NAME_CONSTRAINTS',
  },
  {
    rule: 'X509-26',
    name: 'URI name constraint (excluded) violated',
    chain: [(await leafOf(rootNcExcluded)).der],
    source: bundleOf(A, [rootNcExcluded]),
    code: 'ERR_SVID_NAME_CONSTRAINTS',
  },
  {
    rule: 'X509-26',
    name: 'URI name constraint on an intermediate violated',
    chain: [(await leafOf(interNcOther)).der, interNcOther.der],
    code: 'ERR_SVID_NAME_CONSTRAINTS',
  },
  {
    rule: 'X509-26',
    name: 'DNS name constraint violated',
    chain: [(await leafOf(rootNcDns, { dnsNames: ['evil.example'] })).der],
    source: bundleOf(A, [rootNcDns]),
    code: 'ERR_SVID_NAME_CONSTRAINTS',
  },
  {
    rule: 'X509-26',
    name: 'critical name constraint of an unsupported form (directoryName)',
    chain: [(await leafOf(rootNcDir)).der],
    source: bundleOf(A, [rootNcDir]),
    code: 'ERR_SVID_NAME_CONSTRAINTS',
  },
  {
    rule: 'X509-26',
    name: 'unknown critical extension on the leaf',
    chain: [(await leafOf(rootA, { unknownCriticalExtension: true })).der],
    code: 'ERR_SVID_CRITICAL_EXTENSION',
  },
  {
    rule: 'X509-26',
    name: 'unknown critical extension on an intermediate',
    chain: [(await leafOf(criticalInter)).der, criticalInter.der],
    code: 'ERR_SVID_CRITICAL_EXTENSION',
  },
  {
    rule: 'X509-26',
    name: 'unknown critical extension on the anchor',
    chain: [(await leafOf(criticalRoot)).der],
    source: bundleOf(A, [criticalRoot]),
    code: 'ERR_SVID_CRITICAL_EXTENSION',
  },
];

describe('verifyX509Svid rejects', () => {
  it.each(rejected.map((c) => [`${c.rule}: ${c.name} -> ${c.code}`, c] as const))(
    '%s',
    (_title, { chain, source, code }) => {
      expect(codeOf(() => verify(chain, source ?? both))).toBe(code);
    },
  );

  it('X509-26: cross-signed intermediates forming a loop terminate as untrusted', async () => {
    // x signs y and y signs x (same names and keys): path building must not loop.
    const x = await createCa({ subject: 'CN=loop x', trustDomain: A, ...caValid });
    const y = await createCa({ issuer: x, subject: 'CN=loop y', ...caValid });
    const xByY = await createCa({ issuer: y, subject: 'CN=loop x', reuseKeyOf: x, ...caValid });
    const leaf = await leafOf(y);
    expect(codeOf(() => verify([leaf.der, y.der, xByY.der, y.der, xByY.der]))).toBe(
      'ERR_SVID_CHAIN_UNTRUSTED',
    );
    // The same chain verifies once x is an anchor.
    expect(verify([leaf.der, y.der, xByY.der], bundleOf(A, [x])).chain).toHaveLength(2);
  });

  it('X509-25: errors are SvidErrors with safe context', () => {
    try {
      verify([leafA.der], sourceOf(bundleB));
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(SvidError);
      expect((error as SvidError).context).toEqual({ trustDomain: A });
    }
  });

  it.each([
    ['chain not an array', () => verifyX509Svid('x' as never, both)],
    ['chain entry not bytes', () => verifyX509Svid(['x' as never], both)],
    ['source missing', () => verifyX509Svid([leafA.der], undefined as never)],
    ['invalid now', () => verifyX509Svid([leafA.der], both, { now: new Date(NaN) })],
  ])('caller mistakes throw TypeError: %s', (_name, call) => {
    expect(call).toThrow(TypeError);
  });
});
