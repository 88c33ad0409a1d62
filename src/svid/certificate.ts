// X.509 certificate parsing for path validation (X509-20, X509-31): just the fields the verifier needs,
// as subarrays of the input, parsed once on the encoding room's strict DER reader so verification
// stays cheap. The values of the extensions we act on are decoded in cert-extensions.ts.
import {
  booleanValue,
  checkDerTree,
  checkOid,
  children,
  DerError,
  describeOid,
  expectTlv,
  readTlv,
  smallUint,
  TAG,
  type Tlv,
} from '../encoding/index.js';

/** Hex of the OID contents (no tag/length); cheaper to compare than dotted strings. */
export const OID_HEX = {
  basicConstraints: '551d13',
  keyUsage: '551d0f',
  extKeyUsage: '551d25',
  subjectAltName: '551d11',
  nameConstraints: '551d1e',
  subjectKeyIdentifier: '551d0e',
  authorityKeyIdentifier: '551d23',
} as const;

const SIG_ECDSA_SHA256 = '2a8648ce3d040302';
const SIG_ECDSA_SHA384 = '2a8648ce3d040303';
const SIG_ECDSA_SHA512 = '2a8648ce3d040304';
const SIG_RSA_SHA256 = '2a864886f70d01010b';
const SIG_RSA_SHA384 = '2a864886f70d01010c';
const SIG_RSA_SHA512 = '2a864886f70d01010d';
const SIG_RSA_PSS = '2a864886f70d01010a';
const SIG_ED25519 = '2b6570';
const MGF1 = '2a864886f70d010108';
const HASH_BY_OID: Readonly<Record<string, SignatureHash>> = {
  '608648016503040201': 'sha256',
  '608648016503040202': 'sha384',
  '608648016503040203': 'sha512',
};

export type SignatureHash = 'sha256' | 'sha384' | 'sha512';

/** A certificate signature algorithm, reduced to what node:crypto needs. */
export type SignatureAlgorithm =
  | { readonly kind: 'ecdsa'; readonly hash: SignatureHash }
  | { readonly kind: 'rsa-pkcs1'; readonly hash: SignatureHash }
  | { readonly kind: 'rsa-pss'; readonly hash: SignatureHash; readonly saltLength: number }
  | { readonly kind: 'ed25519' }
  | { readonly kind: 'unsupported'; readonly oid: string };

export interface RawExtension {
  /** Hex of the OID contents; see OID_HEX. */
  readonly oidHex: string;
  readonly critical: boolean;
  /** Contents of the extnValue OCTET STRING (the DER of the extension's own value). */
  readonly value: Buffer;
}

export interface ParsedCertificate {
  readonly der: Buffer;
  /** The full TBSCertificate TLV: the signed bytes. */
  readonly tbs: Buffer;
  readonly signatureAlgorithm: SignatureAlgorithm;
  /** BIT STRING contents without the unused-bits byte. */
  readonly signature: Buffer;
  /** INTEGER contents (two's complement, big-endian). */
  readonly serialNumber: Buffer;
  /** Full Name TLVs, compared byte for byte when building paths (as Go does). */
  readonly issuer: Buffer;
  readonly subject: Buffer;
  readonly notBeforeMs: number;
  readonly notAfterMs: number;
  /** The SubjectPublicKeyInfo TLV, ready for createPublicKey({ format: 'der', type: 'spki' }). */
  readonly spki: Buffer;
  readonly extensions: readonly RawExtension[];
}

function fail(what: string): never {
  throw new DerError(what);
}

function readTime(buf: Buffer, pos: number, limit: number): { ms: number; end: number } {
  const tlv = readTlv(buf, pos, limit);
  const len = tlv.end - tlv.contentStart;
  let i = tlv.contentStart;
  const digits = (n: number): number => {
    let v = 0;
    for (let k = 0; k < n; k++) {
      const c = (buf[i++] as number) - 0x30;
      if (c < 0 || c > 9) fail('bad time digit');
      v = v * 10 + c;
    }
    return v;
  };
  let year: number;
  if (tlv.tag === TAG.utcTime) {
    if (len !== 13) fail('utctime must be YYMMDDHHMMSSZ');
    const yy = digits(2);
    year = yy < 50 ? 2000 + yy : 1900 + yy;
  } else if (tlv.tag === TAG.generalizedTime) {
    if (len !== 15) fail('generalizedtime must be YYYYMMDDHHMMSSZ');
    year = digits(4);
    if (year < 100) fail('year out of range'); // Date.UTC would read it as 19xx
  } else {
    fail('expected a time');
  }
  const month = digits(2);
  const day = digits(2);
  const hour = digits(2);
  const minute = digits(2);
  const second = digits(2);
  if (buf[i] !== 0x5a) fail('time must end with Z');
  const ms = Date.UTC(year, month - 1, day, hour, minute, second);
  const check = new Date(ms);
  if (
    month < 1 ||
    hour > 23 ||
    minute > 59 ||
    second > 59 ||
    check.getUTCMonth() !== month - 1 ||
    check.getUTCDate() !== day
  ) {
    fail('time out of range');
  }
  return { ms, end: tlv.end };
}

