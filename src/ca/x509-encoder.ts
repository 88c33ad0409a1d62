// Certificates our CA signs, encoded by hand: the X509-SVID leaf from a per-authority template where
// only serial, validity, SAN, SPKI and SKI change (X509-1..8), and our CA certificates (X509-10..16).
import { randomFillSync, sign, type KeyObject } from 'node:crypto';
import {
  bitString,
  DER_TRUE,
  explicit,
  extension,
  implicitPrimitive,
  name,
  octetString,
  oid,
  sequence,
  time,
  unsignedInteger,
} from '../encoding/index.js';
import type { SigningProfile } from './key-type.js';

/** The key that signs certificates and the names it puts into them. */
export interface CertificateSigner {
  readonly privateKey: KeyObject;
  readonly profile: SigningProfile;
  /** Subject Name DER of the signing certificate: the issuer of what it signs. */
  readonly subjectNameDer: Buffer;
  /** Subject key identifier of the signing certificate: the AKI of what it signs. */
  readonly keyIdentifier: Buffer;
}

const VERSION_V3 = explicit(0, Buffer.from([0x02, 0x01, 0x02]));
const EMPTY_NAME = sequence();
const OID_BASIC_CONSTRAINTS = oid('2.5.29.19');
const OID_KEY_USAGE = oid('2.5.29.15');
const OID_EXT_KEY_USAGE = oid('2.5.29.37');
const OID_SUBJECT_KEY_ID = oid('2.5.29.14');
const OID_AUTHORITY_KEY_ID = oid('2.5.29.35');
const OID_SUBJECT_ALT_NAME = oid('2.5.29.17');
const OID_NAME_CONSTRAINTS = oid('2.5.29.30');
const OID_ORGANIZATION = '2.5.4.10';
const OID_COMMON_NAME = '2.5.4.3';
/** RFC 5280 upper bound for O and CN. */
const UB_NAME = 64;

// X509-4: basicConstraints critical, cA false (the DEFAULT FALSE is omitted in DER), no pathLen.
const LEAF_BASIC_CONSTRAINTS = extension(OID_BASIC_CONSTRAINTS, true, sequence());
// X509-5: keyUsage critical, digitalSignature only (bit 0; 7 unused bits).
const LEAF_KEY_USAGE = extension(OID_KEY_USAGE, true, bitString(Buffer.from([0x80]), 7));
// X509-6: EKU serverAuth + clientAuth, non-critical.
const LEAF_EXT_KEY_USAGE = extension(
  OID_EXT_KEY_USAGE,
  false,
  sequence(oid('1.3.6.1.5.5.7.3.1'), oid('1.3.6.1.5.5.7.3.2')),
);
const LEAF_STATIC_EXTENSIONS = Buffer.concat([
  LEAF_BASIC_CONSTRAINTS,
  LEAF_KEY_USAGE,
  LEAF_EXT_KEY_USAGE,
]);
// X509-11: cA true, critical, no pathLen. X509-10: keyCertSign + cRLSign (bits 5, 6; 1 unused bit).
const CA_BASIC_CONSTRAINTS = extension(OID_BASIC_CONSTRAINTS, true, sequence(DER_TRUE));
const CA_KEY_USAGE = extension(OID_KEY_USAGE, true, bitString(Buffer.from([0x06]), 1));

function subjectKeyIdExtension(keyId: Uint8Array): Buffer {
  return extension(OID_SUBJECT_KEY_ID, false, octetString(keyId));
}

function authorityKeyIdExtension(keyId: Uint8Array): Buffer {
  return extension(OID_AUTHORITY_KEY_ID, false, sequence(implicitPrimitive(0, keyId)));
}

const SERIAL_BYTES = 16;
/** CSPRNG output fetched in blocks: one randomFillSync call per 256 serials. */
const serialPool = Buffer.alloc(SERIAL_BYTES * 256);
let serialOffset = serialPool.length;

/** 16 random octets, first octet in 0x40..0x7f: positive, minimal, always 16 octets (X509-8). */
export function randomSerial(): Buffer {
  if (serialOffset === serialPool.length) {
    randomFillSync(serialPool);
    serialOffset = 0;
  }
  const serial = Buffer.from(serialPool.subarray(serialOffset, serialOffset + SERIAL_BYTES));
  serialPool.fill(0, serialOffset, serialOffset + SERIAL_BYTES);
  serialOffset += SERIAL_BYTES;
  serial[0] = ((serial[0] ?? 0) & 0x3f) | 0x40;
  return serial;
}

/** The parts of every leaf that depend only on the issuing authority, encoded once. */
export interface LeafTemplate {
  readonly signer: CertificateSigner;
  /** signature AlgorithmIdentifier + issuer Name, in TBS order. */
  readonly algorithmAndIssuer: Buffer;
  readonly authorityKeyId: Buffer;
}

export function createLeafTemplate(signer: CertificateSigner): LeafTemplate {
  return Object.freeze({
    signer,
    algorithmAndIssuer: Buffer.concat([
      signer.profile.algorithmIdentifierDer,
      signer.subjectNameDer,
    ]),
    authorityKeyId: authorityKeyIdExtension(signer.keyIdentifier),
  });
}

