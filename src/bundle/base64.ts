// Strict base64 codecs for untrusted bundle members: x5c uses standard base64 with padding
// (RFC 4648 §4, BUNDLE-20); JWK key parameters use base64url without padding (RFC 7518 §6).

/** Decodes canonical standard base64 with padding; undefined for anything else (whitespace, bad bits). */
export function decodeStrictBase64(text: string): Buffer | undefined {
  if (text.length % 4 !== 0) return undefined;
  const bytes = Buffer.from(text, 'base64');
  // Node's decoder skips invalid characters; re-encoding exposes them and any non-zero pad bits.
  return bytes.toString('base64') === text ? bytes : undefined;
}

/** Decodes canonical base64url without padding; undefined for anything else. */
export function decodeStrictBase64Url(text: string): Buffer | undefined {
  if (text.length % 4 === 1) return undefined;
  const bytes = Buffer.from(text, 'base64url');
  return bytes.toString('base64url') === text ? bytes : undefined;
}

/** Length of the DER element at the start of `der` (tag, length, content) or -1 when malformed. */
export function derElementLength(der: Uint8Array): number {
  if (der.length < 2) return -1;
  const first = der[1] ?? 0;
  if (first < 0x80) return 2 + first;
  const count = first & 0x7f;
  // Indefinite length (0x80) is not DER; more than 4 length bytes is beyond any bundle limit.
  if (count === 0 || count > 4 || der.length < 2 + count) return -1;
  if ((der[2] ?? 0) === 0) return -1; // non-minimal length encoding
  let length = 0;
  for (let i = 0; i < count; i++) length = length * 256 + (der[2 + i] ?? 0);
  if (length < 0x80) return -1; // long form used for a short length: not DER
  return 2 + count + length;
}

/** True when `der` is exactly one DER SEQUENCE, with no trailing bytes (OpenSSL ignores them). */
export function isSingleDerSequence(der: Uint8Array): boolean {
  return der[0] === 0x30 && derElementLength(der) === der.length;
}
