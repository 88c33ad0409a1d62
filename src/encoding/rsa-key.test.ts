import { describe, expect, it } from 'vitest';
import { bitLength, MAX_RSA_EXPONENT, rsaExponentAccepted, stripLeadingZeros } from './rsa-key.js';

const be = (value: number): Buffer => {
  const bytes = Buffer.alloc(8);
  bytes.writeBigUInt64BE(BigInt(value));
  return stripLeadingZeros(bytes);
};

describe('RSA key rules shared by the bundle parser and the CA (BUNDLE-13, X509-8)', () => {
  it('takes odd exponents from 3 to 2^31-1, as Go crypto/rsa does', () => {
    for (const e of [3, 17, 65537, MAX_RSA_EXPONENT]) expect(rsaExponentAccepted(be(e))).toBe(true);
  });

  it('refuses 0, 1, even exponents and anything above 2^31-1', () => {
    for (const e of [0, 1, 2, 65536, MAX_RSA_EXPONENT + 1, MAX_RSA_EXPONENT + 2, 2 ** 40 + 1]) {
      expect(rsaExponentAccepted(be(e)), String(e)).toBe(false);
    }
    expect(rsaExponentAccepted(Buffer.alloc(0))).toBe(false);
  });

  it('strips leading zero octets but keeps one for zero, and measures bit lengths', () => {
    expect(stripLeadingZeros(Buffer.from([0, 0, 1, 0]))).toEqual(Buffer.from([1, 0]));
    expect(stripLeadingZeros(Buffer.from([0, 0]))).toEqual(Buffer.from([0]));
    expect(bitLength(Buffer.from([0x01, 0x00]))).toBe(9);
    expect(bitLength(Buffer.from([0x80, ...Buffer.alloc(255)]))).toBe(2048);
    expect(bitLength(Buffer.from([0]))).toBe(0);
  });
});
