// In-memory authority records (public data), their private counterparts (keys, leaf template, JWT
// signer), and conversions to metadata and to the persisted state document and back.
import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import {
  jwtAuthorityFromJwk,
  x509AuthorityFromDer,
  type JwtAuthority,
  type X509Authority,
} from '../bundle/index.js';
import { sha256Hex } from '../encoding/index.js';
import { CaError } from '../errors.js';
import type { AuthorityKind, AuthorityMetadata, AuthorityState } from './authority.js';
import { readCertificateParts } from './cert-reader.js';
import { createJwtSigner, type JwtSigner } from './jwt-encoder.js';
import { signingProfileOf, type KeyType } from './key-type.js';
import type { PersistedAuthority } from './persistence.js';
import { createLeafTemplate, type CertificateSigner, type LeafTemplate } from './x509-encoder.js';

/** Mutable, in-memory state of one authority: public data only. */
export interface AuthorityRecord {
  readonly id: string;
  readonly kind: AuthorityKind;
  readonly keyType: KeyType;
  state: AuthorityState;
  readonly createdAt: number;
  readonly publishedAt: number;
  activatedAt: number | undefined;
  retiredAt: number | undefined;
  taintedAt: number | undefined;
  revokedAt: number | undefined;
  readonly notBefore: number;
  readonly notAfter: number;
  /** Exact latest expiry of what it signed (in memory). */
  signedUntil: number | undefined;
  /** The bound written to disk (>= signedUntil): a crash never shortens FED-51. */
  durableSignedUntil: number | undefined;
  /** The bound of the last successful state write. */
  persistedSignedUntil: number | undefined;
  readonly upstream: boolean;
  readonly certificateDer: Buffer | undefined;
  readonly chainDer: readonly Buffer[];
  readonly anchor: X509Authority | undefined;
  readonly fingerprint: string | undefined;
  readonly jwtAuthority: JwtAuthority | undefined;
}

/** Private key material, kept apart from records so that no metadata path can reach it. */
export interface AuthoritySecret {
  readonly privateKey: KeyObject;
  readonly leafTemplate: LeafTemplate | undefined;
  readonly svidChainSuffix: readonly Buffer[];
  readonly jwtSigner: JwtSigner | undefined;
}

