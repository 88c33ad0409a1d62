// A small DER walker written for differential tests, independent of src/: finds TLVs and says
// whether bytes are strict DER (definite, minimal lengths, nothing trailing) where BER readers relax.
export interface Tlv {
  readonly tag: number;
  /** Offset of the tag byte. */
  readonly start: number;
  /** Offset of the first content byte. */
  readonly contentStart: number;
  /** Offset just past the content. */
  readonly end: number;
  /** Whether the length was encoded in the fewest bytes. */
  readonly minimalLength: boolean;
}

/** The TLV at `offset`, or undefined when it does not fit in `bytes` (high tag numbers unsupported). */
export function tlvAt(bytes: Uint8Array, offset: number): Tlv | undefined {
  const tag = bytes[offset];
  const first = bytes[offset + 1];
  if (tag === undefined || first === undefined || (tag & 0x1f) === 0x1f) return undefined;
  let length = first;
  let contentStart = offset + 2;
  let minimalLength = true;
  if (first & 0x80) {
    const count = first & 0x7f;
    if (count === 0 || count > 4) return undefined;
    length = 0;
    for (let i = 0; i < count; i++) {
      const b = bytes[offset + 2 + i];
      if (b === undefined) return undefined;
      length = length * 256 + b;
    }
    contentStart += count;
    minimalLength = length >= 0x80 && length >= 256 ** (count - 1);
  }
  const end = contentStart + length;
  return end <= bytes.length ? { tag, start: offset, contentStart, end, minimalLength } : undefined;
}

/** The TLVs inside a constructed TLV, or undefined when they do not tile its content exactly. */
export function childrenOf(bytes: Uint8Array, parent: Tlv): Tlv[] | undefined {
  const out: Tlv[] = [];
  let at = parent.contentStart;
  while (at < parent.end) {
    const child = tlvAt(bytes.subarray(0, parent.end), at);
    if (child === undefined) return undefined;
    out.push(child);
    at = child.end;
  }
  return out;
}

/** Strict DER structure: one TLV spanning all bytes, minimal lengths, constructed contents tiling. */
export function isStrictDer(bytes: Uint8Array): boolean {
  const root = tlvAt(bytes, 0);
  if (root === undefined || root.end !== bytes.length) return false;
  const walk = (tlv: Tlv): boolean => {
    if (!tlv.minimalLength) return false;
    if ((tlv.tag & 0x20) === 0) return true;
    const children = childrenOf(bytes, tlv);
    return children !== undefined && children.every(walk);
  };
  return walk(root);
}

/**
 * Whether `test` holds for the TLV that starts `bytes` or for any TLV inside it (descending into
 * constructed TLVs whose contents tile); false when `bytes` does not start with a TLV.
 */
export function someTlv(bytes: Uint8Array, test: (tlv: Tlv) => boolean): boolean {
  const walk = (tlv: Tlv): boolean =>
    test(tlv) || ((tlv.tag & 0x20) !== 0 && (childrenOf(bytes, tlv) ?? []).some(walk));
  const root = tlvAt(bytes, 0);
  return root !== undefined && walk(root);
}
