// The one sha256Hex: hex SHA-256 of bytes, or of a string's UTF-8 (fingerprints, bundle digests in invites).
import { createHash } from 'node:crypto';

export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}
