// A PKCS#10 CSR (RFC 2986) for a locally generated EC P-256 key: empty subject, no attributes.
// The broker reads only the public key and the signature (proof of possession); the key never
// leaves this process. Encoded with the encoding room's DER writer: the structure is fixed and tiny.
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { bitString, explicit, oid, sequence, smallInteger } from '../encoding/index.js';

export { csrPem } from '../encoding/index.js';

/** ecdsa-with-SHA256 (RFC 5758), no parameters. */
const ECDSA_WITH_SHA256 = sequence(oid('1.2.840.10045.4.3.2'));

/** DER of a CSR for `publicKey`, signed with `privateKey` (EC P-256, SHA-256). */
export function createCsrDer(privateKey: KeyObject, publicKey: KeyObject): Buffer {
  if (publicKey.asymmetricKeyType !== 'ec') throw new TypeError('createCsrDer needs an EC key');
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  const info = sequence(
    smallInteger(0), // version v1 (0)
    sequence(), // subject: empty Name; the SPIFFE ID comes from the entry, not the request
    spki,
    explicit(0), // attributes [0]: none
  );
  const signature = sign('sha256', info, { key: privateKey, dsaEncoding: 'der' });
  return sequence(info, ECDSA_WITH_SHA256, bitString(signature));
}

/** A fresh EC P-256 key pair and its CSR. */
export function newKeyAndCsr(): { privateKey: KeyObject; publicKey: KeyObject; csrDer: Buffer } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { privateKey, publicKey, csrDer: createCsrDer(privateKey, publicKey) };
}
