// Verifies a peer X509-SVID chain (DER, leaf first) against the bundle of the leaf's trust domain only,
// applying X509-20..31 in order with our own RFC 5280 path validation (anchors need not be self-signed).
import { constants, createPublicKey, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import type { BundleSource, X509Authority } from '../bundle/index.js';
import { SvidError, type SvidErrorCode } from '../errors.js';
import { parseSpiffeId, type SpiffeId } from '../spiffeid/index.js';
import { DerError } from '../encoding/index.js';
import {
  parseBasicConstraints,
  parseGeneralNames,
  parseKeyUsage,
  parseNameConstraints,
  type BasicConstraints,
  type GeneralName,
  type NameConstraints,
} from './cert-extensions.js';
import {
  OID_HEX,
  oidHexToString,
  parseCertificate,
  type ParsedCertificate,
} from './certificate.js';
import { findNameConstraintViolation, isFullySupported } from './name-constraints.js';

/** Most certificates a peer may present; longer chains are refused before parsing. */
export const MAX_PRESENTED_CERTIFICATES = 16;
/** Most certificates in a validated path, anchor included (leaf + up to 6 intermediates + anchor). */
export const MAX_PATH_CERTIFICATES = 8;
/** Bound on signature checks while building paths, so crafted chains cannot make us spin. */
const MAX_SIGNATURE_CHECKS = 32;

const KU_DIGITAL_SIGNATURE = 1 << 0;
const KU_KEY_CERT_SIGN = 1 << 5;
const KU_CRL_SIGN = 1 << 6;

const TAG_DNS = 2;
const TAG_URI = 6;

/** Extensions whose criticality we honour because we process (or knowingly ignore) them. */
const KNOWN_EXTENSIONS = new Set<string>([
  OID_HEX.basicConstraints,
  OID_HEX.keyUsage,
  OID_HEX.extKeyUsage,
  OID_HEX.subjectAltName,
  OID_HEX.nameConstraints,
  OID_HEX.subjectKeyIdentifier,
  OID_HEX.authorityKeyIdentifier,
]);

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

interface CertInfo {
  readonly parsed: ParsedCertificate;
  readonly basicConstraints: BasicConstraints | undefined;
  readonly keyUsage: number | undefined;
  readonly sans: readonly GeneralName[];
  readonly nameConstraints: NameConstraints | undefined;
  readonly nameConstraintsUnsupported: boolean;
  /** Dotted OID of the first critical extension we do not process. */
  readonly unknownCritical: string | undefined;
  readonly selfIssued: boolean;
}

interface Anchor {
  readonly info: CertInfo;
  readonly authority: X509Authority;
}

type Role = 'leaf' | 'intermediate' | 'anchor';

function svidError(
  code: SvidErrorCode,
  message: string,
  context?: Record<string, unknown>,
  cause?: unknown,
): SvidError {
  return new SvidError(code, message, {
    ...(context === undefined ? {} : { context }),
    ...(cause === undefined ? {} : { cause }),
  });
}

/** Decodes the extensions we need; throws DerError on malformed values. */
function certInfo(parsed: ParsedCertificate): CertInfo {
  let basicConstraints: BasicConstraints | undefined;
  let keyUsage: number | undefined;
  let sans: readonly GeneralName[] = [];
  let nameConstraints: NameConstraints | undefined;
  let nameConstraintsUnsupported = false;
  let unknownCritical: string | undefined;
  for (const ext of parsed.extensions) {
    switch (ext.oidHex) {
      case OID_HEX.basicConstraints:
        basicConstraints = parseBasicConstraints(ext.value);
        break;
      case OID_HEX.keyUsage:
        keyUsage = parseKeyUsage(ext.value);
        break;
      case OID_HEX.subjectAltName:
        sans = parseGeneralNames(ext.value);
        break;
      case OID_HEX.nameConstraints:
        nameConstraints = parseNameConstraints(ext.value);
        // A stack that cannot process a critical name constraint must reject (X509-26).
        nameConstraintsUnsupported = ext.critical && !isFullySupported(nameConstraints);
        break;
      default:
        if (ext.critical && unknownCritical === undefined && !KNOWN_EXTENSIONS.has(ext.oidHex)) {
          unknownCritical = oidHexToString(ext.oidHex);
        }
    }
  }
  return {
    parsed,
    basicConstraints,
    keyUsage,
    sans,
    nameConstraints,
    nameConstraintsUnsupported,
    unknownCritical,
    selfIssued: parsed.issuer.equals(parsed.subject),
  };
}

// Parsed form of each anchor, computed once per X509Authority object (null: unusable anchor).
const anchorCache = new WeakMap<X509Authority, Anchor | null>();

function anchorOf(authority: X509Authority): Anchor | null {
  let anchor = anchorCache.get(authority);
  if (anchor === undefined) {
    try {
      anchor = { info: certInfo(parseCertificate(authority.der)), authority };
    } catch {
      anchor = null;
    }
    anchorCache.set(authority, anchor);
  }
  return anchor;
}

/** Checks `child`'s signature with `key`, requiring the key type to fit the algorithm. */
function signedBy(child: ParsedCertificate, key: KeyObject): boolean {
  const alg = child.signatureAlgorithm;
  const type = key.asymmetricKeyType;
  try {
    switch (alg.kind) {
      case 'ecdsa':
        return type === 'ec' && cryptoVerify(alg.hash, child.tbs, key, child.signature);
      case 'rsa-pkcs1':
        return (
          type === 'rsa' &&
          cryptoVerify(
            alg.hash,
            child.tbs,
            { key, padding: constants.RSA_PKCS1_PADDING },
            child.signature,
          )
        );
      case 'rsa-pss':
        return (
          (type === 'rsa' || type === 'rsa-pss') &&
          cryptoVerify(
            alg.hash,
            child.tbs,
            { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: alg.saltLength },
            child.signature,
          )
        );
      case 'ed25519':
        return type === 'ed25519' && cryptoVerify(null, child.tbs, key, child.signature);
      default:
        return false;
    }
  } catch {
    return false;
  }
}

// Importing an SPKI costs more than a signature check (~150 µs for P-256), so intermediate keys are
// cached by their SPKI bytes (public data; the mapping is deterministic). Bounded, least recently used.
const INTERMEDIATE_KEY_CACHE_SIZE = 256;
const intermediateKeys = new Map<string, KeyObject | null>();

function importKey(info: CertInfo): KeyObject | null {
  const id = info.parsed.spki.toString('latin1');
  let key = intermediateKeys.get(id);
  if (key !== undefined) {
    intermediateKeys.delete(id);
  } else {
    try {
      key = createPublicKey({ key: info.parsed.spki, format: 'der', type: 'spki' });
    } catch {
      key = null;
    }
    if (intermediateKeys.size >= INTERMEDIATE_KEY_CACHE_SIZE) {
      const oldest = intermediateKeys.keys().next();
      if (!oldest.done) intermediateKeys.delete(oldest.value);
    }
  }
  intermediateKeys.set(id, key);
  return key;
}

function roleOf(index: number, last: number): Role {
  return index === 0 ? 'leaf' : index === last ? 'anchor' : 'intermediate';
}

/** RFC 5280 checks on a complete path (leaf ... anchor); returns the first failure. */
function validatePath(path: readonly CertInfo[], nowMs: number): SvidError | undefined {
  const last = path.length - 1;
  for (let i = 0; i <= last; i++) {
    const { parsed } = path[i] as CertInfo;
    const role = roleOf(i, last);
    if (nowMs < parsed.notBeforeMs) {
      return svidError('ERR_SVID_CERT_NOT_YET_VALID', `${role} certificate is not yet valid`, {
        index: i,
        role,
        notBefore: new Date(parsed.notBeforeMs).toISOString(),
      });
    }
    if (nowMs > parsed.notAfterMs) {
      return svidError('ERR_SVID_CERT_EXPIRED', `${role} certificate has expired`, {
        index: i,
        role,
        notAfter: new Date(parsed.notAfterMs).toISOString(),
      });
    }
  }
  for (let i = 0; i <= last; i++) {
    const oid = (path[i] as CertInfo).unknownCritical;
    if (oid !== undefined) {
      const role = roleOf(i, last);
      return svidError(
        'ERR_SVID_CRITICAL_EXTENSION',
        `${role} certificate has an unsupported critical extension ${oid}`,
        { index: i, role, oid },
      );
    }
  }
  for (let i = 1; i <= last; i++) {
    const info = path[i] as CertInfo;
    const role = roleOf(i, last);
    if (info.basicConstraints?.ca !== true) {
      return svidError('ERR_SVID_ISSUER_NOT_CA', `${role} certificate is not a ca`, {
        index: i,
        role,
      });
    }
    if (info.keyUsage !== undefined && (info.keyUsage & KU_KEY_CERT_SIGN) === 0) {
      return svidError('ERR_SVID_ISSUER_NOT_CA', `${role} certificate lacks keyCertSign`, {
        index: i,
        role,
      });
    }
  }
  for (let i = 1; i <= last; i++) {
    const pathLen = (path[i] as CertInfo).basicConstraints?.pathLen;
    if (pathLen === undefined) continue;
    let below = 0;
    for (let j = 1; j < i; j++) if (!(path[j] as CertInfo).selfIssued) below += 1;
    if (below > pathLen) {
      const role = roleOf(i, last);
      return svidError(
        'ERR_SVID_PATH_LEN',
        `${role} certificate allows ${pathLen} intermediates below it; the path has ${below}`,
        { index: i, role, pathLen, intermediates: below },
      );
    }
  }
  for (let i = 1; i <= last; i++) {
    const info = path[i] as CertInfo;
    const nc = info.nameConstraints;
    if (nc === undefined) continue;
    const role = roleOf(i, last);
    if (info.nameConstraintsUnsupported) {
      return svidError(
        'ERR_SVID_NAME_CONSTRAINTS',
        `${role} certificate has a critical name constraint form that is not supported`,
        { index: i, role },
      );
    }
    for (let j = 0; j < i; j++) {
      const subject = path[j] as CertInfo;
      // RFC 5280 §6.1.3 (b): self-issued intermediates are not checked.
      if (j > 0 && subject.selfIssued) continue;
      const violation = findNameConstraintViolation(subject.sans, nc);
      if (violation !== undefined) {
        return svidError(
          'ERR_SVID_NAME_CONSTRAINTS',
          `name ${JSON.stringify(violation)} violates the name constraints of the ${role} certificate`,
          { index: i, role, name: violation, subjectIndex: j },
        );
      }
    }
  }
  return undefined;
}

interface SearchState {
  budget: number;
  firstError: SvidError | undefined;
}

/** Depth-first path building: anchors first, then unused presented intermediates (no repeats, so no loops). */
function extendPath(
  path: CertInfo[],
  intermediates: readonly CertInfo[],
  anchors: readonly Anchor[],
  nowMs: number,
  state: SearchState,
): { path: CertInfo[]; anchor: Anchor } | undefined {
  const child = path[path.length - 1] as CertInfo;
  for (const anchor of anchors) {
    if (!anchor.info.parsed.subject.equals(child.parsed.issuer)) continue;
    if (state.budget-- <= 0) return undefined;
    if (!signedBy(child.parsed, anchor.authority.publicKey)) continue;
    const full = [...path, anchor.info];
    const error = validatePath(full, nowMs);
    if (error === undefined) return { path: full, anchor };
    state.firstError ??= error;
  }
  if (path.length + 2 > MAX_PATH_CERTIFICATES) return undefined;
  for (const candidate of intermediates) {
    if (path.includes(candidate)) continue;
    if (!candidate.parsed.subject.equals(child.parsed.issuer)) continue;
    if (state.budget-- <= 0) return undefined;
    const key = importKey(candidate);
    if (key === null || !signedBy(child.parsed, key)) continue;
    path.push(candidate);
    const found = extendPath(path, intermediates, anchors, nowMs, state);
    if (found) return found;
    path.pop();
  }
  return undefined;
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

/**
 * Verifies an X509-SVID chain (leaf first, then any intermediates) against `source` and returns the
 * leaf's SPIFFE ID. Caller mistakes throw TypeError; every rejection is an SvidError with a stable
 * code. A bare chain proves nothing about key possession (X509-29): use it inside TLS or with a
 * separate proof.
 */
export function verifyX509Svid(
  chain: readonly Uint8Array[],
  source: BundleSource,
  options: VerifyX509SvidOptions = {},
): VerifiedX509Svid {
  const nowMs = checkArguments(chain, source, options);

  // X509-20: a non-empty chain of parsable certificates.
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
  const leaf = infos[0] as CertInfo;

  // X509-21 / X509-31: exactly one URI SAN, read from the DER of the extension.
  const uris = leaf.sans.filter((n) => n.tag === TAG_URI);
  if (uris.length !== 1) {
    throw svidError(
      'ERR_SVID_URI_SAN_COUNT',
      `leaf certificate has ${uris.length} uri sans; exactly one is required`,
      { count: uris.length },
    );
  }

  // X509-22: a valid SPIFFE ID with a non-empty path.
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

  // X509-23: the leaf is not a CA and cannot sign certificates or CRLs.
  if (leaf.basicConstraints?.ca === true) {
    throw svidError('ERR_SVID_LEAF_IS_CA', 'leaf certificate is a ca (basicConstraints cA true)');
  }
  if (leaf.keyUsage !== undefined && (leaf.keyUsage & (KU_KEY_CERT_SIGN | KU_CRL_SIGN)) !== 0) {
    throw svidError('ERR_SVID_LEAF_KEY_USAGE', 'leaf key usage contains keyCertSign or cRLSign', {
      reason: 'ca-usage',
    });
  }
  // X509-24: key usage present with digitalSignature.
  if (leaf.keyUsage === undefined || (leaf.keyUsage & KU_DIGITAL_SIGNATURE) === 0) {
    throw svidError(
      'ERR_SVID_LEAF_KEY_USAGE',
      leaf.keyUsage === undefined
        ? 'leaf certificate has no key usage extension'
        : 'leaf key usage lacks digitalSignature',
      { reason: leaf.keyUsage === undefined ? 'missing' : 'no-digital-signature' },
    );
  }

  // X509-25: anchors come from the bundle of the leaf's trust domain, and from nowhere else.
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

  // X509-26: RFC 5280 path validation to one of those anchors.
  const state: SearchState = { budget: MAX_SIGNATURE_CHECKS, firstError: undefined };
  const found = extendPath([leaf], infos.slice(1), anchors, nowMs, state);
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
