// The one DER reader (X.690 DER: definite, minimal lengths): walks TLVs by offset without building an
// object model, for the CA's CSR and certificate reads and the svid room's certificate parser (X509-20).
// Any structural problem throws DerError (ERR_ENCODING_DER); callers map it to their own code.
import { DerError } from './der-error.js';

/** One tag-length-value located inside `bytes`. */
export interface Tlv {
  readonly tag: number;
  /** Offset of the tag byte. */
  readonly start: number;
  /** Offset of the first content byte. */
  readonly contentStart: number;
  /** Offset just past the content. */
  readonly end: number;
}

/**
 * Reads the TLV starting at `offset`, which must end at or before `limit`. Strict DER: definite,
 * minimal lengths only (X.690 §10.1); indefinite, non-minimal and over-long lengths are refused.
 */
export function readTlv(bytes: Uint8Array, offset: number, limit = bytes.length): Tlv {
  if (offset + 2 > limit) throw new DerError('truncated tlv');
  const tag = bytes[offset] as number;
  if ((tag & 0x1f) === 0x1f) throw new DerError('high tag numbers are not used in certificates');
  const first = bytes[offset + 1] as number;
  let contentStart = offset + 2;
  let length: number;
  if (first < 0x80) {
    length = first;
  } else {
    const count = first & 0x7f;
    if (count === 0) throw new DerError('indefinite length');
    if (count > 4) throw new DerError('length too large');
    if (contentStart + count > limit) throw new DerError('truncated length');
    if (bytes[contentStart] === 0) throw new DerError('non-minimal length');
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + (bytes[contentStart + i] as number);
    if (length < 0x80) throw new DerError('non-minimal length');
    contentStart += count;
  }
  const end = contentStart + length;
  if (end > limit) throw new DerError('truncated value');
  return { tag, start: offset, contentStart, end };
}

/** Reads a TLV and insists on its tag; `what` names the field in the error message. */
export function expectTlv(
  bytes: Uint8Array,
  offset: number,
  tag: number,
  limit?: number,
  what?: string,
): Tlv {
  const tlv = readTlv(bytes, offset, limit);
  if (tlv.tag !== tag) {
    throw new DerError(
      what !== undefined
        ? `expected ${what}`
        : `expected tag 0x${tag.toString(16)}, found 0x${tlv.tag.toString(16)}`,
    );
  }
  return tlv;
}

/** The children of a constructed TLV. */
export function children(bytes: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  let offset = parent.contentStart;
  while (offset < parent.end) {
    const child = readTlv(bytes, offset, parent.end);
    out.push(child);
    offset = child.end;
  }
  return out;
}

/**
 * Checks the DER structure under `tlv` to the bottom: every constructed TLV's children fill it
 * exactly (strict lengths, as readTlv), universal tags carry the right form (X.690 §10.2: SEQUENCE
 * and SET constructed, every other universal type primitive), and the universal types whose content
 * even BER fixes are well formed (BOOLEAN one octet, INTEGER at least one, NULL none, a BIT STRING's
 * unused-bits octet, a well-formed OBJECT IDENTIFIER). For fields a parser keeps whole without
 * reading them (a Name, key parameters), so that what OpenSSL refuses to parse is refused here too
 * (X509-20).
 */
export function checkDerTree(bytes: Uint8Array, tlv: Tlv, depth = 0): void {
  if (depth > 32) throw new DerError('nesting too deep');
  const constructed = (tlv.tag & 0x20) !== 0;
  if ((tlv.tag & 0xc0) === 0) {
    const number = tlv.tag & 0x1f;
    if ((number === 0x10 || number === 0x11) !== constructed) {
      throw new DerError(`universal tag 0x${tlv.tag.toString(16)} has the wrong form`);
    }
    checkUniversalContent(bytes, tlv);
  }
  if (constructed) for (const child of children(bytes, tlv)) checkDerTree(bytes, child, depth + 1);
}

