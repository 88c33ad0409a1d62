// SPIFFE-RULES X509-4, -5, -11, -14, -15, -16, -29, -30 on what the CA really issues: leaves, the
// broker's own SVID, self-signed and upstream CA certificates, read back with @peculiar/x509
// (independent of our DER encoder) and node:crypto's X509Certificate.
import { X509Certificate } from 'node:crypto';
import '../helpers/reflect-shim.js';
import * as x509 from '@peculiar/x509';
import { afterAll, describe, expect, it } from 'vitest';
import type { Ca } from '../../src/ca/index.js';
import { codeOf } from '../helpers/error-code.js';
import {
  newEcKey,
  openCa,
  opensslCsr,
  opensslUpstreamRoot,
  removeTempDirs,
  tempDir,
  testClock,
  TD,
} from './support.js';

afterAll(removeTempDirs);

const OID = {
  extKeyUsage: '2.5.29.37',
  nameConstraints: '2.5.29.30',
  crlDistributionPoints: '2.5.29.31',
  authorityInfoAccess: '1.3.6.1.5.5.7.1.1',
} as const;

function parsed(der: Uint8Array): x509.X509Certificate {
  return new x509.X509Certificate(Buffer.from(der));
}

function extensionOids(der: Uint8Array): string[] {
  return parsed(der).extensions.map((e) => e.type);
}

/** A leaf from a CSR, a leaf from an in-process key, and the broker's own SVID. */
async function leavesOf(ca: Ca): Promise<Buffer[]> {
  const fromCsr = await ca.issueX509Svid({ spiffeId: `spiffe://${TD}/w/csr`, csr: opensslCsr() });
  const fromKey = await ca.issueX509Svid({
    spiffeId: `spiffe://${TD}/w/key`,
    publicKey: newEcKey().publicKey,
    dnsNames: ['w.acme.example'],
  });
  const own = await ca.issueOwnSvid(`spiffe://${TD}/spiffe/bundle-endpoint`, 600);
  return [fromCsr, fromKey, own].map((svid) => svid.chainDer[0] as Buffer);
}

/** Every CA certificate the CA made: published anchors and intermediates of issued chains. */
async function caCertificatesOf(ca: Ca): Promise<Buffer[]> {
  const svid = await ca.issueX509Svid({ spiffeId: `spiffe://${TD}/w`, csr: opensslCsr() });
  const anchors = ca.localBundle().x509Authorities.map((a) => Buffer.from(a.der));
  return [...anchors, ...svid.chainDer.slice(1)];
}

/** The certificate our own key signs with: the self-signed anchor, or the intermediate under upstream. */
async function ownCaCertificate(ca: Ca): Promise<Uint8Array> {
  const svid = await ca.issueX509Svid({ spiffeId: `spiffe://${TD}/w`, csr: opensslCsr() });
  const own = svid.chainDer[1] ?? ca.localBundle().x509Authorities[0]?.der;
  if (own === undefined) throw new Error('no ca certificate');
  return own;
}

/** A CA in self-signed mode and one under an operator root (upstream mode). */
const MODES = [
  ['self-signed', (): Promise<Ca> => openCa(testClock(new Date()))],
  [
    'upstream',
    // The upstream first: openssl dates it by its own clock, which must not be ahead of the test's.
    (): Promise<Ca> => {
      const upstream = opensslUpstreamRoot(tempDir());
      return openCa(testClock(new Date()), { upstream });
    },
  ],
] as const;

describe('X509-SVID leaves (X509-4, X509-5)', () => {
  it.each(['ec-p256', 'rsa-2048'] as const)(
    'X509-4: every %s-signed leaf has a critical basicConstraints with cA false and no pathLen',
    async (keyType) => {
      const ca = await openCa(testClock(), { keyType });
      for (const der of await leavesOf(ca)) {
        const bc = parsed(der).getExtension(x509.BasicConstraintsExtension);
        expect(bc).not.toBeNull();
        expect(bc?.critical).toBe(true);
        expect(bc?.ca).toBe(false);
        expect(bc?.pathLength).toBeUndefined();
        expect(new X509Certificate(der).ca).toBe(false);
      }
      await ca.close();
    },
  );

  it.each(['ec-p256', 'rsa-2048'] as const)(
    'X509-5: every %s-signed leaf has a critical key usage with digitalSignature only',
    async (keyType) => {
      const ca = await openCa(testClock(), { keyType });
      for (const der of await leavesOf(ca)) {
        const ku = parsed(der).getExtension(x509.KeyUsagesExtension);
        expect(ku?.critical).toBe(true);
        // Not keyEncipherment/keyAgreement (policy), never keyCertSign/cRLSign (spec).
        expect(ku?.usages).toBe(x509.KeyUsageFlags.digitalSignature);
      }
      await ca.close();
    },
  );
});

