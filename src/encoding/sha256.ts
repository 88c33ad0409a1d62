// The one sha256Hex: hex SHA-256 of bytes, or of a string's UTF-8 (fingerprints, bundle digests in invites).
import { hash } from 'node:crypto';

/** One-shot `crypto.hash` (half the cost of createHash for the short inputs on the issuing path). */
export function sha256Hex(data: Uint8Array | string): string {
  return hash('sha256', data, 'hex');
}
