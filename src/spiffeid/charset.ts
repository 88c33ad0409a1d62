// Byte tables for the SPIFFE ID grammar (ID-4, ID-7); a table lookup per character keeps parsing cheap.

/** `a-z 0-9 . - _` (ID-4). */
export const TRUST_DOMAIN_CHARS = new Uint8Array(128);
/** `A-Z a-z 0-9 . - _` (ID-7). */
export const PATH_CHARS = new Uint8Array(128);

for (let c = 0; c < 128; c++) {
  const lower = c >= 0x61 && c <= 0x7a;
  const upper = c >= 0x41 && c <= 0x5a;
  const digit = c >= 0x30 && c <= 0x39;
  const punct = c === 0x2e || c === 0x2d || c === 0x5f;
  TRUST_DOMAIN_CHARS[c] = lower || digit || punct ? 1 : 0;
  PATH_CHARS[c] = lower || upper || digit || punct ? 1 : 0;
}

/** ID-6: trust domain names are at most 255 bytes. */
export const MAX_TRUST_DOMAIN_BYTES = 255;
/** ID-9: whole SPIFFE IDs are at most 2048 bytes. */
export const MAX_SPIFFE_ID_BYTES = 2048;
export const SCHEME_PREFIX = 'spiffe://';