export interface LeafFields {
  readonly serial: Buffer;
  readonly notBeforeMs: number;
  readonly notAfterMs: number;
  readonly spkiDer: Buffer;
  readonly subjectKeyId: Buffer;
  /** The SPIFFE ID: the single URI SAN (X509-1). */
  readonly uri: string;
  readonly dnsNames: readonly string[];
}

/**
 * TBSCertificate of an X509-SVID. The subject is empty, so the SAN extension is critical (X509-3);
 * exactly one URI SAN (X509-1); extensions X509-4..6; SKI and AKI.
 */
export function encodeLeafTbs(template: LeafTemplate, fields: LeafFields): Buffer {
  const names = [implicitPrimitive(6, Buffer.from(fields.uri, 'latin1'))];
  for (const dns of fields.dnsNames) names.push(implicitPrimitive(2, Buffer.from(dns, 'latin1')));
  return sequence(
    VERSION_V3,
    unsignedInteger(fields.serial),
    template.algorithmAndIssuer,
    sequence(time(fields.notBeforeMs), time(fields.notAfterMs)),
    EMPTY_NAME,
    fields.spkiDer,
    explicit(
      3,
      sequence(
        LEAF_STATIC_EXTENSIONS,
        subjectKeyIdExtension(fields.subjectKeyId),
        template.authorityKeyId,
        extension(OID_SUBJECT_ALT_NAME, true, sequence(...names)),
      ),
    ),
  );
}

export interface CaCertificateFields {
  readonly serial: Buffer;
  readonly notBeforeMs: number;
  readonly notAfterMs: number;
  readonly subjectNameDer: Buffer;
  readonly spkiDer: Buffer;
  readonly subjectKeyId: Buffer;
  /** `spiffe://<td>`: a signing certificate is itself an SVID without path (X509-13). */
  readonly trustDomainUri: string;
  /**
   * X509-14: a critical nameConstraints permitting URI names of this host only (the trust domain
   * name), so that nothing below this CA can carry a SPIFFE ID of another trust domain.
   */
  readonly uriNameConstraint?: string;
}

/**
 * nameConstraints { permittedSubtrees [0] { GeneralSubtree { uniformResourceIdentifier [6] host } } }
 * (RFC 5280 4.2.1.10: for URIs the constraint is the host part; critical, as CAs must mark it).
 */
function uriNameConstraintsExtension(host: string): Buffer {
  const subtree = sequence(implicitPrimitive(6, Buffer.from(host, 'latin1')));
  // permittedSubtrees is [0] IMPLICIT SEQUENCE OF: a constructed [0] around the subtrees, as
  // explicit(0, ...) encodes it.
  return extension(OID_NAME_CONSTRAINTS, true, sequence(explicit(0, subtree)));
}

/** TBSCertificate of a CA certificate: X509-10, X509-11, X509-13; no EKU (X509-15). */
export function encodeCaTbs(signer: CertificateSigner, fields: CaCertificateFields): Buffer {
  return sequence(
    VERSION_V3,
    unsignedInteger(fields.serial),
    signer.profile.algorithmIdentifierDer,
    signer.subjectNameDer,
    sequence(time(fields.notBeforeMs), time(fields.notAfterMs)),
    fields.subjectNameDer,
    fields.spkiDer,
    explicit(
      3,
      sequence(
        CA_BASIC_CONSTRAINTS,
        CA_KEY_USAGE,
        subjectKeyIdExtension(fields.subjectKeyId),
        authorityKeyIdExtension(signer.keyIdentifier),
        extension(
          OID_SUBJECT_ALT_NAME,
          false,
          sequence(implicitPrimitive(6, Buffer.from(fields.trustDomainUri, 'latin1'))),
        ),
        ...(fields.uriNameConstraint === undefined
          ? []
          : [uriNameConstraintsExtension(fields.uriNameConstraint)]),
      ),
    ),
  );
}

/** Subject of our CA certificates: O = the trust domain, CN naming the authority. */
export function caSubjectName(trustDomain: string, authorityId: string): Buffer {
  return name([
    [OID_ORGANIZATION, trustDomain.slice(0, UB_NAME)],
    [OID_COMMON_NAME, `SPIFFE CA ${authorityId.slice(0, 16)}`],
  ]);
}

/** The Certificate DER of a TBSCertificate and the signer's signature over it. */
export function assemble(signer: CertificateSigner, tbs: Buffer, signature: Uint8Array): Buffer {
  return sequence(tbs, signer.profile.algorithmIdentifierDer, bitString(signature));
}

/**
 * Signs a TBSCertificate and returns the Certificate DER. EC and Ed25519 keys sign inline (tens of
 * microseconds, less than a thread round trip); RSA keys, which take milliseconds, on the libuv pool.
 */
export function signTbs(signer: CertificateSigner, tbs: Buffer): Promise<Buffer> {
  if (!signer.profile.isRsa) return Promise.resolve(signTbsSync(signer, tbs));
  return new Promise((resolve, reject) => {
    sign(signer.profile.hash, tbs, signer.privateKey, (err, signature) => {
      if (err) reject(err);
      else resolve(assemble(signer, tbs, signature));
    });
  });
}

/** Synchronous signing (CA certificates, EC leaves). */
export function signTbsSync(signer: CertificateSigner, tbs: Buffer): Buffer {
  return assemble(signer, tbs, sign(signer.profile.hash, tbs, signer.privateKey));
}
