// Unit tests for the DER reader (X509-20, X509-31): field extraction agrees with Node, and non-DER is refused.
import { createPublicKey, X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createCa, createLeaf } from '../../test/helpers/pki.js';
import { DerError } from '../encoding/index.js';
import {
  parseBasicConstraints,
  parseGeneralNames,
  parseKeyUsage,
  parseNameConstraints,
} from './cert-extensions.js';
import { oidHexToString, parseCertificate } from './certificate.js';

const hex = (h: string): Buffer => Buffer.from(h.replace(/\s+/g, ''), 'hex');

const root = await createCa({ trustDomain: 'a.example' });
const leaf = await createLeaf(root, {
  dnsNames: ['svc.a.example'],
  notBefore: new Date(Date.UTC(1999, 11, 31, 23, 59, 59)),
  notAfter: new Date(Date.UTC(2060, 1, 29, 12, 0, 0)),
});
const rsaLeaf = await createLeaf(await createCa({ keyAlg: 'rsa-pss-2048' }), {
  keyAlg: 'rsa-2048',
});

describe('parseCertificate', () => {
  it.each([
    ['ECDSA leaf (UTCTime and GeneralizedTime)', leaf.der],
    ['RSA leaf signed with RSA-PSS', rsaLeaf.der],
    ['self-signed root', root.der],
  ])('X509-20: extracts the same fields as node:crypto for %s', (_name, der) => {
    const parsed = parseCertificate(der);
    const node = new X509Certificate(der);
    expect(parsed.notBeforeMs).toBe(new Date(node.validFrom).getTime());
    expect(parsed.notAfterMs).toBe(new Date(node.validTo).getTime());
    expect(parsed.serialNumber.toString('hex').toUpperCase().replace(/^0+/, '')).toBe(
      node.serialNumber.replace(/^0+/, ''),
    );
    expect(
      createPublicKey({ key: parsed.spki, format: 'der', type: 'spki' }).equals(node.publicKey),
    ).toBe(true);
    expect(
      parsed.der.subarray(parsed.der.length - parsed.signature.length).equals(parsed.signature),
    ).toBe(true);
  });

  it('X509-20: decodes both time forms (1999 as UTCTime, 2060 as GeneralizedTime)', () => {
    const parsed = parseCertificate(leaf.der);
    expect(new Date(parsed.notBeforeMs).toISOString()).toBe('1999-12-31T23:59:59.000Z');
    expect(new Date(parsed.notAfterMs).toISOString()).toBe('2060-02-29T12:00:00.000Z');
  });

  it('reads the signature algorithms we support', () => {
    expect(parseCertificate(leaf.der).signatureAlgorithm).toEqual({
      kind: 'ecdsa',
      hash: 'sha256',
    });
    expect(parseCertificate(rsaLeaf.der).signatureAlgorithm).toEqual({
      kind: 'rsa-pss',
      hash: 'sha256',
      saltLength: 32,
    });
  });

  const der = leaf.der;
  const withLengthChanged = (): Buffer => {
    // Re-encode the outer length in long form with a leading zero byte: not DER.
    const len = der.readUInt16BE(2);
    return Buffer.concat([hex('30 83 00'), Buffer.from([len >> 8, len & 0xff]), der.subarray(4)]);
  };
  const algMismatch = (): Buffer => {
    const copy = Buffer.from(der);
    const oid = hex('2a8648ce3d040302');
    const at = copy.lastIndexOf(oid);
    copy[at + oid.length - 1] = 0x03; // outer algorithm now says SHA-384
    return copy;
  };

  it.each([
    ['empty input', Buffer.alloc(0)],
    ['indefinite length', Buffer.concat([hex('30 80'), der.subarray(4), hex('00 00')])],
    ['non-minimal length', withLengthChanged()],
    ['trailing byte', Buffer.concat([der, hex('00')])],
    ['truncated', der.subarray(0, der.length - 1)],
    ['wrong outer tag', Buffer.concat([hex('31'), der.subarray(1)])],
    ['high tag number', hex('1f 81 00 00')],
    ['inner and outer signature algorithms differ', algMismatch()],
    ['a bare sequence', hex('30 00')],
  ])('X509-20: refuses %s', (_name, input) => {
    expect(() => parseCertificate(input)).toThrow(DerError);
  });
});

