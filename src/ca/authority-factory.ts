// New authorities: a fresh key pair written to the broker's own disk, then the record the journal
// keeps. An X.509 authority gets a self-signed CA certificate, or one signed by the upstream CA
// (X509-10..16); a JWT authority a random kid and its public JWK, published in our bundle (JWT-6).
import { randomBytes, type KeyObject } from 'node:crypto';
import { jwtAuthorityFromJwk, x509AuthorityFromDer } from '../bundle/index.js';
import { sha256Hex } from '../encoding/index.js';
import { CaError } from '../errors.js';
import type { TrustDomain } from '../spiffeid/index.js';
import {
  floorSecond,
  jwtSecret,
  publicJwkOf,
  x509Secret,
  type AuthorityRecord,
  type AuthoritySecret,
} from './authority-record.js';
import { generateAuthorityKeyPair, signingProfileOf } from './key-type.js';
import type { ResolvedCaOptions } from './options.js';
import { keyName, type CaPersistence } from './persistence.js';
import { keyIdentifier, spkiKeyBits } from './subject-key.js';
import type { UpstreamCa } from './upstream.js';
import { verifyUpstreamPath } from './upstream-chain.js';
import {
  caSubjectName,
  encodeCaTbs,
  randomSerial,
  signTbsSync,
  type CertificateSigner,
} from './x509-encoder.js';

/** Back-dating of notBefore for clock skew (X509-8). */
export const NOT_BEFORE_BACKDATE_MS = 30_000;

export interface AuthorityFactoryDeps {
  readonly config: ResolvedCaOptions;
  readonly trustDomain: TrustDomain;
  readonly upstream: UpstreamCa | undefined;
  readonly persistence: CaPersistence;
}

export interface NewAuthority {
  readonly record: AuthorityRecord;
  readonly secret: AuthoritySecret;
}

async function writeKey(deps: AuthorityFactoryDeps, name: string, key: KeyObject): Promise<void> {
  await deps.persistence.writeKey(name, key.export({ type: 'pkcs8', format: 'pem' }).toString());
}

/** The signer of the new CA certificate and how long it may live. */
function caCertificateSigner(
  deps: AuthorityFactoryDeps,
  privateKey: KeyObject,
  subjectNameDer: Buffer,
  ski: Buffer,
  t: number,
  notAfter: number,
): { signer: CertificateSigner; notAfter: number } {
  const { upstream } = deps;
  if (upstream === undefined) {
    const profile = signingProfileOf(privateKey);
    if (profile === undefined) throw new CaError('ERR_CA_CONFIG', 'unsupported ca key type');
    return { signer: { privateKey, profile, subjectNameDer, keyIdentifier: ski }, notAfter };
  }
  if (t >= upstream.notAfterMs) {
    throw new CaError('ERR_CA_UPSTREAM', 'the upstream ca certificate has expired');
  }
  return {
    signer: upstream.signer,
    notAfter: Math.min(notAfter, floorSecond(upstream.notAfterMs)),
  };
}

/** A prepared X.509 authority created at `t`; its key is on disk when this resolves. */
export async function createX509Authority(
  deps: AuthorityFactoryDeps,
  t: number,
): Promise<NewAuthority> {
  const { config, trustDomain, upstream } = deps;
  const { privateKey, publicKey } = await generateAuthorityKeyPair(config.keyType);
  const spkiDer = publicKey.export({ type: 'spki', format: 'der' });
  const ski = keyIdentifier(spkiKeyBits(spkiDer));
  const id = ski.toString('hex');
  const subjectNameDer = caSubjectName(trustDomain.name, id);
  const notBefore = floorSecond(t - NOT_BEFORE_BACKDATE_MS);
  const { signer, notAfter } = caCertificateSigner(
    deps,
    privateKey,
    subjectNameDer,
    ski,
    t,
    floorSecond(t + config.caTtlSeconds * 1000),
  );
  const certificateDer = signTbsSync(
    signer,
    encodeCaTbs(signer, {
      serial: randomSerial(),
      notBeforeMs: notBefore,
      notAfterMs: notAfter,
      subjectNameDer,
      spkiDer,
      subjectKeyId: ski,
      trustDomainUri: trustDomain.idString,
      ...(config.uriNameConstraints ? { uriNameConstraint: trustDomain.name } : {}),
    }),
  );
  if (upstream !== undefined) {
    // X509-26: what this CA signs must verify up to the anchor we publish, or it is not made.
    verifyUpstreamPath(
      upstream,
      {
        certificateDer,
        privateKey,
        subjectNameDer,
        keyIdentifier: ski,
        notBeforeMs: notBefore,
        notAfterMs: notAfter,
      },
      trustDomain,
      t,
    );
  }
  const chainDer = upstream?.chainDer ?? [];
  const anchor = x509AuthorityFromDer(upstream?.anchorDer ?? certificateDer);
  await writeKey(deps, keyName('x509', id), privateKey);
  return {
    record: {
      ...blankRecord(t),
      id,
      kind: 'x509',
      keyType: config.keyType,
      notBefore,
      notAfter,
      upstream: upstream !== undefined,
      certificateDer,
      chainDer: [...chainDer],
      anchor,
      fingerprint: sha256Hex(certificateDer),
      jwtAuthority: undefined,
    },
    secret: x509Secret(privateKey, certificateDer, chainDer, upstream !== undefined),
  };
}

/** A prepared JWT authority created at `t` with a kid `taken` does not know; key on disk. */
export async function createJwtAuthority(
  deps: AuthorityFactoryDeps,
  t: number,
  taken: (kid: string) => boolean,
): Promise<NewAuthority> {
  const { config } = deps;
  const { privateKey, publicKey } = await generateAuthorityKeyPair(config.jwtKeyType);
  let kid = randomBytes(16).toString('base64url');
  while (taken(kid)) kid = randomBytes(16).toString('base64url');
  const jwtAuthority = jwtAuthorityFromJwk(kid, publicJwkOf(publicKey));
  await writeKey(deps, keyName('jwt', kid), privateKey);
  return {
    record: {
      ...blankRecord(t),
      id: kid,
      kind: 'jwt',
      keyType: config.jwtKeyType,
      notBefore: floorSecond(t),
      notAfter: floorSecond(t + config.caTtlSeconds * 1000),
      upstream: false,
      certificateDer: undefined,
      chainDer: [],
      anchor: undefined,
      fingerprint: undefined,
      jwtAuthority,
    },
    secret: jwtSecret(privateKey, kid),
  };
}

/** The lifecycle fields of an authority prepared (and published) at `t`. */
function blankRecord(t: number) {
  return {
    state: 'prepared' as const,
    createdAt: t,
    publishedAt: t,
    activatedAt: undefined,
    retiredAt: undefined,
    taintedAt: undefined,
    revokedAt: undefined,
    signedUntil: undefined,
    durableSignedUntil: undefined,
    persistedSignedUntil: undefined,
  };
}
