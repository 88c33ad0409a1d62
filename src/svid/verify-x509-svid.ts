// Verifies a peer X509-SVID chain (DER, leaf first) against the bundle of the leaf's trust domain only,
// applying X509-20..31 in order with our own RFC 5280 path validation (anchors need not be self-signed).
import type { BundleSource, X509Authority } from '../bundle/index.js';
import { DerError } from '../encoding/index.js';
import { parseSpiffeId, type SpiffeId } from '../spiffeid/index.js';
import type { GeneralName } from './cert-extensions.js';
import { parseCertificate } from './certificate.js';
import {
  anchorOf,
  certInfo,
  extendPath,
  KU_CRL_SIGN,
  KU_DIGITAL_SIGNATURE,
  KU_KEY_CERT_SIGN,
  MAX_SIGNATURE_CHECKS,
  type Anchor,
  type CertInfo,
  type SearchState,
} from './path-validation.js';

import { svidError } from './svid-error.js';

export { MAX_PATH_CERTIFICATES } from './path-validation.js';

/** Most certificates a peer may present; longer chains are refused before parsing. */
export const MAX_PRESENTED_CERTIFICATES = 16;

const TAG_DNS = 2;
const TAG_URI = 6;

export interface VerifyX509SvidOptions {
  /** Verification time; default the current time. */
  readonly now?: Date;
}

/** Facts about the verified leaf, read from its DER (no X509Certificate object is built). Buffers are views of the input. */
export interface X509SvidLeaf {
  readonly der: Buffer;
  readonly serialNumberHex: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** SubjectPublicKeyInfo DER of the leaf key. */
  readonly subjectPublicKeyInfo: Buffer;
  /** DNS SANs, for information only: never part of SPIFFE authentication (X509-28). */
  readonly dnsNames: readonly string[];
}

export interface VerifiedX509Svid {
  readonly spiffeId: SpiffeId;
  readonly leaf: X509SvidLeaf;
  /** The verified path without the anchor: leaf first, then the intermediates used. */
  readonly chain: readonly Buffer[];
  /** The bundle authority the path ends at (trusted as-is, X509-26). */
  readonly authority: X509Authority;
  /** Earliest notAfter along the path, anchor included. */
  readonly expiresAt: Date;
}

function checkArguments(
  chain: readonly Uint8Array[],
  source: BundleSource,
  options: VerifyX509SvidOptions,
): number {
  if (!Array.isArray(chain)) throw new TypeError('chain must be an array of DER certificates');
  for (const der of chain) {
    if (!(der instanceof Uint8Array)) throw new TypeError('chain entries must be Uint8Array');
  }
  if (typeof source?.getBundleForTrustDomain !== 'function') {
    throw new TypeError('source must be a BundleSource');
  }
  const now = options.now ?? new Date();
  const nowMs = now instanceof Date ? now.getTime() : NaN;
  if (!Number.isFinite(nowMs)) throw new TypeError('now must be a valid Date');
  return nowMs;
}

/** X509-20: a non-empty chain, not longer than the limit, of parsable certificates. */
function parseChain(chain: readonly Uint8Array[]): CertInfo[] {
  if (chain.length === 0) throw svidError('ERR_SVID_EMPTY_CHAIN', 'certificate chain is empty');
  if (chain.length > MAX_PRESENTED_CERTIFICATES) {
    throw svidError(
      'ERR_SVID_CHAIN_TOO_LONG',
      `certificate chain has ${chain.length} certificates; the limit is ${MAX_PRESENTED_CERTIFICATES}`,
      { length: chain.length },
    );
  }
  const infos: CertInfo[] = [];
  for (let i = 0; i < chain.length; i++) {
    try {
      infos.push(certInfo(parseCertificate(chain[i] as Uint8Array)));
    } catch (cause) {
      if (!(cause instanceof DerError)) throw cause;
      throw svidError(
        'ERR_SVID_CERT_PARSE',
        `certificate ${i} is not a valid der x.509 certificate (${cause.message})`,
        { index: i },
        cause,
      );
    }
  }
  return infos;
}

/** X509-21 / X509-31 / X509-22: exactly one URI SAN, read from the DER, a SPIFFE ID with a path. */
function leafSpiffeId(leaf: CertInfo): SpiffeId {
  const uris = leaf.sans.filter((n) => n.tag === TAG_URI);
  if (uris.length !== 1) {
    throw svidError(
      'ERR_SVID_URI_SAN_COUNT',
      `leaf certificate has ${uris.length} uri sans; exactly one is required`,
      { count: uris.length },
    );
  }
  const uri = (uris[0] as GeneralName).value.toString('latin1');
  let spiffeId: SpiffeId;
  try {
    spiffeId = parseSpiffeId(uri);
  } catch (cause) {
    throw svidError(
      'ERR_SVID_ID_INVALID',
      'leaf uri san is not a valid spiffe id',
      { reason: (cause as { code?: unknown }).code },
      cause,
    );
  }
  if (spiffeId.isTrustDomainId) {
    throw svidError(
      'ERR_SVID_ID_INVALID',
      `leaf spiffe id "${uri}" has no path; a workload id needs one`,
      { reason: 'no-path' },
    );
  }
  return spiffeId;
}

