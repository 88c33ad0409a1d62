// Reads the few fields the CA needs from trusted certificates (ours, or the operator's upstream CA):
// subject Name bytes (the issuer of what we sign), SPKI, key identifier, basicConstraints, keyUsage.
import {
  children,
  content,
  DerError,
  expectTlv,
  oidText,
  raw,
  readTlv,
} from '../encoding/index.js';
import { keyIdentifier, spkiKeyBits } from './subject-key.js';

export interface CertificateParts {
  readonly subjectNameDer: Buffer;
  readonly issuerNameDer: Buffer;
  readonly spkiDer: Buffer;
  /** The SKI extension, or RFC 5280 method 1 computed from the key when absent. */
  readonly keyIdentifier: Buffer;
  /** basicConstraints: cA flag and pathLenConstraint (undefined = unlimited). */
  readonly isCa: boolean;
  readonly pathLen: number | undefined;
  /** keyUsage bit string (bit 0 = digitalSignature), or undefined when the extension is absent. */
  readonly keyUsage: { readonly keyCertSign: boolean } | undefined;
}

const SKI = '2.5.29.14';
const KEY_USAGE = '2.5.29.15';
const BASIC_CONSTRAINTS = '2.5.29.19';

/** Throws DerError when the bytes are not a certificate of the expected shape. */
export function readCertificateParts(der: Uint8Array): CertificateParts {
  const certificate = expectTlv(der, 0, 0x30);
  if (certificate.end !== der.length) throw new DerError('trailing bytes after certificate');
  const tbs = expectTlv(der, certificate.contentStart, 0x30, certificate.end);
  const fields = children(der, tbs);
  let i = fields[0]?.tag === 0xa0 ? 1 : 0;
  const next = (): NonNullable<(typeof fields)[number]> => {
    const field = fields[i++];
    if (field === undefined) throw new DerError('truncated TBSCertificate');
    return field;
  };
  next(); // serialNumber
  next(); // signature
  const issuer = next();
  next(); // validity
  const subject = next();
  const spki = next();
  const extensions = new Map<string, Buffer>();
  for (; i < fields.length; i++) {
    const field = fields[i];
    if (field?.tag !== 0xa3) continue;
    const list = expectTlv(der, field.contentStart, 0x30, field.end);
    for (const ext of children(der, list)) {
      const parts = children(der, ext);
      const id = parts[0];
      const value = parts[parts.length - 1];
      if (id?.tag !== 0x06 || value?.tag !== 0x04) throw new DerError('malformed extension');
      extensions.set(oidText(content(der, id)), content(der, value));
    }
  }
  const spkiDer = Buffer.from(raw(der, spki));
  const ski = extensions.get(SKI);
  let isCa = false;
  let pathLen: number | undefined;
  const bc = extensions.get(BASIC_CONSTRAINTS);
  if (bc !== undefined) {
    const seq = expectTlv(bc, 0, 0x30);
    for (const part of children(bc, seq)) {
      if (part.tag === 0x01) isCa = bc[part.contentStart] !== 0;
      if (part.tag === 0x02) pathLen = Number(BigInt('0x' + content(bc, part).toString('hex')));
    }
  }
  const ku = extensions.get(KEY_USAGE);
  let keyUsage: CertificateParts['keyUsage'];
  if (ku !== undefined) {
    const bits = content(ku, readTlv(ku, 0));
    // bits[0] is the unused-bit count; keyCertSign is bit 5 of the first octet.
    keyUsage = { keyCertSign: ((bits[1] ?? 0) & 0x04) !== 0 };
  }
  return {
    subjectNameDer: Buffer.from(raw(der, subject)),
    issuerNameDer: Buffer.from(raw(der, issuer)),
    spkiDer,
    keyIdentifier:
      ski !== undefined
        ? Buffer.from(content(ski, expectTlv(ski, 0, 0x04)))
        : keyIdentifier(spkiKeyBits(spkiDer)),
    isCa,
    pathLen,
    keyUsage,
  };
}
