// Builds a PKCS#10 certificate signing request for a locally generated key (the key never leaves).
// The CA ignores everything but the public key and checks the signature (proof of possession).
import { sign, type KeyObject } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { CertificationRequest, CertificationRequestInfo } from '@peculiar/asn1-csr';
import { AlgorithmIdentifier, Name, SubjectPublicKeyInfo } from '@peculiar/asn1-x509';

/** ecdsa-with-SHA256 (RFC 5758). */
const ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';

/** CSR (PEM) for an EC P-256 key pair, empty subject, no attributes. */
export function createCsrPem(privateKey: KeyObject, publicKey: KeyObject): string {
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  const info = new CertificationRequestInfo({
    version: 0,
    subject: new Name(),
    subjectPKInfo: AsnConvert.parse(spki, SubjectPublicKeyInfo),
  });
  const infoDer = Buffer.from(AsnConvert.serialize(info));
  const signature = sign('sha256', infoDer, { key: privateKey, dsaEncoding: 'der' });
  const request = new CertificationRequest({
    certificationRequestInfo: info,
    signatureAlgorithm: new AlgorithmIdentifier({ algorithm: ECDSA_WITH_SHA256 }),
    signature: new Uint8Array(signature).buffer,
  });
  const der = Buffer.from(AsnConvert.serialize(request));
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE REQUEST-----\n${lines.join('\n')}\n-----END CERTIFICATE REQUEST-----\n`;
}
