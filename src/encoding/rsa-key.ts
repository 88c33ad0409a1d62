// The RSA public-key rules every room shares: the modulus sizes we take (2,048 to 8,192 bits) and
// the public exponents (odd, 3 to 2^31-1, as Go's crypto/rsa takes), over the unsigned big-endian
// integers a JWK or an RSAPublicKey carries. Used by the bundle parser (BUNDLE-13), the CA's CSR
// key rules (X509-8) and the JWT-SVID signature check.

/** Smallest RSA modulus we trust or sign for (X509-8, BUNDLE-13). */
export const MIN_RSA_BITS = 2048;
/**
 * Largest RSA modulus (policy): one verification with a 16,384-bit key costs about 2 ms of CPU; Go's
 * crypto/tls refuses peer RSA keys over 8,192 bits for the same reason.
 */
export const MAX_RSA_BITS = 8192;
/** Go's crypto/rsa refuses exponents above 2^31-1 and below 2; even exponents are never valid. */
export const MAX_RSA_EXPONENT = 0x7fffffff;

/** The integer's bytes without leading zero octets (one zero octet stays for zero itself). */
export function stripLeadingZeros(bytes: Buffer): Buffer {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  return bytes.subarray(i);
}

/** Bit length of an unsigned big-endian integer without leading zero octets. */
export function bitLength(bytes: Uint8Array): number {
  const first = bytes[0] ?? 0;
  return first === 0 ? 0 : (bytes.length - 1) * 8 + (32 - Math.clz32(first));
}

/** True for an odd public exponent from 3 to 2^31-1 (unsigned big-endian, leading zeros stripped). */
export function rsaExponentAccepted(exponent: Buffer): boolean {
  if (exponent.length === 0 || exponent.length > 4) return false;
  const value = exponent.readUIntBE(0, exponent.length);
  return value >= 3 && value <= MAX_RSA_EXPONENT && value % 2 === 1;
}
