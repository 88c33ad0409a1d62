// Upstream mode (like SPIRE's disk UpstreamAuthority): the operator's CA certificate (+ chain) and
// key from PEM files sign our intermediate authorities; the bundle publishes the upstream root.
import { createPrivateKey, createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { CaError } from '../errors.js';
import { certificatesFromPem } from '../encoding/index.js';
import type { TrustDomain } from '../spiffeid/index.js';
import { readCertificateParts } from './cert-reader.js';
import { signingProfileOf } from './key-type.js';
import { checkUpstreamChain, probeUpstream, type ChainValidity } from './upstream-chain.js';
import type { CertificateSigner } from './x509-encoder.js';

export interface UpstreamCa {
  readonly signer: CertificateSigner;
  /** When every certificate of the upstream chain is valid (our CA's notAfter is capped by it). */
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
 * Loads and checks the upstream CA: the first certificate of `certFile` must match the key in
 * `keyFile`; the whole chain up to the anchor we publish (the last certificate) must hold
 * (checkUpstreamChain), and an SVID signed under it must verify against that anchor (probeUpstream).
 */
export async function loadUpstreamCa(
  files: { readonly certFile: string; readonly keyFile: string },
  trustDomain: TrustDomain,
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
  let parts: ReturnType<typeof readCertificateParts>;
  let selfSigned: boolean;
  try {
    parts = readCertificateParts(first);
    const parsed = certificates.map((der) => new X509Certificate(der));
    selfSigned = parsed.length === 1 && parsed[0]?.checkIssued(parsed[0]) === true;
  } catch (cause) {
    throw upstreamError(`"${files.certFile}" holds a certificate that cannot be parsed`, cause);
  }
  const derivedSpki = createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
  if (!derivedSpki.equals(parts.spkiDer)) {
    throw upstreamError('the upstream ca key does not match the first certificate of the file');
  }
  let validity: ChainValidity;
  try {
    validity = checkUpstreamChain(certificates, nowMs);
  } catch (error) {
    if (error instanceof CaError) throw error;
    throw upstreamError(`"${files.certFile}" holds a certificate that cannot be parsed`, error);
  }
  const upstream: UpstreamCa = {
    signer: {
      privateKey,
      profile,
      subjectNameDer: parts.subjectNameDer,
      keyIdentifier: parts.keyIdentifier,
    },
    // Our CA certificates end no later than the first certificate of the chain to expire.
    ...validity,
    chainDer: selfSigned ? [] : certificates.slice(0, -1),
    anchorDer,
  };
  probeUpstream(upstream, trustDomain, nowMs);
  return upstream;
}
