// Upstream mode (like SPIRE's disk UpstreamAuthority): the operator's CA certificate (+ chain) and
// key from PEM files sign our intermediate authorities; the bundle publishes the upstream root.
import { createPrivateKey, createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { CaError } from '../errors.js';
import { certificatesFromPem } from '../encoding/index.js';
import { readCertificateParts } from './cert-reader.js';
import { signingProfileOf } from './key-type.js';
import type { CertificateSigner } from './x509-encoder.js';

export interface UpstreamCa {
  readonly signer: CertificateSigner;
  readonly notBeforeMs: number;
  readonly notAfterMs: number;
  /** Certificates to send after our intermediate in an SVID chain (upstream CA and its parents, root excluded). */
  readonly chainDer: readonly Buffer[];
  /** The certificate published in our bundle: the last one of the file (the root, BUNDLE-20). */
  readonly anchorDer: Buffer;
}

function upstreamError(message: string, cause?: unknown): CaError {
  return new CaError('ERR_CA_UPSTREAM', message, cause === undefined ? {} : { cause });
}

export interface UpstreamWarning {
  (message: string, fields?: Readonly<Record<string, unknown>>): void;
}

/**
 * Loads and checks the upstream CA: the first certificate of `certFile` must be a CA allowed to sign
 * CA certificates (cA true, keyCertSign when keyUsage is present, pathLen absent or >= 1), match the
 * key in `keyFile`, and be valid at `nowMs`.
 */
export async function loadUpstreamCa(
  files: { readonly certFile: string; readonly keyFile: string },
  nowMs: number,
  warn: UpstreamWarning,
): Promise<UpstreamCa> {
  let certPem: string;
  let keyPem: string;
  try {
    certPem = await readFile(files.certFile, 'utf8');
    keyPem = await readFile(files.keyFile, 'utf8');
    const keyInfo = await stat(files.keyFile);
    if ((keyInfo.mode & 0o077) !== 0) {
      warn('upstream ca key file is readable by group or others', { file: files.keyFile });
    }
  } catch (cause) {
    throw upstreamError('cannot read the upstream ca certificate or key file', cause);
  }
  const certificates = certificatesFromPem(certPem);
  const first = certificates[0];
  const anchorDer = certificates[certificates.length - 1];
  if (first === undefined || anchorDer === undefined) {
    throw upstreamError(`no CERTIFICATE block in "${files.certFile}"`);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(keyPem);
  } catch (cause) {
    throw upstreamError('the upstream ca key is not an unencrypted PEM private key', cause);
  }
  const profile = signingProfileOf(privateKey);
  if (profile === undefined) {
    throw upstreamError(
      'upstream ca key type not supported (EC P-256/384/521, RSA >= 2048, Ed25519)',
    );
  }
  let x509: X509Certificate;
  let parts: ReturnType<typeof readCertificateParts>;
  try {
    x509 = new X509Certificate(first);
    parts = readCertificateParts(first);
    for (const der of certificates.slice(1)) new X509Certificate(der);
  } catch (cause) {
    throw upstreamError(`"${files.certFile}" holds a certificate that cannot be parsed`, cause);
  }
  const derivedSpki = createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
  if (!derivedSpki.equals(parts.spkiDer)) {
    throw upstreamError('the upstream ca key does not match the first certificate of the file');
  }
  if (!parts.isCa)
    throw upstreamError('the upstream certificate is not a CA (basicConstraints cA)');
  if (parts.keyUsage !== undefined && !parts.keyUsage.keyCertSign) {
    throw upstreamError('the upstream certificate lacks keyCertSign');
  }
  if (parts.pathLen === 0) {
    throw upstreamError('the upstream certificate has pathLenConstraint 0: it cannot sign our CA');
  }
  const notBeforeMs = Date.parse(x509.validFrom);
  const notAfterMs = Date.parse(x509.validTo);
  if (nowMs >= notAfterMs || nowMs < notBeforeMs) {
    throw upstreamError(`the upstream certificate is not valid now (valid to ${x509.validTo})`);
  }
  const selfSigned = certificates.length === 1 && x509.checkIssued(x509);
  return {
    signer: {
      privateKey,
      profile,
      subjectNameDer: parts.subjectNameDer,
      keyIdentifier: parts.keyIdentifier,
    },
    notBeforeMs,
    notAfterMs,
    chainDer: selfSigned ? [] : certificates.slice(0, -1),
    anchorDer,
  };
}