/** X509-23 / X509-24: the leaf is not a CA, cannot sign certificates or CRLs, and has digitalSignature. */
function checkLeafUsage(leaf: CertInfo): void {
  if (leaf.basicConstraints?.ca === true) {
    throw svidError('ERR_SVID_LEAF_IS_CA', 'leaf certificate is a ca (basicConstraints cA true)');
  }
  if (leaf.keyUsage !== undefined && (leaf.keyUsage & (KU_KEY_CERT_SIGN | KU_CRL_SIGN)) !== 0) {
    throw svidError('ERR_SVID_LEAF_KEY_USAGE', 'leaf key usage contains keyCertSign or cRLSign', {
      reason: 'ca-usage',
    });
  }
  if (leaf.keyUsage === undefined || (leaf.keyUsage & KU_DIGITAL_SIGNATURE) === 0) {
    throw svidError(
      'ERR_SVID_LEAF_KEY_USAGE',
      leaf.keyUsage === undefined
        ? 'leaf certificate has no key usage extension'
        : 'leaf key usage lacks digitalSignature',
      { reason: leaf.keyUsage === undefined ? 'missing' : 'no-digital-signature' },
    );
  }
}

/** X509-25: anchors come from the bundle of the leaf's trust domain, and from nowhere else. */
function anchorsFor(source: BundleSource, spiffeId: SpiffeId): Anchor[] {
  const bundle = source.getBundleForTrustDomain(spiffeId.trustDomain);
  if (bundle === undefined) {
    throw svidError(
      'ERR_SVID_NO_BUNDLE',
      `no bundle for trust domain "${spiffeId.trustDomain.name}"`,
      { trustDomain: spiffeId.trustDomain.name },
    );
  }
  const anchors: Anchor[] = [];
  for (const authority of bundle.x509Authorities) {
    const anchor = anchorOf(authority);
    if (anchor !== null) anchors.push(anchor);
  }
  if (anchors.length === 0) {
    throw svidError(
      'ERR_SVID_NO_AUTHORITIES',
      `bundle of trust domain "${spiffeId.trustDomain.name}" has no x.509 authorities`,
      { trustDomain: spiffeId.trustDomain.name },
    );
  }
  return anchors;
}

/** X509-26: RFC 5280 path validation from the leaf to one of the anchors. */
function validPath(
  infos: readonly CertInfo[],
  anchors: readonly Anchor[],
  spiffeId: SpiffeId,
  nowMs: number,
): { path: CertInfo[]; anchor: Anchor } {
  const state: SearchState = { budget: MAX_SIGNATURE_CHECKS, firstError: undefined };
  const found = extendPath([infos[0] as CertInfo], infos.slice(1), anchors, nowMs, state);
  if (found === undefined) {
    throw (
      state.firstError ??
      svidError(
        'ERR_SVID_CHAIN_UNTRUSTED',
        `chain does not lead to an x.509 authority of trust domain "${spiffeId.trustDomain.name}"`,
        { trustDomain: spiffeId.trustDomain.name },
      )
    );
  }
  return found;
}

/**
 * Verifies an X509-SVID chain (leaf first, then any intermediates) against `source` and returns the
 * leaf's SPIFFE ID, applying X509-20..26 in order. Caller mistakes throw TypeError; every rejection
 * is an SvidError with a stable code. A bare chain proves nothing about key possession (X509-29):
 * use it inside TLS or with a separate proof.
 */
export function verifyX509Svid(
  chain: readonly Uint8Array[],
  source: BundleSource,
  options: VerifyX509SvidOptions = {},
): VerifiedX509Svid {
  const nowMs = checkArguments(chain, source, options);
  const infos = parseChain(chain);
  const leaf = infos[0] as CertInfo;
  const spiffeId = leafSpiffeId(leaf);
  checkLeafUsage(leaf);
  const found = validPath(infos, anchorsFor(source, spiffeId), spiffeId, nowMs);

  let expiresMs = Infinity;
  for (const info of found.path) expiresMs = Math.min(expiresMs, info.parsed.notAfterMs);
  const leafParsed = leaf.parsed;
  return {
    spiffeId,
    leaf: {
      der: leafParsed.der,
      serialNumberHex: leafParsed.serialNumber.toString('hex'),
      notBefore: new Date(leafParsed.notBeforeMs),
      notAfter: new Date(leafParsed.notAfterMs),
      subjectPublicKeyInfo: leafParsed.spki,
      dnsNames: leaf.sans.filter((n) => n.tag === TAG_DNS).map((n) => n.value.toString('latin1')),
    },
    chain: found.path.slice(0, -1).map((info) => info.parsed.der),
    authority: found.anchor.authority,
    expiresAt: new Date(expiresMs),
  };
}
