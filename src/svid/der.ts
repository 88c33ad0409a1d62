// Small strict DER reader for X.509 certificates: just the fields path validation needs (X509-20, X509-31).
// No general ASN.1 library: fields are subarrays of the input, parsed once, so verification stays cheap.

/** Thrown by the reader for any malformed input; verifiers turn it into a coded SvidError. */
export class DerError extends Error {}

// Universal tags used below.
const BOOLEAN = 0x01;
const INTEGER = 0x02;
const BIT_STRING = 0x03;
const OCTET_STRING = 0x04;
const NULL = 0x05;
const OID = 0x06;
const UTC_TIME = 0x17;
const GENERALIZED_TIME = 0x18;
const SEQUENCE = 0x30;

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

/** A GeneralName (RFC 5280 §4.2.1.6): its context tag number 0..8 and content bytes. */
export interface GeneralName {
  readonly tag: number;
  /** For primitive forms the string/IP bytes; for constructed forms the inner encoding. */
  readonly value: Buffer;
}

export interface BasicConstraints {
  readonly ca: boolean;
  /** undefined when absent; capped at 2^31-1. */
  readonly pathLen: number | undefined;
}

export interface NameConstraints {
  readonly permitted: readonly GeneralName[];
  readonly excluded: readonly GeneralName[];
  /** A subtree used `minimum` other than 0 or a `maximum` (RFC 5280 forbids both). */
  readonly hasDistanceFields: boolean;
}

interface Tlv {
  readonly tag: number;
  readonly valueStart: number;
  readonly end: number;
}

function fail(what: string): never {
  throw new DerError(what);
}

/** Reads one TLV at `pos`, which must end at or before `limit`. Definite, minimal lengths only (DER). */
function readTlv(buf: Buffer, pos: number, limit: number): Tlv {
  if (pos + 2 > limit) fail('truncated tlv');
  const tag = buf[pos] as number;
  if ((tag & 0x1f) === 0x1f) fail('high tag numbers are not used in certificates');
  let len = buf[pos + 1] as number;
  let valueStart = pos + 2;
  if (len & 0x80) {
    const count = len & 0x7f;
    if (count === 0) fail('indefinite length');
    if (count > 4) fail('length too large');
    if (valueStart + count > limit) fail('truncated length');
    if (buf[valueStart] === 0) fail('non-minimal length');
    len = 0;
    for (let i = 0; i < count; i++) len = len * 256 + (buf[valueStart + i] as number);
    if (len < 0x80) fail('non-minimal length');
    valueStart += count;
  }
  const end = valueStart + len;
  if (end > limit) fail('truncated value');
  return { tag, valueStart, end };
}

function expect(buf: Buffer, pos: number, limit: number, tag: number, what: string): Tlv {
  const tlv = readTlv(buf, pos, limit);
  if (tlv.tag !== tag) fail(`expected ${what}`);
  return tlv;
}