describe.each(MODES)(
  'CA certificates in %s mode (X509-11, X509-14, X509-15, X509-16)',
  (_m, open) => {
    it('X509-11: every CA certificate has a critical basicConstraints with cA true', async () => {
      const ca = await open();
      const certificates = await caCertificatesOf(ca);
      expect(certificates.length).toBeGreaterThan(0);
      for (const der of certificates) {
        const bc = parsed(der).getExtension(x509.BasicConstraintsExtension);
        expect(bc?.critical).toBe(true);
        expect(bc?.ca).toBe(true);
        expect(new X509Certificate(der).ca).toBe(true);
      }
      await ca.close();
    });

    it('X509-15: no CA certificate of ours carries an extended key usage', async () => {
      const ca = await open();
      expect(extensionOids(await ownCaCertificate(ca))).not.toContain(OID.extKeyUsage);
      await ca.close();
    });

    it('X509-14: name constraints are off (no CA certificate of ours carries nameConstraints)', async () => {
      const ca = await open();
      expect(extensionOids(await ownCaCertificate(ca))).not.toContain(OID.nameConstraints);
      await ca.close();
    });

    it('X509-16: every CA certificate published in our bundle is self-signed, also mid-rotation', async () => {
      const ca = await open();
      await ca.prepare('x509');
      const anchors = ca.localBundle().x509Authorities;
      expect(anchors.length).toBeGreaterThan(0);
      for (const anchor of anchors) {
        const cert = new X509Certificate(Buffer.from(anchor.der));
        expect(cert.subject).toBe(cert.issuer);
        expect(cert.checkIssued(cert)).toBe(true);
        expect(cert.verify(cert.publicKey)).toBe(true);
      }
      await ca.close();
    });
  },
);

describe('possession and revocation (X509-29, X509-30)', () => {
  it('X509-29: the CA certifies a key only on proof of possession (a CSR whose signature does not verify is refused)', async () => {
    const ca = await openCa(testClock());
    const good = opensslCsr();
    // Flip one bit of the CSR's signature (the last byte of the DER): the structure still parses.
    const forged = Buffer.from(good);
    forged[forged.length - 1] = (forged[forged.length - 1] ?? 0) ^ 0x01;
    expect(await codeOf(ca.issueX509Svid({ spiffeId: `spiffe://${TD}/w`, csr: forged }))).toBe(
      'ERR_CA_CSR_SIGNATURE',
    );
    expect(await codeOf(ca.checkCsr(forged))).toBe('ERR_CA_CSR_SIGNATURE');
    // The untouched CSR is accepted: the refusal above is the signature, nothing else.
    const svid = await ca.issueX509Svid({ spiffeId: `spiffe://${TD}/w`, csr: good });
    expect(svid.chainDer).toHaveLength(1);
    await ca.close();
  });

  it('X509-30: no CRL or OCSP pointers in leaves or CAs; a short lifetime is what limits a leaf', async () => {
    const ca = await openCa(testClock());
    const certificates = [...(await leavesOf(ca)), ...(await caCertificatesOf(ca))];
    for (const der of certificates) {
      const oids = extensionOids(der);
      expect(oids).not.toContain(OID.crlDistributionPoints);
      expect(oids).not.toContain(OID.authorityInfoAccess);
    }
    const leaf = parsed(certificates[0] as Buffer);
    expect(leaf.notAfter.getTime() - leaf.notBefore.getTime()).toBeLessThanOrEqual(
      3600_000 + 30_000,
    );
    await ca.close();
  });
});
