// The whole upstream chain, checked (X509-7, X509-26, GS-6): each certificate issued by the next,
// each a CA allowed to sign, valid now, its pathLen leaving room for our CA below; and a throwaway
// SVID of each new CA certificate verified against the anchor we publish, by our own verifier.
import { generateKeyPairSync, X509Certificate, type KeyObject } from 'node:crypto';
import { Bundle, x509AuthorityFromDer } from '../bundle/index.js';
import { CaError } from '../errors.js';
import type { TrustDomain } from '../spiffeid/index.js';
import { verifyX509Svid } from '../svid/index.js';
import { readCertificateParts } from './cert-reader.js';
import { signingProfileOf } from './key-type.js';
import { keyIdentifier, spkiKeyBits } from './subject-key.js';
import {
  caSubjectName,
  createLeafTemplate,
  encodeCaTbs,
  encodeLeafTbs,
  randomSerial,
  signTbsSync,
  type CertificateSigner,
} from './x509-encoder.js';

const floorSecond = (ms: number): number => Math.floor(ms / 1000) * 1000;

function upstreamError(message: string, cause?: unknown): CaError {
  return new CaError('ERR_CA_UPSTREAM', message, cause === undefined ? {} : { cause });
}

/** When every certificate of the chain is valid: the latest notBefore, the earliest notAfter. */
export interface ChainValidity {
  readonly notBeforeMs: number;
  readonly notAfterMs: number;
}

/**
 * Checks `certificates` (the upstream file: the signing CA first, the anchor we publish last) at
 * `nowMs`. Certificate i has i upstream CAs and our CA below it before a leaf, so its
 * pathLenConstraint, when present, must be at least i + 1.
 */
export function checkUpstreamChain(certificates: readonly Buffer[], nowMs: number): ChainValidity {
  let notBeforeMs = Number.NEGATIVE_INFINITY;
  let notAfterMs = Number.POSITIVE_INFINITY;
  let previous: X509Certificate | undefined;
  certificates.forEach((der, i) => {
    const certificate = new X509Certificate(der);
    const parts = readCertificateParts(der);
    const which =
      i === 0 ? 'the upstream certificate' : `certificate ${i + 1} of the upstream file`;
    if (previous !== undefined && !isIssuedBy(previous, certificate)) {
      throw upstreamError(
        `certificate ${i} of the upstream file is not issued by certificate ${i + 1} (subject "${certificate.subject.replaceAll('\n', ', ')}"): the file must hold the chain in order, up to the root`,
      );
    }
    if (!parts.isCa) throw upstreamError(`${which} is not a CA (basicConstraints cA)`);
    if (parts.keyUsage !== undefined && !parts.keyUsage.keyCertSign) {
      throw upstreamError(`${which} lacks keyCertSign`);
    }
    if (parts.pathLen !== undefined && parts.pathLen < i + 1) {
      throw upstreamError(
        `${which} has pathLenConstraint ${parts.pathLen}: it allows ${parts.pathLen} CA certificate(s) below it, and the path to an SVID has ${i + 1} (${i} upstream, then our CA)`,
      );
    }
    const from = Date.parse(certificate.validFrom);
    const to = Date.parse(certificate.validTo);
    if (nowMs < from || nowMs >= to) {
      throw upstreamError(
        `${which} is not valid now (valid from ${certificate.validFrom} to ${certificate.validTo})`,
      );
    }
    notBeforeMs = Math.max(notBeforeMs, from);
    notAfterMs = Math.min(notAfterMs, to);
    previous = certificate;
  });
  return { notBeforeMs, notAfterMs };
}

function isIssuedBy(child: X509Certificate, parent: X509Certificate): boolean {
  try {
    return child.checkIssued(parent) && child.verify(parent.publicKey);
  } catch {
    return false;
  }
}

/** A CA certificate of ours under the upstream CA and what it needs to sign a probe leaf. */
export interface ProbedCa {
  readonly certificateDer: Buffer;
  readonly privateKey: KeyObject;
  readonly subjectNameDer: Buffer;
  readonly keyIdentifier: Buffer;
  readonly notBeforeMs: number;
  readonly notAfterMs: number;
}

export interface UpstreamPath {
  readonly chainDer: readonly Buffer[];
  readonly anchorDer: Buffer;
}

/**
 * Signs a throwaway leaf (never stored, never sent) with `ca` and verifies [leaf, ca, ...chain]
 * against a bundle of `anchorDer` alone, as partners will; ERR_CA_UPSTREAM when it fails.
 */
export function verifyUpstreamPath(
  upstream: UpstreamPath,
  ca: ProbedCa,
  trustDomain: TrustDomain,
  nowMs: number,
): void {
  const profile = signingProfileOf(ca.privateKey);
  if (profile === undefined) throw new CaError('ERR_CA_CONFIG', 'unsupported ca key type');
  const signer: CertificateSigner = {
    privateKey: ca.privateKey,
    profile,
    subjectNameDer: ca.subjectNameDer,
    keyIdentifier: ca.keyIdentifier,
  };
  // The leaf carries the CA's own public key: it only has to be well formed and signed.
  const spkiDer = readCertificateParts(ca.certificateDer).spkiDer;
  const leafDer = signTbsSync(
    signer,
    encodeLeafTbs(createLeafTemplate(signer), {
      serial: randomSerial(),
      notBeforeMs: ca.notBeforeMs,
      notAfterMs: Math.min(ca.notAfterMs, floorSecond(nowMs + 60_000)),
      spkiDer,
      subjectKeyId: keyIdentifier(spkiKeyBits(spkiDer)),
      uri: `${trustDomain.idString}/spiffe/upstream-probe`,
      dnsNames: [],
    }),
  );
  const bundle = new Bundle({
    trustDomain,
    x509Authorities: [x509AuthorityFromDer(upstream.anchorDer)],
  });
  try {
    verifyX509Svid([leafDer, ca.certificateDer, ...upstream.chainDer], bundle, {
      now: new Date(nowMs),
    });
  } catch (cause) {
    const code = (cause as { code?: unknown }).code;
    throw upstreamError(
      `an SVID signed under the upstream ca would not verify against the anchor we publish (${String(code)}: ${(cause as Error).message})`,
      cause,
    );
  }
}

/** verifyUpstreamPath with a throwaway CA key and certificate signed by `signer` (at load). */
export function probeUpstream(
  upstream: UpstreamPath & { readonly signer: CertificateSigner } & ChainValidity,
  trustDomain: TrustDomain,
  nowMs: number,
): void {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spkiDer = publicKey.export({ type: 'spki', format: 'der' });
  const ski = keyIdentifier(spkiKeyBits(spkiDer));
  const subjectNameDer = caSubjectName(trustDomain.name, 'upstream-probe');
  const notBeforeMs = floorSecond(Math.max(upstream.notBeforeMs, nowMs - 60_000));
  const notAfterMs = floorSecond(Math.min(upstream.notAfterMs, nowMs + 600_000));
  const certificateDer = signTbsSync(
    upstream.signer,
    encodeCaTbs(upstream.signer, {
      serial: randomSerial(),
      notBeforeMs,
      notAfterMs,
      subjectNameDer,
      spkiDer,
      subjectKeyId: ski,
      trustDomainUri: trustDomain.idString,
    }),
  );
  verifyUpstreamPath(
    upstream,
    { certificateDer, privateKey, subjectNameDer, keyIdentifier: ski, notBeforeMs, notAfterMs },
    trustDomain,
    nowMs,
  );
}
