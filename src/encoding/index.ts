// Public surface of the encoding room: the low-level mechanics every room above shares (the DER
// reader and writer, their one error class, the OID printer, PEM, sha256, the RSA key rules). Imports only errors.
export { DerError } from './der-error.js';
export {
  certificatePem,
  certificatesFromPem,
  csrPem,
  PEM_LABEL,
  pemBlock,
  pemBlocks,
  PemError,
  readPemBlocks,
} from './pem.js';
export type { PemBlock, ReadPemOptions } from './pem.js';
export {
  bitLength,
  MAX_RSA_BITS,
  MAX_RSA_EXPONENT,
  MIN_RSA_BITS,
  rsaExponentAccepted,
  stripLeadingZeros,
} from './rsa-key.js';
export { sha256Hex } from './sha256.js';
export {
  bitStringBytes,
  booleanValue,
  checkDerTree,
  checkOid,
  children,
  content,
  describeOid,
  expectTlv,
  oidText,
  raw,
  readTlv,
  smallUint,
} from './der-reader.js';
export type { Tlv } from './der-reader.js';
export {
  bitString,
  DER_NULL,
  DER_TRUE,
  explicit,
  extension,
  ia5String,
  implicitPrimitive,
  name,
  octetString,
  oid,
  sequence,
  setOf,
  smallInteger,
  TAG,
  time,
  tlv,
  unsignedInteger,
  utf8String,
} from './der-writer.js';
