// Lean PKCS#10 reader: locates certificationRequestInfo, the SPKI and the signature by hand and
// checks the signature with node:crypto over the raw info bytes. Nothing else of a CSR is used:
// the CA sets every field and extension of the certificate itself (X509-1..8).
import { verify, type KeyObject } from 'node:crypto';
import { CaError } from '../errors.js';
import {
  bitStringBytes,
  children,
  content,
  DerError,
  expectTlv,
  oidText,
  raw,
} from '../encoding/index.js';
import type { CsrCheckJob, CsrCheckPool } from './csr-check-pool.js';
import type { HashName } from './key-type.js';
import type {
  EcCurve,
  EcdsaCheck,
  EcdsaChecker,
  EcdsaSigningKey,
  EcdsaVerdict,
} from './native-ecdsa.js';
import {
  importSubjectKey,
  parseSubjectKey,
  type SubjectKey,
  type SubjectKeyFamily,
} from './subject-key.js';

/** CSRs are small; anything larger is refused before parsing. */
export const MAX_CSR_BYTES = 64 * 1024;

interface CsrSignatureAlgorithm {
  readonly family: SubjectKeyFamily;
  readonly hash: HashName | null;
}

const SIGNATURE_ALGORITHMS: Readonly<Record<string, CsrSignatureAlgorithm>> = {
  '1.2.840.10045.4.3.2': { family: 'ec', hash: 'sha256' },
  '1.2.840.10045.4.3.3': { family: 'ec', hash: 'sha384' },
  '1.2.840.10045.4.3.4': { family: 'ec', hash: 'sha512' },
  '1.2.840.113549.1.1.11': { family: 'rsa', hash: 'sha256' },
  '1.2.840.113549.1.1.12': { family: 'rsa', hash: 'sha384' },
  '1.2.840.113549.1.1.13': { family: 'rsa', hash: 'sha512' },
  '1.3.101.112': { family: 'ed25519', hash: null },
};

/** A structurally valid CSR whose signature has not been checked yet. */
export interface ParsedCsr {
  readonly subjectKey: SubjectKey;
  /** certificationRequestInfo, header included: the signed bytes. */
  readonly infoDer: Buffer;
  readonly algorithm: CsrSignatureAlgorithm;
  readonly signature: Buffer;
}

function invalid(message: string, cause?: unknown): CaError {
  return new CaError('ERR_CA_CSR_INVALID', message, cause === undefined ? {} : { cause });
}

/** Parses a DER CertificationRequest (RFC 2986). Throws ERR_CA_CSR_INVALID / ERR_CA_KEY_UNSUPPORTED. */
export function parseCsr(der: Uint8Array): ParsedCsr {
  if (!(der instanceof Uint8Array)) throw new TypeError('csr must be DER bytes (Uint8Array)');
  if (der.length > MAX_CSR_BYTES) throw invalid(`csr is larger than ${MAX_CSR_BYTES} bytes`);
  try {
    const outer = expectTlv(der, 0, 0x30);
    if (outer.end !== der.length) throw new DerError('trailing bytes after CertificationRequest');
    const [info, algorithm, signature, ...extra] = children(der, outer);
    if (info?.tag !== 0x30 || algorithm?.tag !== 0x30 || signature === undefined || extra.length) {
      throw new DerError('CertificationRequest must hold info, algorithm and signature');
    }
    const [version, subject, spki, attributes, ...more] = children(der, info);
    if (version?.tag !== 0x02 || subject?.tag !== 0x30 || spki?.tag !== 0x30 || more.length) {
      throw new DerError('malformed certificationRequestInfo');
    }
    const versionBytes = content(der, version);
    if (versionBytes.length !== 1 || versionBytes[0] !== 0) {
      throw new DerError('certificationRequestInfo version must be 0 (v1)');
    }
    if (attributes !== undefined && attributes.tag !== 0xa0) {
      throw new DerError('malformed attributes');
    }
    // The key first: a key type we do not issue for is the more useful error.
    const subjectKey = parseSubjectKey(Buffer.from(raw(der, spki)));
    const [algOid, params, ...algExtra] = children(der, algorithm);
    if (algOid?.tag !== 0x06 || algExtra.length) throw new DerError('malformed signatureAlgorithm');
    const algorithmOid = oidText(content(der, algOid));
    const signatureAlgorithm = SIGNATURE_ALGORITHMS[algorithmOid];
    if (signatureAlgorithm === undefined) {
      throw invalid(`csr signature algorithm ${algorithmOid} not accepted`);
    }
    if (params !== undefined) {
      const nullParams =
        signatureAlgorithm.family === 'rsa' &&
        params.tag === 0x05 &&
        params.end === params.start + 2;
      if (!nullParams) throw new DerError('unexpected signature algorithm parameters');
    }
    if (subjectKey.family !== signatureAlgorithm.family) {
      throw invalid('csr signature algorithm does not fit its public key');
    }
    return {
      subjectKey,
      infoDer: raw(der, info),
      algorithm: signatureAlgorithm,
      signature: bitStringBytes(der, signature),
    };
  } catch (cause) {
    if (cause instanceof DerError) throw invalid(`csr is not a valid DER PKCS#10 request`, cause);
    throw cause;
  }
}

function verifySync(
  hash: HashName | null,
  data: Buffer,
  key: KeyObject,
  signature: Buffer,
): boolean {
  try {
    return verify(hash, data, key, signature);
  } catch {
    return false;
  }
}