function hashOfAlgorithmIdentifier(buf: Buffer, tlv: Tlv): SignatureHash {
  const oid = expectTlv(buf, tlv.contentStart, TAG.oid, tlv.end, 'hash oid');
  const hash = HASH_BY_OID[buf.toString('hex', oid.contentStart, oid.end)];
  if (hash === undefined) return fail('unsupported hash');
  if (oid.end !== tlv.end) {
    const params = expectTlv(buf, oid.end, TAG.null, tlv.end, 'null parameters');
    if (params.end !== tlv.end || params.contentStart !== params.end) fail('bad hash parameters');
  }
  return hash;
}

function readPssParams(buf: Buffer, start: number, end: number): SignatureAlgorithm {
  const seq = expectTlv(buf, start, TAG.sequence, end, 'pss parameters');
  if (seq.end !== end) fail('trailing data after pss parameters');
  let pos = seq.contentStart;
  let hash: SignatureHash | undefined;
  let mgfHash: SignatureHash | undefined;
  let saltLength = 20;
  while (pos < seq.end) {
    const field = readTlv(buf, pos, seq.end);
    const inner = readTlv(buf, field.contentStart, field.end);
    if (inner.end !== field.end) fail('bad pss field');
    if (field.tag === 0xa0) {
      if (inner.tag !== TAG.sequence) fail('bad pss hash');
      hash = hashOfAlgorithmIdentifier(buf, inner);
    } else if (field.tag === 0xa1) {
      if (inner.tag !== TAG.sequence) fail('bad pss mgf');
      const mgfOid = expectTlv(buf, inner.contentStart, TAG.oid, inner.end, 'mgf oid');
      if (buf.toString('hex', mgfOid.contentStart, mgfOid.end) !== MGF1) fail('unsupported mgf');
      const mgfParams = expectTlv(buf, mgfOid.end, TAG.sequence, inner.end, 'mgf1 hash');
      if (mgfParams.end !== inner.end) fail('bad mgf parameters');
      mgfHash = hashOfAlgorithmIdentifier(buf, mgfParams);
    } else if (field.tag === 0xa2) {
      if (inner.tag !== TAG.integer) fail('bad pss salt length');
      saltLength = smallUint(buf, inner);
    } else if (field.tag === 0xa3) {
      if (inner.tag !== TAG.integer || smallUint(buf, inner) !== 1) fail('bad pss trailer');
    } else {
      fail('unknown pss field');
    }
    pos = field.end;
  }
  // SHA-1 defaults are refused: the hash must be explicit and MGF1 must use the same hash.
  if (hash === undefined || mgfHash !== hash) {
    return { kind: 'unsupported', oid: '1.2.840.113549.1.1.10' };
  }
  return { kind: 'rsa-pss', hash, saltLength };
}

function readSignatureAlgorithm(buf: Buffer, tlv: Tlv): SignatureAlgorithm {
  const oid = expectTlv(buf, tlv.contentStart, TAG.oid, tlv.end, 'algorithm oid');
  const hex = buf.toString('hex', oid.contentStart, oid.end);
  const hasParams = oid.end !== tlv.end;
  const nullOrAbsent = (): void => {
    if (!hasParams) return;
    const p = expectTlv(buf, oid.end, TAG.null, tlv.end, 'null parameters');
    if (p.end !== tlv.end || p.contentStart !== p.end) fail('bad algorithm parameters');
  };
  const absent = (): void => {
    if (hasParams) fail('algorithm parameters must be absent');
  };
  switch (hex) {
    case SIG_ECDSA_SHA256:
      absent();
      return { kind: 'ecdsa', hash: 'sha256' };
    case SIG_ECDSA_SHA384:
      absent();
      return { kind: 'ecdsa', hash: 'sha384' };
    case SIG_ECDSA_SHA512:
      absent();
      return { kind: 'ecdsa', hash: 'sha512' };
    case SIG_RSA_SHA256:
      nullOrAbsent();
      return { kind: 'rsa-pkcs1', hash: 'sha256' };
    case SIG_RSA_SHA384:
      nullOrAbsent();
      return { kind: 'rsa-pkcs1', hash: 'sha384' };
    case SIG_RSA_SHA512:
      nullOrAbsent();
      return { kind: 'rsa-pkcs1', hash: 'sha512' };
    case SIG_ED25519:
      absent();
      return { kind: 'ed25519' };
    case SIG_RSA_PSS:
      if (!hasParams) fail('rsa-pss needs parameters');
      return readPssParams(buf, oid.end, tlv.end);
    default:
      return { kind: 'unsupported', oid: describeOid(buf.subarray(oid.contentStart, oid.end)) };
  }
}

