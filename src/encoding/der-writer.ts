// Lean DER encoder for the issuing hot path: certificates are assembled from byte parts and signed
// with node:crypto, which is ~20x faster than a generic ASN.1 object model (see bench/ca-issue.ts).

/** Universal and context tags used by X.509 / PKCS#10. */
export const TAG = {
  boolean: 0x01,
  integer: 0x02,
  bitString: 0x03,
  octetString: 0x04,
  null: 0x05,
  oid: 0x06,
  utf8String: 0x0c,
  printableString: 0x13,
  ia5String: 0x16,
  utcTime: 0x17,
  generalizedTime: 0x18,
  sequence: 0x30,
  set: 0x31,
} as const;

function headerLength(length: number): number {
  if (length < 0x80) return 2;
  if (length < 0x100) return 3;
  if (length < 0x10000) return 4;
  if (length < 0x1000000) return 5;
  return 6;
}

function writeHeader(out: Buffer, offset: number, tag: number, length: number): number {
  out[offset++] = tag;
  if (length < 0x80) {
    out[offset++] = length;
    return offset;
  }
  const bytes = headerLength(length) - 2;
  out[offset++] = 0x80 | bytes;
  for (let i = bytes - 1; i >= 0; i--) out[offset++] = (length >>> (8 * i)) & 0xff;
  return offset;
}

/** One tag-length-value whose content is the concatenation of `parts`. */
export function tlv(tag: number, ...parts: readonly Uint8Array[]): Buffer {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = Buffer.allocUnsafe(headerLength(length) + length);
  let offset = writeHeader(out, 0, tag, length);
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

export function sequence(...parts: readonly Uint8Array[]): Buffer {
  return tlv(TAG.sequence, ...parts);
}

/** A SET with a single element (RDNs); DER ordering of several elements is not needed here. */
export function setOf(...parts: readonly Uint8Array[]): Buffer {
  return tlv(TAG.set, ...parts);
}

/** `[n] EXPLICIT` (constructed context tag). */
export function explicit(n: number, ...parts: readonly Uint8Array[]): Buffer {
  return tlv(0xa0 | n, ...parts);
}

/** `[n] IMPLICIT` primitive (e.g. GeneralName choices, keyIdentifier). */
export function implicitPrimitive(n: number, content: Uint8Array): Buffer {
  return tlv(0x80 | n, content);
}

export function octetString(content: Uint8Array): Buffer {
  return tlv(TAG.octetString, content);
}

export function bitString(content: Uint8Array, unusedBits = 0): Buffer {
  return tlv(TAG.bitString, Uint8Array.of(unusedBits), content);
}

export const DER_NULL: Buffer = Buffer.from([TAG.null, 0]);
export const DER_TRUE: Buffer = Buffer.from([TAG.boolean, 1, 0xff]);

/** INTEGER from a non-negative value given as big-endian bytes (minimal encoding, sign octet added). */
export function unsignedInteger(bytes: Uint8Array): Buffer {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  const body = bytes.subarray(start);
  if (body.length === 0) return Buffer.from([TAG.integer, 1, 0]);
  return (body[0] ?? 0) & 0x80 ? tlv(TAG.integer, Uint8Array.of(0), body) : tlv(TAG.integer, body);
}

export function smallInteger(value: number): Buffer {
  if (!Number.isInteger(value) || value < 0 || value > 0x7fffffff) {
    throw new TypeError('smallInteger takes an integer in [0, 2^31)');
  }
  const bytes: number[] = [];
  let v = value;
  do {
    bytes.unshift(v & 0xff);
    v = Math.floor(v / 256);
  } while (v > 0);
  return unsignedInteger(Uint8Array.from(bytes));
}

/** OBJECT IDENTIFIER from dotted text. */
export function oid(dotted: string): Buffer {
  const arcs = dotted.split('.').map((arc) => Number(arc));
  const [first, second, ...rest] = arcs;
  if (first === undefined || second === undefined || arcs.some((a) => !Number.isSafeInteger(a))) {
    throw new TypeError(`invalid object identifier "${dotted}"`);
  }
  const out: number[] = [];
  for (const arc of [first * 40 + second, ...rest]) {
    const chunk: number[] = [arc & 0x7f];
    let v = Math.floor(arc / 128);
    while (v > 0) {
      chunk.unshift((v & 0x7f) | 0x80);
      v = Math.floor(v / 128);
    }
    out.push(...chunk);
  }
  return tlv(TAG.oid, Uint8Array.from(out));
}

export function utf8String(text: string): Buffer {
  return tlv(TAG.utf8String, Buffer.from(text, 'utf8'));
}

export function ia5String(text: string): Buffer {
  return tlv(TAG.ia5String, Buffer.from(text, 'latin1'));
}

function twoDigits(out: Buffer, offset: number, value: number): void {
  out[offset] = 0x30 + Math.floor(value / 10);
  out[offset + 1] = 0x30 + (value % 10);
}

/**
 * RFC 5280 §4.1.2.5 Time: UTCTime `YYMMDDHHMMSSZ` for 1950..2049, GeneralizedTime
 * `YYYYMMDDHHMMSSZ` otherwise; whole seconds only (fractions are truncated).
 */
export function time(epochMs: number): Buffer {
  const d = new Date(Math.floor(epochMs / 1000) * 1000);
  const year = d.getUTCFullYear();
  if (year < 0 || year > 9999) throw new RangeError(`year ${year} cannot be encoded`);
  const utc = year >= 1950 && year < 2050;
  const digits = utc ? 13 : 15;
  const out = Buffer.allocUnsafe(2 + digits);
  out[0] = utc ? TAG.utcTime : TAG.generalizedTime;
  out[1] = digits;
  let o = 2;
  if (!utc) {
    twoDigits(out, o, Math.floor(year / 100));
    o += 2;
  }
  twoDigits(out, o, year % 100);
  twoDigits(out, o + 2, d.getUTCMonth() + 1);
  twoDigits(out, o + 4, d.getUTCDate());
  twoDigits(out, o + 6, d.getUTCHours());
  twoDigits(out, o + 8, d.getUTCMinutes());
  twoDigits(out, o + 10, d.getUTCSeconds());
  out[o + 12] = 0x5a;
  return out;
}

/** One X.509 Extension: `SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }`. */
export function extension(oidDer: Uint8Array, critical: boolean, value: Uint8Array): Buffer {
  return critical
    ? sequence(oidDer, DER_TRUE, octetString(value))
    : sequence(oidDer, octetString(value));
}

/** A Name with the given (type OID, UTF8String value) attributes, one per RDN, in order. */
export function name(attributes: readonly (readonly [oidDotted: string, value: string])[]): Buffer {
  return sequence(
    ...attributes.map(([type, value]) => setOf(sequence(oid(type), utf8String(value)))),
  );
}