async function verifyInline(csr: ParsedCsr): Promise<boolean> {
  let key: KeyObject;
  try {
    key = await importSubjectKey(csr.subjectKey);
  } catch (cause) {
    throw badKey(cause);
  }
  return verifySync(csr.algorithm.hash, csr.infoDer, key, csr.signature);
}

/**
 * An exact-size copy: posting a view to a worker clones its whole backing ArrayBuffer (a request
 * body, or Node's 8 KiB Buffer pool), which made postMessage the broker's hottest function.
 */
function own(view: Uint8Array): Uint8Array {
  return new Uint8Array(view);
}

function checkJob(csr: ParsedCsr): CsrCheckJob {
  const { subjectKey } = csr;
  return {
    family: subjectKey.family,
    curve: subjectKey.curve,
    keyBits: own(subjectKey.keyBits),
    n: subjectKey.rsa?.n.toString('base64url'),
    e: subjectKey.rsa?.e.toString('base64url'),
    hash: csr.algorithm.hash,
    data: own(csr.infoDer),
    signature: own(csr.signature),
  };
}

/** How a CSR's signature may be checked besides inline node:crypto. */
export interface CsrCheckOptions {
  /** Other issuances are in flight: move the check off the main thread. */
  readonly busy?: boolean;
  /** Worker threads for keys the native checker does not take (RSA, Ed25519) when busy. */
  readonly pool?: CsrCheckPool | undefined;
  /** The ecverify addon for EC keys (src/ca/native-ecdsa.ts); undefined = node:crypto only. */
  readonly ecdsa?: EcdsaChecker | undefined;
}

/** A CSR whose public key does not import, or is not a point of its curve: an invalid CSR. */
function badKey(cause?: unknown): CaError {
  return invalid('csr public key is not a valid key', cause);
}

function signatureError(): CaError {
  return new CaError('ERR_CA_CSR_SIGNATURE', 'csr signature does not verify with its public key');
}

/** The native checker takes the CSR: an EC key with a hashed ECDSA signature. */
export function isNativeCheckable(csr: ParsedCsr): boolean {
  return csr.subjectKey.family === 'ec' && csr.algorithm.hash !== null;
}

function nativeCheck(csr: ParsedCsr): EcdsaCheck {
  return {
    curve: csr.subjectKey.curve as EcCurve,
    hash: csr.algorithm.hash as HashName,
    point: csr.subjectKey.keyBits,
    data: csr.infoDer,
    signature: csr.signature,
  };
}

/**
 * Proof of possession and the CA's signature in one thread-pool work item: `tbs` is signed with
 * `key` only if the CSR's signature verifies (the same checks and codes as verifyCsrSignature).
 * Resolves with the signature, or with undefined when the addon failed: the caller then checks and
 * signs on the main thread. For CSRs that isNativeCheckable.
 */
export async function verifyThenSign(
  csr: ParsedCsr,
  ecdsa: EcdsaChecker,
  key: EcdsaSigningKey,
  hash: HashName,
  tbs: Uint8Array,
): Promise<Buffer | undefined> {
  let result;
  try {
    result = await ecdsa.verifyThenSignSoon(nativeCheck(csr), key, hash, tbs);
  } catch {
    return undefined;
  }
  if (result.verdict === -1) throw badKey();
  if (result.verdict === 0) throw signatureError();
  return result.signature;
}

async function verifyNative(csr: ParsedCsr, ecdsa: EcdsaChecker, busy: boolean): Promise<boolean> {
  const check = nativeCheck(csr);
  let verdict: EcdsaVerdict;
  if (busy) {
    try {
      verdict = await ecdsa.verifySoon(check);
    } catch {
      verdict = ecdsa.verify(check);
    }
  } else {
    verdict = ecdsa.verify(check);
  }
  // The same codes as the node:crypto path: a point off the curve is an invalid key (the import
  // fails there), a signature that does not verify is ERR_CA_CSR_SIGNATURE.
  if (verdict === -1) throw badKey();
  return verdict === 1;
}

/**
 * Proof of possession: checks the CSR signature with its own key. Throws ERR_CA_CSR_SIGNATURE when
 * it does not verify. EC keys go to the native checker when there is one (inline when the CA is
 * idle, batched on the thread pool when busy); other keys to the worker pool when busy, else inline.
 * If the pool or the thread pool fails, the check is made inline.
 */
export async function verifyCsrSignature(
  csr: ParsedCsr,
  options: CsrCheckOptions = {},
): Promise<SubjectKey> {
  const { busy = false, pool, ecdsa } = options;
  let ok: boolean;
  if (ecdsa !== undefined && isNativeCheckable(csr)) {
    ok = await verifyNative(csr, ecdsa, busy);
  } else if (busy && pool !== undefined) {
    let verdict;
    try {
      verdict = await pool.check(checkJob(csr));
    } catch {
      verdict = undefined;
    }
    // The same codes as inline: a key that does not import is an invalid CSR.
    if (verdict === 'bad-key') throw badKey();
    ok = verdict === undefined ? await verifyInline(csr) : verdict === 'valid';
  } else {
    ok = await verifyInline(csr);
  }
  if (!ok) throw signatureError();
  return csr.subjectKey;
}

/** parseCsr + verifyCsrSignature. */
export async function readVerifiedCsr(
  der: Uint8Array,
  options?: CsrCheckOptions,
): Promise<SubjectKey> {
  return verifyCsrSignature(parseCsr(der), options);
}
