// Rule tests for verifyX509Svid: accepted chains, X509-20..31 (CTS XV-*, XF-2), with real certificates
// from test/helpers/pki (rejections in verify-x509-svid-rejects.test.ts).
import { describe, expect, it } from 'vitest';
import { bundleOf, createCa, createLeaf, EKU, KU } from '../../test/helpers/pki.js';
import type { BundleSource } from '../bundle/index.js';
import { verifyX509Svid } from './index.js';
import {
  A,
  both,
  bundleA,
  caValid,
  interA,
  leafA,
  leafOf,
  leafViaInter,
  rootA,
  valid,
  verify,
} from '../../test/helpers/x509-svid-fixtures.js';

// --- accepted chains ---
const rootP384 = await createCa({ trustDomain: A, keyAlg: 'ec-p384', ...caValid });
const rootP521 = await createCa({ trustDomain: A, keyAlg: 'ec-p521', ...caValid });
const rootRsa = await createCa({ trustDomain: A, keyAlg: 'rsa-2048', ...caValid });
const rootPss = await createCa({ trustDomain: A, keyAlg: 'rsa-pss-2048', ...caValid });
const rootEd = await createCa({ trustDomain: A, keyAlg: 'ed25519', ...caValid });
const rootNc = await createCa({
  trustDomain: A,
  ...caValid,
  nameConstraints: { permitted: [{ uri: A }, { dns: 'svc.a.example' }] },
});
const interPathLen0 = await createCa({ issuer: rootA, pathLength: 0, ...caValid });
const rootDirNc = await createCa({
  trustDomain: A,
  ...caValid,
  nameConstraints: { permitted: [{ dirCn: 'x' }], critical: false },
});

const accepted: {
  rule: string;
  name: string;
  chain: readonly Uint8Array[];
  source: BundleSource;
  id?: string;
}[] = [
  { rule: 'X509-26', name: 'leaf + root (P-256)', chain: [leafA.der], source: both },
  {
    rule: 'X509-26',
    name: 'leaf + intermediate + root',
    chain: [leafViaInter.der, interA.der],
    source: both,
  },
  {
    rule: 'X509-26',
    name: 'the root itself also presented',
    chain: [leafViaInter.der, interA.der, rootA.der],
    source: both,
  },
  {
    rule: 'X509-26',
    name: 'anchor is an intermediate, not self-signed (BUNDLE-20)',
    chain: [leafViaInter.der],
    source: bundleOf(A, [interA]),
  },
  {
    rule: 'X509-26',
    name: 'ECDSA P-384 / SHA-384',
    chain: [(await leafOf(rootP384, { keyAlg: 'ec-p384' })).der],
    source: bundleOf(A, [rootP384]),
  },
  {
    rule: 'X509-26',
    name: 'ECDSA P-521 / SHA-512',
    chain: [(await leafOf(rootP521)).der],
    source: bundleOf(A, [rootP521]),
  },
  {
    rule: 'X509-26',
    name: 'ECDSA P-256 with SHA-512',
    chain: [(await leafOf(rootA, { signingAlgorithm: { name: 'ECDSA', hash: 'SHA-512' } })).der],
    source: both,
  },
  {
    rule: 'X509-26',
    name: 'RSA PKCS#1 v1.5',
    chain: [(await leafOf(rootRsa, { keyAlg: 'rsa-2048' })).der],
    source: bundleOf(A, [rootRsa]),
  },
  {
    rule: 'X509-26',
    name: 'RSA-PSS',
    chain: [(await leafOf(rootPss)).der],
    source: bundleOf(A, [rootPss]),
  },
  {
    rule: 'X509-26',
    name: 'Ed25519',
    chain: [(await leafOf(rootEd, { keyAlg: 'ed25519' })).der],
    source: bundleOf(A, [rootEd]),
  },
  {
    rule: 'X509-26',
    name: 'URI and DNS name constraints satisfied',
    chain: [(await leafOf(rootNc, { dnsNames: ['api.svc.a.example'] })).der],
    source: bundleOf(A, [rootNc]),
  },
  {
    rule: 'X509-26',
    name: 'non-critical name constraint of an unsupported form is ignored',
    chain: [(await leafOf(rootDirNc)).der],
    source: bundleOf(A, [rootDirNc]),
  },
  {
    rule: 'X509-26',
    name: 'pathLen 0 intermediate directly above the leaf',
    chain: [(await leafOf(interPathLen0)).der, interPathLen0.der],
    source: both,
  },
  {
    rule: 'X509-27',
    name: 'leaf without EKU',
    chain: [(await leafOf(rootA, { extKeyUsage: null })).der],
    source: both,
  },
  {
    rule: 'X509-27',
    name: 'leaf with serverAuth only',
    chain: [(await leafOf(rootA, { extKeyUsage: [EKU.serverAuth] })).der],
    source: both,
  },
  {
    rule: 'X509-28',
    name: 'unrelated DNS SAN and CN are ignored',
    chain: [(await leafOf(rootA, { dnsNames: ['other.host'], subject: 'CN=whatever' })).der],
    source: both,
  },
  {
    rule: 'X509-1',
    name: 'leaf with critical SAN and keyEncipherment',
    chain: [
      (
        await leafOf(rootA, {
          sanCritical: true,
          keyUsage: KU.digitalSignature | KU.keyEncipherment,
          spiffeIds: [`spiffe://${A}/ns/prod/sa/api`],
        })
      ).der,
    ],
    source: both,
    id: `spiffe://${A}/ns/prod/sa/api`,
  },
];

describe('verifyX509Svid accepts', () => {
  it.each(accepted.map((c) => [`${c.rule}: ${c.name}`, c] as const))(
    '%s',
    (_title, { chain, source, id }) => {
      const result = verify(chain, source);
      expect(result.spiffeId.toString()).toBe(id ?? `spiffe://${A}/workload`);
    },
  );

  it('returns the verified path, the anchor and the earliest expiry', () => {
    const result = verify([leafViaInter.der, interA.der, rootA.der]);
    expect(result.chain.map((d) => Buffer.from(d).toString('hex'))).toEqual([
      leafViaInter.der.toString('hex'),
      interA.der.toString('hex'),
    ]);
    expect(result.authority).toBe(bundleA.x509Authorities[0]);
    expect(result.expiresAt.getTime()).toBe(valid.notAfter.getTime());
    expect(result.leaf.notAfter.getTime()).toBe(valid.notAfter.getTime());
    expect(result.leaf.der.equals(leafViaInter.der)).toBe(true);
    expect(result.leaf.dnsNames).toEqual([]);
  });

  it('accepts plain Uint8Array input and uses the current time by default', async () => {
    const root = await createCa({ trustDomain: A });
    const leaf = await createLeaf(root);
    const result = verifyX509Svid([new Uint8Array(leaf.der)], bundleOf(A, [root]));
    expect(result.spiffeId.trustDomain.name).toBe(A);
  });
});