/**
 * The key identifier extensions are not acted on, but OpenSSL decodes them with every certificate
 * and refuses one whose value does not parse (RFC 5280 §4.2.1.1, §4.2.1.2): an OCTET STRING, and a
 * SEQUENCE of [0] key id, [1] issuer, [2] serial.
 */
function checkKeyIdentifierExtension(oidHex: string, value: Buffer): void {
  if (oidHex !== OID_HEX.subjectKeyIdentifier && oidHex !== OID_HEX.authorityKeyIdentifier) return;
  const tlv = readTlv(value, 0);
  if (tlv.end !== value.length) fail('trailing data after a key identifier');
  if (oidHex === OID_HEX.subjectKeyIdentifier) {
    if (tlv.tag !== TAG.octetString) fail('bad subject key identifier');
    return;
  }
  if (tlv.tag !== TAG.sequence) fail('bad authority key identifier');
  let last = 0;
  for (const field of children(value, tlv)) {
    if (![0x80, 0xa1, 0x82].includes(field.tag) || field.tag <= last) {
      fail('bad authority key identifier');
    }
    last = field.tag;
    checkDerTree(value, field);
  }
}

function readExtensions(buf: Buffer, start: number, end: number): RawExtension[] {
  const seq = expectTlv(buf, start, TAG.sequence, end, 'extensions');
  if (seq.end !== end) fail('trailing data after extensions');
  const out: RawExtension[] = [];
  const seen = new Set<string>();
  let pos = seq.contentStart;
  while (pos < seq.end) {
    const ext = expectTlv(buf, pos, TAG.sequence, seq.end, 'extension');
    const oid = expectTlv(buf, ext.contentStart, TAG.oid, ext.end, 'extension oid');
    checkOid(buf, oid);
    let p = oid.end;
    let critical = false;
    let tlv = readTlv(buf, p, ext.end);
    if (tlv.tag === TAG.boolean) {
      critical = booleanValue(buf, tlv);
      p = tlv.end;
      tlv = readTlv(buf, p, ext.end);
    }
    if (tlv.tag !== TAG.octetString || tlv.end !== ext.end) fail('bad extension value');
    const oidHex = buf.toString('hex', oid.contentStart, oid.end);
    // RFC 5280 §4.2: a certificate MUST NOT include more than one instance of an extension.
    if (seen.has(oidHex)) fail('duplicate extension');
    seen.add(oidHex);
    const value = buf.subarray(tlv.contentStart, tlv.end);
    checkKeyIdentifierExtension(oidHex, value);
    out.push({ oidHex, critical, value });
    pos = ext.end;
  }
  return out;
}

/**
 * The types an attribute value may take (RFC 5280 §4.1.2.4 and Appendix A: the DirectoryString
 * choices, IA5String, PrintableString and NumericString), with the octet count each needs.
 * OpenSSL also keeps some other universal types as unknown; we refuse them (X509-20).
 */
const NAME_VALUE_UNIT: ReadonlyMap<number, number> = new Map([
  [0x0c, 1], // UTF8String
  [0x12, 1], // NumericString
  [0x13, 1], // PrintableString
  [0x14, 1], // TeletexString
  [0x16, 1], // IA5String
  [0x1c, 4], // UniversalString
  [0x1e, 2], // BMPString
]);

/**
 * A Name is kept whole (compared byte for byte) but must still parse (RFC 5280 §4.1.2.4): a SEQUENCE
 * of non-empty SETs of AttributeTypeAndValue, each an OBJECT IDENTIFIER and one value in strict DER.
 */
function checkName(buf: Buffer, name: Tlv): void {
  for (const rdn of children(buf, name)) {
    if (rdn.tag !== TAG.set) fail('expected a relative distinguished name');
    const attributes = children(buf, rdn);
    if (attributes.length === 0) fail('empty relative distinguished name');
    for (const attribute of attributes) {
      if (attribute.tag !== TAG.sequence) fail('expected an attribute');
      const [type, value, ...rest] = children(buf, attribute);
      if (type?.tag !== TAG.oid || value === undefined || rest.length > 0) fail('bad attribute');
      checkOid(buf, type);
      const unit = NAME_VALUE_UNIT.get(value.tag);
      if (unit === undefined || (value.end - value.contentStart) % unit !== 0) {
        fail('attribute value is not a string a Name holds');
      }
    }
  }
}

