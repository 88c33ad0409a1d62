// RFC 5280 path validation for X509-SVIDs (X509-26): the facts each certificate contributes, the
// anchors of a bundle, signature checks, the per-path checks in RFC order, and depth-first path building.
import { constants, createPublicKey, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import type { X509Authority } from '../bundle/index.js';
import type { SvidError } from '../errors.js';
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
import { svidError } from './svid-error.js';

/** Most certificates in a validated path, anchor included (leaf + up to 6 intermediates + anchor). */
export const MAX_PATH_CERTIFICATES = 8;
/** Bound on signature checks while building paths, so crafted chains cannot make us spin. */
export const MAX_SIGNATURE_CHECKS = 32;

export const KU_DIGITAL_SIGNATURE = 1 << 0;
export const KU_KEY_CERT_SIGN = 1 << 5;
export const KU_CRL_SIGN = 1 << 6;

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

export interface CertInfo {
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

export interface Anchor {
  readonly info: CertInfo;
  readonly authority: X509Authority;
}

type Role = 'leaf' | 'intermediate' | 'anchor';

/** Decodes the extensions we need; throws DerError on malformed values. */
export function certInfo(parsed: ParsedCertificate): CertInfo {
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

export function anchorOf(authority: X509Authority): Anchor | null {
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

export interface SearchState {
  budget: number;
  firstError: SvidError | undefined;
}

/** Depth-first path building: anchors first, then unused presented intermediates (no repeats, so no loops). */
export function extendPath(
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
