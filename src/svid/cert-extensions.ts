// Values of the X.509 extensions path validation acts on (RFC 5280 §4.2): basicConstraints, keyUsage,
// subjectAltName GeneralNames and nameConstraints, decoded on the strict DER reader (X509-20).
import {
  booleanValue,
  DerError,
  expectTlv,
  readTlv,
  smallUint,
  TAG,
  type Tlv,
} from '../encoding/index.js';

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

function fail(what: string): never {
  throw new DerError(what);
}

/** basicConstraints value: SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLenConstraint INTEGER OPTIONAL }. */
export function parseBasicConstraints(value: Buffer): BasicConstraints {
  const seq = expectTlv(value, 0, TAG.sequence, value.length, 'basic constraints');
  if (seq.end !== value.length) fail('trailing data');
  let pos = seq.contentStart;
  let ca = false;
  let pathLen: number | undefined;
  if (pos < seq.end) {
    let tlv = readTlv(value, pos, seq.end);
    if (tlv.tag === TAG.boolean) {
      ca = booleanValue(value, tlv);
      pos = tlv.end;
      if (pos < seq.end) tlv = readTlv(value, pos, seq.end);
    }
    if (pos < seq.end) {
      if (tlv.tag !== TAG.integer) fail('bad path length');
      pathLen = smallUint(value, tlv);
      if (tlv.end !== seq.end) fail('trailing data');
    }
  }
  return { ca, pathLen };
}

/** keyUsage BIT STRING as flags: bit n of the named bit list becomes 1 << n (digitalSignature = 1). */
export function parseKeyUsage(value: Buffer): number {
  const tlv = expectTlv(value, 0, TAG.bitString, value.length, 'key usage');
  if (tlv.end !== value.length || tlv.end === tlv.contentStart) fail('bad key usage');
  const unused = value[tlv.contentStart] as number;
  if (unused > 7) fail('bad key usage');
  let flags = 0;
  const bytes = tlv.end - tlv.contentStart - 1;
  for (let i = 0; i < bytes && i < 2; i++) {
    const byte = value[tlv.contentStart + 1 + i] as number;
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
    for (let i = tlv.contentStart; i < tlv.end; i++) {
      if ((buf[i] as number) > 0x7e || (buf[i] as number) < 0x20) fail('name is not printable ia5');
    }
  }
  return { tag: tagNumber, value: buf.subarray(tlv.contentStart, tlv.end) };
}

/** subjectAltName value: GeneralNames ::= SEQUENCE SIZE (1..MAX) OF GeneralName. */
export function parseGeneralNames(value: Buffer): GeneralName[] {
  const seq = expectTlv(value, 0, TAG.sequence, value.length, 'general names');
  if (seq.end !== value.length) fail('trailing data');
  const out: GeneralName[] = [];
  let pos = seq.contentStart;
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
  let pos = tlv.contentStart;
  while (pos < tlv.end) {
    const subtree = expectTlv(buf, pos, TAG.sequence, tlv.end, 'general subtree');
    const base = readTlv(buf, subtree.contentStart, subtree.end);
    out.push(readGeneralName(buf, base));
    let p = base.end;
    while (p < subtree.end) {
      const field = readTlv(buf, p, subtree.end);
      if (field.tag === 0x80) {
        if (smallUint(buf, field) !== 0) flags.distance = true;
      } else if (field.tag === 0x81) {
        smallUint(buf, field);
        flags.distance = true;
      } else {
        fail('bad general subtree');
      }
      p = field.end;
    }
    pos = subtree.end;
  }
  if (pos === tlv.contentStart) fail('empty subtrees');
}

/** nameConstraints value: SEQUENCE { permittedSubtrees [0] OPTIONAL, excludedSubtrees [1] OPTIONAL }. */
export function parseNameConstraints(value: Buffer): NameConstraints {
  const seq = expectTlv(value, 0, TAG.sequence, value.length, 'name constraints');
  if (seq.end !== value.length) fail('trailing data');
  const permitted: GeneralName[] = [];
  const excluded: GeneralName[] = [];
  const flags = { distance: false };
  let pos = seq.contentStart;
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
