// A PKCS#10 CSR (RFC 2986) for a locally generated EC P-256 key: empty subject, no attributes.
// The broker reads only the public key and the signature (proof of possession); the key never
// leaves this process. Written by hand: the structure is fixed and tiny.
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';

function length(size: number): Buffer {
  if (size < 0x80) return Buffer.from([size]);
  const bytes: number[] = [];
  for (let rest = size; rest > 0; rest >>= 8) bytes.unshift(rest & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function tlv(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), length(body.length), body]);
}

/** ecdsa-with-SHA256 (RFC 5758), no parameters. */
const ECDSA_WITH_SHA256 = Buffer.from('06082a8648ce3d040302', 'hex');

/** DER of a CSR for `publicKey`, signed with `privateKey` (EC P-256, SHA-256). */
export function createCsrDer(privateKey: KeyObject, publicKey: KeyObject): Buffer {
  if (publicKey.asymmetricKeyType !== 'ec') throw new TypeError('createCsrDer needs an EC key');
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  const info = tlv(
    0x30,
    Buffer.from([0x02, 0x01, 0x00]), // version v1 (0)
    tlv(0x30), // subject: empty Name; the SPIFFE ID comes from the entry, not the request
    spki,
    Buffer.from([0xa0, 0x00]), // attributes [0]: none
  );
  const signature = sign('sha256', info, { key: privateKey, dsaEncoding: 'der' });
  return tlv(
    0x30,
    info,
    tlv(0x30, ECDSA_WITH_SHA256),
    tlv(0x03, Buffer.from([0x00]), signature), // BIT STRING, no unused bits
  );
}

export function csrPem(der: Uint8Array): string {
  const lines =
    Buffer.from(der)
      .toString('base64')
      .match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE REQUEST-----\n${lines.join('\n')}\n-----END CERTIFICATE REQUEST-----\n`;
}

/** A fresh EC P-256 key pair and its CSR. */
export function newKeyAndCsr(): { privateKey: KeyObject; publicKey: KeyObject; csrDer: Buffer } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { privateKey, publicKey, csrDer: createCsrDer(privateKey, publicKey) };
}