// Fields the parser keeps whole must still parse (X509-20): each case is a one-byte change that
// OpenSSL or @peculiar/x509 refused in test/svid/x509-differential.test.ts while we accepted it.
describe('parseCertificate: structure of the fields kept whole', () => {
  const parsed = parseCertificate(leaf.der);
  /** Offset of `part` (a subarray of leaf.der) in leaf.der. */
  const at = (part: Buffer): number => part.byteOffset - parsed.der.byteOffset;
  const issuerAt = at(parsed.issuer);
  const spkiAt = at(parsed.spki);
  /** leaf.der with the byte at `offset` set to `value`. */
  const patched = (offset: number, value: number): Buffer => {
    const copy = Buffer.from(leaf.der);
    copy[offset] = value;
    return copy;
  };
  const firstAttribute = issuerAt + 4; // Name SEQUENCE, then the first RDN SET (short lengths)
  const firstValue = (): number => {
    const typeLength = leaf.der[firstAttribute + 3] as number;
    return firstAttribute + 4 + typeLength;
  };

  it('the test certificate has the shape the cases below patch', () => {
    expect(leaf.der[issuerAt]).toBe(0x30);
    expect(leaf.der[issuerAt + 2]).toBe(0x31);
    expect(leaf.der[firstAttribute]).toBe(0x30);
    expect(leaf.der[firstAttribute + 2]).toBe(0x06);
    expect([0x0c, 0x13]).toContain(leaf.der[firstValue()]);
    expect(() => parseCertificate(leaf.der)).not.toThrow();
  });

  it.each([
    ['an RDN whose SET tag lost its constructed bit', () => patched(issuerAt + 2, 0x11)],
    ['an attribute type that is not an OBJECT IDENTIFIER', () => patched(firstAttribute + 2, 0x07)],
    [
      'an attribute value string with the constructed bit',
      () => patched(firstValue(), (leaf.der[firstValue()] as number) | 0x20),
    ],
    [
      'an attribute value of the application class',
      () => patched(firstValue(), (leaf.der[firstValue()] as number) | 0x40),
    ],
    ['an attribute value tagged as a UTCTime', () => patched(firstValue(), 0x17)],
    [
      'a public key BIT STRING with more than 7 unused bits',
      () => {
        const key = leaf.der.indexOf(hex('03 42 00 04'), spkiAt);
        return patched(key + 2, 0x80);
      },
    ],
    [
      'key algorithm parameters that are not DER (an OID cut short, a BOOLEAN of six octets)',
      () => patched(leaf.der.indexOf(hex('06 07 2a8648ce3d0201'), spkiAt) + 1, 0x06),
    ],
    [
      'an extension OID whose last octet says more follows',
      () => {
        const ext = leaf.der.indexOf(hex('06 03 55 1d'));
        return patched(ext + 4, (leaf.der[ext + 4] as number) | 0x80);
      },
    ],
    [
      'a subject key identifier whose value is not an OCTET STRING (key usage OID turned into it)',
      () => {
        expect(leaf.der.indexOf(hex('06 03 55 1d 0e'))).toBe(-1);
        return patched(leaf.der.indexOf(hex('06 03 55 1d 0f')) + 4, 0x0e);
      },
    ],
    [
      'the extensions field tagged [1] constructed (an issuer unique id must be primitive)',
      () => patched(leaf.der.lastIndexOf(0xa3, leaf.der.indexOf(hex('06 03 55 1d'))), 0xa1),
    ],
  ])('X509-20: refuses %s', (_name, make) => {
    const input = make();
    expect(input.equals(leaf.der)).toBe(false);
    expect(() => parseCertificate(input)).toThrow(DerError);
  });
});

describe('extension values', () => {
  it.each([
    ['digitalSignature', '03 02 07 80', 1],
    ['keyCertSign + cRLSign', '03 02 01 06', 32 | 64],
    ['decipherOnly (second byte)', '03 03 07 00 80', 256],
    ['no bits', '03 01 00', 0],
  ])('keyUsage %s', (_name, value, flags) => {
    expect(parseKeyUsage(hex(value))).toBe(flags);
  });

  it.each([
    ['empty', '30 00', { ca: false, pathLen: undefined }],
    ['cA true', '30 03 01 01 ff', { ca: true, pathLen: undefined }],
    ['cA true, pathLen 0', '30 06 01 01 ff 02 01 00', { ca: true, pathLen: 0 }],
    ['cA true, pathLen 300', '30 07 01 01 ff 02 02 01 2c', { ca: true, pathLen: 300 }],
  ])('basicConstraints %s', (_name, value, expected) => {
    expect(parseBasicConstraints(hex(value))).toEqual(expected);
  });

  it.each([
    ['negative pathLen', () => parseBasicConstraints(hex('30 06 01 01 ff 02 01 ff'))],
    ['non-DER boolean', () => parseBasicConstraints(hex('30 03 01 01 01'))],
    ['keyUsage with 8 unused bits', () => parseKeyUsage(hex('03 02 08 80'))],
    ['empty GeneralNames', () => parseGeneralNames(hex('30 00'))],
    ['URI with a control character', () => parseGeneralNames(hex('30 03 86 01 0a'))],
    ['primitive directoryName', () => parseGeneralNames(hex('30 02 84 00'))],
    ['empty name constraints', () => parseNameConstraints(hex('30 00'))],
    [
      'excluded before permitted',
      () => parseNameConstraints(hex('30 0c a1 04 30 02 82 00 a0 04 30 02 82 00')),
    ],
  ])('refuses %s', (_name, call) => {
    expect(call).toThrow(DerError);
  });

  it('X509-31: reads every URI SAN from DER, duplicates included', () => {
    const names = parseGeneralNames(
      hex('30 1a 86 0b 73 70 69 66 66 65 3a 2f 2f 61 2f 86 0b 73 70 69 66 66 65 3a 2f 2f 61 2f'),
    );
    expect(names.map((n) => [n.tag, n.value.toString('latin1')])).toEqual([
      [6, 'spiffe://a/'],
      [6, 'spiffe://a/'],
    ]);
  });

  it('flags GeneralSubtree distance fields', () => {
    const nc = parseNameConstraints(hex('30 0b a0 09 30 07 82 02 61 62 81 01 01'));
    expect(nc.hasDistanceFields).toBe(true);
    expect(nc.permitted.map((n) => n.value.toString())).toEqual(['ab']);
  });

  it('prints OIDs in dotted form', () => {
    expect(oidHexToString('2a864886f70d01010b')).toBe('1.2.840.113549.1.1.11');
    expect(oidHexToString('551d13')).toBe('2.5.29.19');
  });
});