function readTime(buf: Buffer, pos: number, limit: number): { ms: number; end: number } {
  const tlv = readTlv(buf, pos, limit);
  const len = tlv.end - tlv.valueStart;
  let i = tlv.valueStart;
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
  if (tlv.tag === UTC_TIME) {
    if (len !== 13) fail('utctime must be YYMMDDHHMMSSZ');
    const yy = digits(2);
    year = yy < 50 ? 2000 + yy : 1900 + yy;
  } else if (tlv.tag === GENERALIZED_TIME) {
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
  const oid = expect(buf, tlv.valueStart, tlv.end, OID, 'hash oid');
  const hash = HASH_BY_OID[buf.toString('hex', oid.valueStart, oid.end)];
  if (hash === undefined) return fail('unsupported hash');
  if (oid.end !== tlv.end) {
    const params = expect(buf, oid.end, tlv.end, NULL, 'null parameters');
    if (params.end !== tlv.end || params.valueStart !== params.end) fail('bad hash parameters');
  }
  return hash;
}

function readPssParams(buf: Buffer, start: number, end: number): SignatureAlgorithm {
  const seq = expect(buf, start, end, SEQUENCE, 'pss parameters');
  if (seq.end !== end) fail('trailing data after pss parameters');
  let pos = seq.valueStart;
  let hash: SignatureHash | undefined;
  let mgfHash: SignatureHash | undefined;
  let saltLength = 20;
  while (pos < seq.end) {
    const field = readTlv(buf, pos, seq.end);
    const inner = readTlv(buf, field.valueStart, field.end);
    if (inner.end !== field.end) fail('bad pss field');
    if (field.tag === 0xa0) {
      if (inner.tag !== SEQUENCE) fail('bad pss hash');
      hash = hashOfAlgorithmIdentifier(buf, inner);
    } else if (field.tag === 0xa1) {
      if (inner.tag !== SEQUENCE) fail('bad pss mgf');
      const mgfOid = expect(buf, inner.valueStart, inner.end, OID, 'mgf oid');
      if (buf.toString('hex', mgfOid.valueStart, mgfOid.end) !== MGF1) fail('unsupported mgf');
      const mgfParams = expect(buf, mgfOid.end, inner.end, SEQUENCE, 'mgf1 hash');
      if (mgfParams.end !== inner.end) fail('bad mgf parameters');
      mgfHash = hashOfAlgorithmIdentifier(buf, mgfParams);
    } else if (field.tag === 0xa2) {
      if (inner.tag !== INTEGER) fail('bad pss salt length');
      saltLength = readSmallUint(buf, inner);
    } else if (field.tag === 0xa3) {
      if (inner.tag !== INTEGER || readSmallUint(buf, inner) !== 1) fail('bad pss trailer');
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

/** Non-negative INTEGER that fits in 31 bits; larger values are capped (only used for limits). */
function readSmallUint(buf: Buffer, tlv: Tlv): number {
  const len = tlv.end - tlv.valueStart;
  if (len === 0) fail('empty integer');
  const first = buf[tlv.valueStart] as number;
  if (first & 0x80) fail('negative integer');
  if (len > 1 && first === 0 && !((buf[tlv.valueStart + 1] as number) & 0x80)) {
    fail('non-minimal integer');
  }
  let value = 0;
  for (let i = tlv.valueStart; i < tlv.end; i++) {
    value = value * 256 + (buf[i] as number);
    if (value > 0x7fffffff) return 0x7fffffff;
  }
  return value;
}

function readSignatureAlgorithm(buf: Buffer, tlv: Tlv): SignatureAlgorithm {
  const oid = expect(buf, tlv.valueStart, tlv.end, OID, 'algorithm oid');
  const hex = buf.toString('hex', oid.valueStart, oid.end);
  const hasParams = oid.end !== tlv.end;
  const nullOrAbsent = (): void => {
    if (!hasParams) return;
    const p = expect(buf, oid.end, tlv.end, NULL, 'null parameters');
    if (p.end !== tlv.end || p.valueStart !== p.end) fail('bad algorithm parameters');
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
      return { kind: 'unsupported', oid: oidToString(buf.subarray(oid.valueStart, oid.end)) };
  }
}

function readExtensions(buf: Buffer, start: number, end: number): RawExtension[] {
  const seq = expect(buf, start, end, SEQUENCE, 'extensions');
  if (seq.end !== end) fail('trailing data after extensions');
  const out: RawExtension[] = [];
  const seen = new Set<string>();
  let pos = seq.valueStart;
  while (pos < seq.end) {
    const ext = expect(buf, pos, seq.end, SEQUENCE, 'extension');
    const oid = expect(buf, ext.valueStart, ext.end, OID, 'extension oid');
    if (oid.end === oid.valueStart) fail('empty oid');
    let p = oid.end;
    let critical = false;
    let tlv = readTlv(buf, p, ext.end);
    if (tlv.tag === BOOLEAN) {
      if (tlv.end - tlv.valueStart !== 1) fail('bad boolean');
      const b = buf[tlv.valueStart] as number;
      if (b !== 0 && b !== 0xff) fail('bad boolean');
      critical = b === 0xff;
      p = tlv.end;
      tlv = readTlv(buf, p, ext.end);
    }
    if (tlv.tag !== OCTET_STRING || tlv.end !== ext.end) fail('bad extension value');
    const oidHex = buf.toString('hex', oid.valueStart, oid.end);
    // RFC 5280 §4.2: a certificate MUST NOT include more than one instance of an extension.
    if (seen.has(oidHex)) fail('duplicate extension');
    seen.add(oidHex);
    out.push({ oidHex, critical, value: buf.subarray(tlv.valueStart, tlv.end) });
    pos = ext.end;
  }
  return out;
}

/** Parses one DER certificate. Throws DerError on anything that is not strict DER of the expected shape. */
export function parseCertificate(input: Uint8Array): ParsedCertificate {
  const der = Buffer.isBuffer(input)
    ? input
    : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  const cert = expect(der, 0, der.length, SEQUENCE, 'certificate');
  if (cert.end !== der.length) fail('trailing data after certificate');
  const tbsTlv = expect(der, cert.valueStart, cert.end, SEQUENCE, 'tbs certificate');
  const outerAlg = expect(der, tbsTlv.end, cert.end, SEQUENCE, 'signature algorithm');
  const sigTlv = expect(der, outerAlg.end, cert.end, BIT_STRING, 'signature');
  if (sigTlv.end !== cert.end) fail('trailing data in certificate');
  if (sigTlv.end === sigTlv.valueStart || der[sigTlv.valueStart] !== 0) {
    fail('signature bit string must have no unused bits');
  }

  let pos = tbsTlv.valueStart;
  const end = tbsTlv.end;
  let version = 0;
  let tlv = readTlv(der, pos, end);
  if (tlv.tag === 0xa0) {
    const v = expect(der, tlv.valueStart, tlv.end, INTEGER, 'version');
    if (v.end !== tlv.end || v.end - v.valueStart !== 1) fail('bad version');
    version = der[v.valueStart] as number;
    if (version > 2) fail('unknown version');
    pos = tlv.end;
    tlv = readTlv(der, pos, end);
  }
  if (tlv.tag !== INTEGER || tlv.end === tlv.valueStart) fail('expected serial number');
  const serialNumber = der.subarray(tlv.valueStart, tlv.end);
  const innerAlg = expect(der, tlv.end, end, SEQUENCE, 'tbs signature algorithm');
  // RFC 5280 §4.1.1.2: the inner and outer algorithm identifiers must be identical.
  if (!der.subarray(tlv.end, innerAlg.end).equals(der.subarray(tbsTlv.end, outerAlg.end))) {
    fail('signature algorithm mismatch');
  }
  const issuerTlv = expect(der, innerAlg.end, end, SEQUENCE, 'issuer');
  const validity = expect(der, issuerTlv.end, end, SEQUENCE, 'validity');
  const notBefore = readTime(der, validity.valueStart, validity.end);
  const notAfter = readTime(der, notBefore.end, validity.end);
  if (notAfter.end !== validity.end) fail('trailing data in validity');
  const subjectTlv = expect(der, validity.end, end, SEQUENCE, 'subject');
  const spkiTlv = expect(der, subjectTlv.end, end, SEQUENCE, 'subject public key info');
  pos = spkiTlv.end;
  let extensions: RawExtension[] = [];
  let lastTag = 0;
  while (pos < end) {
    tlv = readTlv(der, pos, end);
    if (tlv.tag <= lastTag) fail('unexpected field order');
    lastTag = tlv.tag;
    if (tlv.tag === 0x81 || tlv.tag === 0xa1 || tlv.tag === 0x82 || tlv.tag === 0xa2) {
      if (version < 1) fail('unique ids need v2 or v3');
    } else if (tlv.tag === 0xa3) {
      if (version !== 2) fail('extensions need v3');
      extensions = readExtensions(der, tlv.valueStart, tlv.end);
    } else {
      fail('unexpected field in tbs certificate');
    }
    pos = tlv.end;
  }

  return {
    der,
    tbs: der.subarray(cert.valueStart, tbsTlv.end),
    signatureAlgorithm: readSignatureAlgorithm(der, outerAlg),
    signature: der.subarray(sigTlv.valueStart + 1, sigTlv.end),
    serialNumber,
    issuer: der.subarray(innerAlg.end, issuerTlv.end),
    subject: der.subarray(validity.end, subjectTlv.end),
    notBeforeMs: notBefore.ms,
    notAfterMs: notAfter.ms,
    spki: der.subarray(subjectTlv.end, spkiTlv.end),
    extensions,
  };
}

/** basicConstraints value: SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLenConstraint INTEGER OPTIONAL }. */
export function parseBasicConstraints(value: Buffer): BasicConstraints {
  const seq = expect(value, 0, value.length, SEQUENCE, 'basic constraints');
  if (seq.end !== value.length) fail('trailing data');
  let pos = seq.valueStart;
  let ca = false;
  let pathLen: number | undefined;
  if (pos < seq.end) {
    let tlv = readTlv(value, pos, seq.end);
    if (tlv.tag === BOOLEAN) {
      if (tlv.end - tlv.valueStart !== 1) fail('bad boolean');
      const b = value[tlv.valueStart] as number;
      if (b !== 0 && b !== 0xff) fail('bad boolean');
      ca = b === 0xff;
      pos = tlv.end;
      if (pos < seq.end) tlv = readTlv(value, pos, seq.end);
    }
    if (pos < seq.end) {
      if (tlv.tag !== INTEGER) fail('bad path length');
      pathLen = readSmallUint(value, tlv);
      if (tlv.end !== seq.end) fail('trailing data');
    }
  }
  return { ca, pathLen };
}

/** keyUsage BIT STRING as flags: bit n of the named bit list becomes 1 << n (digitalSignature = 1). */
export function parseKeyUsage(value: Buffer): number {
  const tlv = expect(value, 0, value.length, BIT_STRING, 'key usage');
  if (tlv.end !== value.length || tlv.end === tlv.valueStart) fail('bad key usage');
  const unused = value[tlv.valueStart] as number;
  if (unused > 7) fail('bad key usage');
  let flags = 0;
  const bytes = tlv.end - tlv.valueStart - 1;
  for (let i = 0; i < bytes && i < 2; i++) {
    const byte = value[tlv.valueStart + 1 + i] as number;
    for (let bit = 0; bit < 8; bit++) {
      if (byte & (0x80 >> bit)) flags |= 1 << (i * 8 + bit);
    }
  }
  return flags;
}

function readGeneralName(buf: Buffer, tlv: Tlv): GeneralName {
  const tagNumber = tlv.tag & 0x1f;
  if ((tlv.tag & 0xc0) !== 0x80 || tagNumber > 8) fail('bad general name');
  const constructed = (tlv.tag & 0x20) !== 0;
  // otherName, x400Address, directoryName and ediPartyName are constructed; the rest primitive.
  const mustBeConstructed =
    tagNumber === 0 || tagNumber === 3 || tagNumber === 4 || tagNumber === 5;
  if (constructed !== mustBeConstructed) fail('bad general name form');
  if (tagNumber === 1 || tagNumber === 2 || tagNumber === 6) {
    for (let i = tlv.valueStart; i < tlv.end; i++) {
      if ((buf[i] as number) > 0x7e || (buf[i] as number) < 0x20) fail('name is not printable ia5');
    }
  }
  return { tag: tagNumber, value: buf.subarray(tlv.valueStart, tlv.end) };
}

/** subjectAltName value: GeneralNames ::= SEQUENCE SIZE (1..MAX) OF GeneralName. */
export function parseGeneralNames(value: Buffer): GeneralName[] {
  const seq = expect(value, 0, value.length, SEQUENCE, 'general names');
  if (seq.end !== value.length) fail('trailing data');
  const out: GeneralName[] = [];
  let pos = seq.valueStart;
  while (pos < seq.end) {
    const tlv = readTlv(value, pos, seq.end);
    out.push(readGeneralName(value, tlv));
    pos = tlv.end;
  }
  if (out.length === 0) fail('empty general names');
  return out;
}

function readSubtrees(
  buf: Buffer,
  tlv: Tlv,
  out: GeneralName[],
  flags: { distance: boolean },
): void {
  let pos = tlv.valueStart;
  while (pos < tlv.end) {
    const subtree = expect(buf, pos, tlv.end, SEQUENCE, 'general subtree');
    const base = readTlv(buf, subtree.valueStart, subtree.end);
    out.push(readGeneralName(buf, base));
    let p = base.end;
    while (p < subtree.end) {
      const field = readTlv(buf, p, subtree.end);
      if (field.tag === 0x80) {
        if (readSmallUint(buf, field) !== 0) flags.distance = true;
      } else if (field.tag === 0x81) {
        readSmallUint(buf, field);
        flags.distance = true;
      } else {
        fail('bad general subtree');
      }
      p = field.end;
    }
    pos = subtree.end;
  }
  if (pos === tlv.valueStart) fail('empty subtrees');
}

/** nameConstraints value: SEQUENCE { permittedSubtrees [0] OPTIONAL, excludedSubtrees [1] OPTIONAL }. */
export function parseNameConstraints(value: Buffer): NameConstraints {
  const seq = expect(value, 0, value.length, SEQUENCE, 'name constraints');
  if (seq.end !== value.length) fail('trailing data');
  const permitted: GeneralName[] = [];
  const excluded: GeneralName[] = [];
  const flags = { distance: false };
  let pos = seq.valueStart;
  let lastTag = 0;
  while (pos < seq.end) {
    const tlv = readTlv(value, pos, seq.end);
    if (tlv.tag <= lastTag || (tlv.tag !== 0xa0 && tlv.tag !== 0xa1)) fail('bad name constraints');
    lastTag = tlv.tag;
    readSubtrees(value, tlv, tlv.tag === 0xa0 ? permitted : excluded, flags);
    pos = tlv.end;
  }
  if (permitted.length === 0 && excluded.length === 0) fail('empty name constraints');
  return { permitted, excluded, hasDistanceFields: flags.distance };
}

/** Dotted form of OID contents, for messages. */
export function oidToString(bytes: Buffer): string {
  const parts: number[] = [];
  let value = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i] as number;
    value = value * 128 + (b & 0x7f);
    if (!(b & 0x80)) {
      if (parts.length === 0) {
        const first = value < 80 ? Math.floor(value / 40) : 2;
        parts.push(first, value - first * 40);
      } else {
        parts.push(value);
      }
      value = 0;
    }
  }
  return parts.join('.');
}

/** Dotted form of an OID given as OID_HEX-style hex. */
export function oidHexToString(hex: string): string {
  return oidToString(Buffer.from(hex, 'hex'));
}