function date(ms: number | undefined): Date | undefined {
  return ms === undefined ? undefined : new Date(ms);
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function isoOpt(ms: number | undefined): string | undefined {
  return ms === undefined ? undefined : iso(ms);
}

export function floorSecond(ms: number): number {
  return Math.floor(ms / 1000) * 1000;
}

export function publicJwkOf(key: KeyObject): JsonWebKey {
  const jwk = key.export({ format: 'jwk' });
  const out: JsonWebKey = {};
  for (const name of ['kty', 'crv', 'x', 'y', 'n', 'e'] as const) {
    if (jwk[name] !== undefined) out[name] = jwk[name];
  }
  return out;
}

export function toMetadata(r: AuthorityRecord): AuthorityMetadata {
  return Object.freeze({
    id: r.id,
    kind: r.kind,
    keyType: r.keyType,
    state: r.state,
    createdAt: new Date(r.createdAt),
    publishedAt: new Date(r.publishedAt),
    activatedAt: date(r.activatedAt),
    retiredAt: date(r.retiredAt),
    taintedAt: date(r.taintedAt),
    revokedAt: date(r.revokedAt),
    notBefore: new Date(r.notBefore),
    notAfter: new Date(r.notAfter),
    signedUntil: date(r.signedUntil),
    upstream: r.upstream,
    certificateDer: r.certificateDer === undefined ? undefined : Buffer.from(r.certificateDer),
    fingerprintSha256: r.fingerprint,
    anchorFingerprintSha256: r.anchor?.fingerprintSha256,
    publicJwk: r.jwtAuthority === undefined ? undefined : Object.freeze({ ...r.jwtAuthority.jwk }),
  });
}

/** The persisted form of a record; `signedUntil` is the durable bound, never the in-memory value. */
export function recordToPersisted(r: AuthorityRecord): PersistedAuthority {
  const out: PersistedAuthority = {
    id: r.id,
    kind: r.kind,
    keyType: r.keyType,
    state: r.state,
    createdAt: iso(r.createdAt),
    publishedAt: iso(r.publishedAt),
    notBefore: iso(r.notBefore),
    notAfter: iso(r.notAfter),
    upstream: r.upstream,
  };
  const optional = {
    activatedAt: isoOpt(r.activatedAt),
    retiredAt: isoOpt(r.retiredAt),
    taintedAt: isoOpt(r.taintedAt),
    revokedAt: isoOpt(r.revokedAt),
    signedUntil: isoOpt(r.durableSignedUntil),
  };
  for (const [name, value] of Object.entries(optional)) {
    if (value !== undefined) (out as Record<string, unknown>)[name] = value;
  }
  if (r.certificateDer !== undefined) out.certificate = r.certificateDer.toString('base64');
  if (r.chainDer.length > 0) out.chain = r.chainDer.map((c) => c.toString('base64'));
  if (r.anchor !== undefined) out.anchor = r.anchor.der.toString('base64');
  if (r.jwtAuthority !== undefined) {
    out.jwk = { ...(r.jwtAuthority.jwk as NonNullable<PersistedAuthority['jwk']>) };
  }
  return out;
}

/**
 * Rebuilds a record from the state document; `privateKey` (prepared and active authorities only)
 * must match the certificate or JWK, else ERR_CA_KEY_LOAD. Damaged entries are ERR_CA_STATE.
 */
export function recordFromPersisted(
  p: PersistedAuthority,
  privateKey: KeyObject | undefined,
): { record: AuthorityRecord; secret: AuthoritySecret | undefined } {
  const ms = (v: string): number => Date.parse(v);
  const msOpt = (v: string | undefined): number | undefined =>
    v === undefined ? undefined : ms(v);
  let certificateDer: Buffer | undefined;
  let chainDer: Buffer[] = [];
  let anchor: X509Authority | undefined;
  let jwtAuthority: JwtAuthority | undefined;
  try {
    if (p.kind === 'x509') {
      if (p.certificate === undefined || p.anchor === undefined) {
        throw new CaError('ERR_CA_STATE', `x509 authority "${p.id}" has no certificate`);
      }
      certificateDer = Buffer.from(p.certificate, 'base64');
      chainDer = (p.chain ?? []).map((c) => Buffer.from(c, 'base64'));
      anchor = x509AuthorityFromDer(Buffer.from(p.anchor, 'base64'));
      const parts = readCertificateParts(certificateDer);
      if (
        privateKey !== undefined &&
        !createPublicKey(privateKey).export({ type: 'spki', format: 'der' }).equals(parts.spkiDer)
      ) {
        throw new CaError(
          'ERR_CA_KEY_LOAD',
          `the key of x509 authority "${p.id}" does not match its certificate`,
        );
      }
    } else {
      if (p.jwk === undefined) throw new CaError('ERR_CA_STATE', `jwt key "${p.id}" has no jwk`);
      jwtAuthority = jwtAuthorityFromJwk(p.id, p.jwk as JsonWebKey);
      if (
        privateKey !== undefined &&
        JSON.stringify(publicJwkOf(createPublicKey(privateKey))) !==
          JSON.stringify(jwtAuthority.jwk)
      ) {
        throw new CaError(
          'ERR_CA_KEY_LOAD',
          `the key of jwt authority "${p.id}" does not match its jwk`,
        );
      }
    }
  } catch (cause) {
    if (cause instanceof CaError) throw cause;
    throw new CaError('ERR_CA_STATE', `${p.kind} authority "${p.id}" is damaged`, { cause });
  }
  const signedUntil = msOpt(p.signedUntil);
  const record: AuthorityRecord = {
    id: p.id,
    kind: p.kind,
    keyType: p.keyType,
    state: p.state,
    createdAt: ms(p.createdAt),
    publishedAt: ms(p.publishedAt),
    activatedAt: msOpt(p.activatedAt),
    retiredAt: msOpt(p.retiredAt),
    taintedAt: msOpt(p.taintedAt),
    revokedAt: msOpt(p.revokedAt),
    notBefore: ms(p.notBefore),
    notAfter: ms(p.notAfter),
    signedUntil,
    durableSignedUntil: signedUntil,
    persistedSignedUntil: signedUntil,
    upstream: p.upstream,
    certificateDer,
    chainDer,
    anchor,
    fingerprint: certificateDer === undefined ? undefined : sha256Hex(certificateDer),
    jwtAuthority,
  };
  let secret: AuthoritySecret | undefined;
  if (privateKey !== undefined) {
    secret =
      certificateDer !== undefined
        ? x509Secret(privateKey, certificateDer, chainDer, p.upstream)
        : jwtSecret(privateKey, p.id);
  }
  return { record, secret };
}

/** Signing material of an X.509 authority: the leaf template and the chain sent after the leaf. */
export function x509Secret(
  privateKey: KeyObject,
  certificateDer: Buffer,
  chainDer: readonly Buffer[],
  isUpstream: boolean,
): AuthoritySecret {
  const profile = signingProfileOf(privateKey);
  if (profile === undefined) throw new CaError('ERR_CA_KEY_LOAD', 'unsupported ca key type');
  const parts = readCertificateParts(certificateDer);
  const signer: CertificateSigner = {
    privateKey,
    profile,
    subjectNameDer: parts.subjectNameDer,
    keyIdentifier: parts.keyIdentifier,
  };
  return {
    privateKey,
    leafTemplate: createLeafTemplate(signer),
    // X509-7: leaf, then intermediates; a self-signed root is not sent.
    svidChainSuffix: isUpstream ? [certificateDer, ...chainDer] : [],
    jwtSigner: undefined,
  };
}

export function jwtSecret(privateKey: KeyObject, kid: string): AuthoritySecret {
  const profile = signingProfileOf(privateKey);
  if (profile === undefined) throw new CaError('ERR_CA_KEY_LOAD', 'unsupported jwt key type');
  return {
    privateKey,
    leafTemplate: undefined,
    svidChainSuffix: [],
    jwtSigner: createJwtSigner(privateKey, profile, kid),
  };
}