function checkUniversalContent(bytes: Uint8Array, tlv: Tlv): void {
  const length = tlv.end - tlv.contentStart;
  const bad =
    (tlv.tag === 0x01 && length !== 1) ||
    (tlv.tag === 0x02 && length === 0) ||
    (tlv.tag === 0x05 && length !== 0) ||
    (tlv.tag === 0x03 &&
      (length === 0 ||
        (bytes[tlv.contentStart] as number) > 7 ||
        (length === 1 && bytes[tlv.contentStart] !== 0)));
  if (bad) throw new DerError(`malformed content for universal tag 0x${tlv.tag.toString(16)}`);
  if (tlv.tag === 0x06) checkOid(bytes, tlv);
}

/** The content bytes of a TLV (a view, not a copy). */
export function content(bytes: Uint8Array, tlv: Tlv): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset + tlv.contentStart, tlv.end - tlv.contentStart);
}

/** The whole TLV, header included (a view, not a copy). */
export function raw(bytes: Uint8Array, tlv: Tlv): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset + tlv.start, tlv.end - tlv.start);
}

/**
 * Walks OBJECT IDENTIFIER content from `start` to `end`: non-empty, minimal arcs, none cut short,
 * each arc a safe integer. Malformed content throws; with `arcs`, the arcs are pushed onto it.
 */
function scanOid(bytes: Uint8Array, start: number, end: number, arcs?: number[]): void {
  if (end === start) throw new DerError('empty object identifier');
  let value = 0;
  let first = true;
  for (let i = start; i < end; i++) {
    const b = bytes[i] as number;
    if (value === 0 && b === 0x80) throw new DerError('non-minimal object identifier');
    value = value * 128 + (b & 0x7f);
    if (value > Number.MAX_SAFE_INTEGER) throw new DerError('object identifier arc too large');
    if ((b & 0x80) === 0) {
      if (first) {
        const top = value < 40 ? 0 : value < 80 ? 1 : 2;
        arcs?.push(top, value - top * 40);
        first = false;
      } else {
        arcs?.push(value);
      }
      value = 0;
    } else if (i === end - 1) {
      throw new DerError('truncated object identifier');
    }
  }
}

/** Checks an OBJECT IDENTIFIER's content as oidText reads it, without building the text. */
export function checkOid(bytes: Uint8Array, tlv: Tlv): void {
  scanOid(bytes, tlv.contentStart, tlv.end);
}

/** The one OID printer: OBJECT IDENTIFIER content to dotted text; malformed content throws. */
export function oidText(body: Uint8Array): string {
  const arcs: number[] = [];
  scanOid(body, 0, body.length, arcs);
  return arcs.join('.');
}

/** Content of a BIT STRING with no unused bits (keys, signatures). */
export function bitStringBytes(bytes: Uint8Array, tlv: Tlv): Buffer {
  if (tlv.tag !== 0x03) throw new DerError('expected a BIT STRING');
  const body = content(bytes, tlv);
  if (body.length === 0 || body[0] !== 0) throw new DerError('bit string has unused bits');
  return body.subarray(1);
}

/** OID content for a message: dotted text, or `hex:<content>` when the encoding is malformed. */
export function describeOid(body: Uint8Array): string {
  try {
    return oidText(body);
  } catch {
    return `hex:${Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('hex')}`;
  }
}

/** Non-negative INTEGER that fits in 31 bits; larger values are capped (only used for limits). */
export function smallUint(bytes: Uint8Array, tlv: Tlv): number {
  const length = tlv.end - tlv.contentStart;
  if (length === 0) throw new DerError('empty integer');
  const first = bytes[tlv.contentStart] as number;
  if (first & 0x80) throw new DerError('negative integer');
  if (length > 1 && first === 0 && !((bytes[tlv.contentStart + 1] as number) & 0x80)) {
    throw new DerError('non-minimal integer');
  }
  let value = 0;
  for (let i = tlv.contentStart; i < tlv.end; i++) {
    value = value * 256 + (bytes[i] as number);
    if (value > 0x7fffffff) return 0x7fffffff;
  }
  return value;
}

/** DER BOOLEAN content: exactly one octet, 0x00 (false) or 0xff (true) (X.690 §11.1). */
export function booleanValue(bytes: Uint8Array, tlv: Tlv): boolean {
  if (tlv.end - tlv.contentStart !== 1) throw new DerError('bad boolean');
  const b = bytes[tlv.contentStart] as number;
  if (b !== 0 && b !== 0xff) throw new DerError('bad boolean');
  return b === 0xff;
}