/** SubjectPublicKeyInfo (RFC 5280 §4.1.2.7): an AlgorithmIdentifier and a BIT STRING, strict DER. */
function checkSpki(buf: Buffer, spki: Tlv): void {
  const [algorithm, key, ...rest] = children(buf, spki);
  if (algorithm?.tag !== TAG.sequence || key?.tag !== TAG.bitString || rest.length > 0) {
    fail('bad subject public key info');
  }
  expectTlv(buf, algorithm.contentStart, TAG.oid, algorithm.end, 'key algorithm');
  checkDerTree(buf, algorithm);
  checkDerTree(buf, key);
}

/** Parses one DER certificate. Throws DerError on anything that is not strict DER of the expected shape. */
export function parseCertificate(input: Uint8Array): ParsedCertificate {
  const der = Buffer.isBuffer(input)
    ? input
    : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  const cert = expectTlv(der, 0, TAG.sequence, der.length, 'certificate');
  if (cert.end !== der.length) fail('trailing data after certificate');
  const tbsTlv = expectTlv(der, cert.contentStart, TAG.sequence, cert.end, 'tbs certificate');
  const outerAlg = expectTlv(der, tbsTlv.end, TAG.sequence, cert.end, 'signature algorithm');
  const sigTlv = expectTlv(der, outerAlg.end, TAG.bitString, cert.end, 'signature');
  if (sigTlv.end !== cert.end) fail('trailing data in certificate');
  if (sigTlv.end === sigTlv.contentStart || der[sigTlv.contentStart] !== 0) {
    fail('signature bit string must have no unused bits');
  }

  let pos = tbsTlv.contentStart;
  const end = tbsTlv.end;
  let version = 0;
  let tlv = readTlv(der, pos, end);
  if (tlv.tag === 0xa0) {
    const v = expectTlv(der, tlv.contentStart, TAG.integer, tlv.end, 'version');
    if (v.end !== tlv.end || v.end - v.contentStart !== 1) fail('bad version');
    version = der[v.contentStart] as number;
    if (version > 2) fail('unknown version');
    pos = tlv.end;
    tlv = readTlv(der, pos, end);
  }
  if (tlv.tag !== TAG.integer || tlv.end === tlv.contentStart) fail('expected serial number');
  const serialNumber = der.subarray(tlv.contentStart, tlv.end);
  const innerAlg = expectTlv(der, tlv.end, TAG.sequence, end, 'tbs signature algorithm');
  // RFC 5280 §4.1.1.2: the inner and outer algorithm identifiers must be identical.
  if (!der.subarray(tlv.end, innerAlg.end).equals(der.subarray(tbsTlv.end, outerAlg.end))) {
    fail('signature algorithm mismatch');
  }
  const issuerTlv = expectTlv(der, innerAlg.end, TAG.sequence, end, 'issuer');
  checkName(der, issuerTlv);
  const validity = expectTlv(der, issuerTlv.end, TAG.sequence, end, 'validity');
  const notBefore = readTime(der, validity.contentStart, validity.end);
  const notAfter = readTime(der, notBefore.end, validity.end);
  if (notAfter.end !== validity.end) fail('trailing data in validity');
  const subjectTlv = expectTlv(der, validity.end, TAG.sequence, end, 'subject');
  checkName(der, subjectTlv);
  const spkiTlv = expectTlv(der, subjectTlv.end, TAG.sequence, end, 'subject public key info');
  checkSpki(der, spkiTlv);
  pos = spkiTlv.end;
  let extensions: RawExtension[] = [];
  let lastTag = 0;
  while (pos < end) {
    tlv = readTlv(der, pos, end);
    if (tlv.tag <= lastTag) fail('unexpected field order');
    lastTag = tlv.tag;
    if (tlv.tag === 0x81 || tlv.tag === 0x82) {
      // [1] and [2] IMPLICIT UniqueIdentifier: a BIT STRING, primitive in DER.
      if (version < 1) fail('unique ids need v2 or v3');
      checkDerTree(der, { ...tlv, tag: TAG.bitString });
    } else if (tlv.tag === 0xa3) {
      if (version !== 2) fail('extensions need v3');
      extensions = readExtensions(der, tlv.contentStart, tlv.end);
    } else {
      fail('unexpected field in tbs certificate');
    }
    pos = tlv.end;
  }

  return {
    der,
    tbs: der.subarray(cert.contentStart, tbsTlv.end),
    signatureAlgorithm: readSignatureAlgorithm(der, outerAlg),
    signature: der.subarray(sigTlv.contentStart + 1, sigTlv.end),
    serialNumber,
    issuer: der.subarray(innerAlg.end, issuerTlv.end),
    subject: der.subarray(validity.end, subjectTlv.end),
    notBeforeMs: notBefore.ms,
    notAfterMs: notAfter.ms,
    spki: der.subarray(subjectTlv.end, spkiTlv.end),
    extensions,
  };
}

/** Dotted form of an OID given as OID_HEX-style hex, for messages (the encoding room's printer). */
export function oidHexToString(hex: string): string {
  return describeOid(Buffer.from(hex, 'hex'));
}
