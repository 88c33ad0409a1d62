// The uncompressed SEC1 point (0x04 || x || y) of an EC public key, as a CSR carries it.
import type { KeyObject } from 'node:crypto';

export function uncompressedPoint(publicKey: KeyObject): Buffer {
  const jwk = publicKey.export({ format: 'jwk' });
  return Buffer.concat([
    Buffer.from([4]),
    Buffer.from(jwk.x as string, 'base64url'),
    Buffer.from(jwk.y as string, 'base64url'),
  ]);
}
