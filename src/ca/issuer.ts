// The issuing path: X509-SVIDs from a CSR (proof of possession checked first) or a trusted caller's
// public key, JWT-SVIDs, and the broker's own SVIDs. Every SVID is signed by the active authority,
// never outlives it, and its expiry is durable (FED-51) before it is handed out (X509-1..8, JWT-1..6).
import { generateKeyPair, type KeyObject } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { certificatePem } from '../encoding/index.js';
import { CaError } from '../errors.js';
import type { SpiffeId, TrustDomain } from '../spiffeid/index.js';
import { floorSecond } from './authority-record.js';
import { NOT_BEFORE_BACKDATE_MS } from './authority-factory.js';
import type {
  CaLogger,
  CheckedCsr,
  IssuedJwtSvid,
  IssuedX509Svid,
  JwtSvidRequest,
  OwnSvid,
  X509SvidRequest,
} from './ca-types.js';
import { createCsrCheckPool } from './csr-check-pool.js';
import {
  isNativeCheckable,
  parseCsr,
  verifyCsrSignature,
  verifyThenSign,
  type ParsedCsr,
} from './csr.js';
import type { CsrCheckPool } from './csr-check-pool.js';
import type { AuthorityJournal } from './journal.js';
import { mintJwt, type JwtSigner } from './jwt-encoder.js';
import type { EcdsaChecker, OwnThreadsChecker } from './native-ecdsa.js';
import type { ResolvedCaOptions } from './options.js';
import {
  checkAudience,
  checkDnsNames,
  checkExtraClaims,
  checkTtl,
  checkWorkloadId,
} from './request-checks.js';
import {
  keyForCertificate,
  keyIdentifier,
  subjectKeyFromKeyObject,
  type SubjectKey,
} from './subject-key.js';
import type { HashName } from './key-type.js';
import {
  assemble,
  encodeLeafTbs,
  randomSerial,
  signTbs,
  type CertificateSigner,
  type LeafTemplate,
} from './x509-encoder.js';

export interface IssuerDeps {
  readonly config: ResolvedCaOptions;
  readonly trustDomain: TrustDomain;
  readonly journal: AuthorityJournal;
  /** Milliseconds since the epoch. */
  readonly now: () => number;
  readonly isClosed: () => boolean;
  /** EC CSR checks on the ecverify addon; undefined = node:crypto only. */
  readonly ecdsa: EcdsaChecker | undefined;
  /** Requests the process is serving, this issuance's own included (CaDeps.requestsInFlight). */
  readonly requestsInFlight: (() => number) | undefined;
  /** Told when the CA's signing threads cannot start (its batches then use the libuv pool). */
  readonly logger?: Pick<CaLogger, 'warn'> | undefined;
}

export interface Issuer {
  issueX509Svid(request: X509SvidRequest): Promise<IssuedX509Svid>;
  checkCsr(csr: Uint8Array): Promise<CheckedCsr>;
  issueJwtSvid(request: JwtSvidRequest): Promise<IssuedJwtSvid>;
  issueOwnSvid(spiffeId: SpiffeId | string, ttlSeconds?: number): Promise<OwnSvid>;
  close(): Promise<void>;
}

/** A CSR that follows the previous one this closely counts as busy on the node:crypto path. */
const BUSY_GAP_MS = 5;

/**
 * CSR checks leave the main thread when the CA is busy: another issuance in flight, or other
 * requests waiting for the main thread (their TLS, HTTP and audit work runs while the thread pool
 * checks). With the ecverify addon a check costs about a third of the node:crypto one, less than
 * the hop when nothing else is waiting, so a lone issuance checks inline (bench/ca-issue.ts). API
 * renewals reach the CA one at a time even under load, which is why the requests in flight count
 * (bench/agent-renewals.ts). On node:crypto a CSR that follows the previous one closely also counts.
 */
function isBusy(deps: IssuerDeps, issuing: number, lastIssueMs: number): boolean {
  return (
    issuing > 0 ||
    (deps.requestsInFlight?.() ?? 0) > 1 ||
    (deps.ecdsa === undefined && performance.now() - lastIssueMs < BUSY_GAP_MS)
  );
}

/** JWT-1..6: a JWT-SVID signed by the active JWT authority, never outliving it. */
async function issueJwt(deps: IssuerDeps, request: JwtSvidRequest): Promise<IssuedJwtSvid> {
  const { config, trustDomain, journal, now } = deps;
  const spiffeId = checkWorkloadId(request.spiffeId, trustDomain);
  const audience = checkAudience(request.audience);
  const ttlSeconds = checkTtl(
    request.ttlSeconds,
    config.jwtSvidTtlSeconds,
    config.maxJwtSvidTtlSeconds,
  );
  const extraClaims = checkExtraClaims(request.extraClaims);
  const t = now();
  const [record, secret] = journal.usableActive('jwt', t);
  const iat = Math.floor(t / 1000);
  const exp = Math.min(iat + ttlSeconds, Math.floor(record.notAfter / 1000));
  if (exp <= iat) {
    throw new CaError('ERR_CA_NO_ACTIVE_AUTHORITY', 'the active jwt key is about to expire');
  }
  // JWT-5: sub, aud, exp, iat; a single audience is a string, as go-jose writes it.
  const claims: Record<string, unknown> = {
    sub: spiffeId.toString(),
    aud: audience.length === 1 ? audience[0] : [...audience],
    exp,
    iat,
  };
  if (extraClaims !== undefined) Object.assign(claims, extraClaims);
  let token: string;
  try {
    token = await mintJwt(secret.jwtSigner as JwtSigner, claims);
  } catch (cause) {
    if (cause instanceof TypeError) {
      throw new TypeError('extraClaims must be JSON-serialisable', { cause });
    }
    throw cause;
  }
  await journal.noteSigned(record, exp * 1000);
  return {
    token,
    spiffeId,
    issuedAt: new Date(iat * 1000),
    expiresAt: new Date(exp * 1000),
    kid: record.id,
  };
}

/** Signs a leaf's TBSCertificate with the active authority's signer: the Certificate DER. */
type SignLeaf = (signer: CertificateSigner, tbs: Buffer) => Promise<Buffer>;

/**
 * For a busy CA and an EC CSR: the CSR's check and the leaf's signature in one work item on the
 * thread pool, the signature made only if the check passes (issue 20: the main thread, which also
 * serves the requests' TLS, HTTP and audit, keeps neither the check nor the signing). A CA key the
 * addon does not sign with (RSA, Ed25519), or an addon that fails, leaves the check to
 * verifyCsrSignature and the signing to signTbs, as when idle.
 */
function checkThenSign(csr: ParsedCsr, ecdsa: EcdsaChecker, pool: CsrCheckPool): SignLeaf {
  return async (signer, tbs) => {
    const hash = signer.profile.hash;
    const key = hash === null ? undefined : ecdsa.signingKey(signer.privateKey);
    if (key !== undefined) {
      const signature = await verifyThenSign(csr, ecdsa, key, hash as HashName, tbs);
      if (signature !== undefined) return assemble(signer, tbs, signature);
    }
    await verifyCsrSignature(csr, { busy: true, pool, ecdsa });
    return signTbs(signer, tbs);
  };
}

/**
 * The leaf's key: an EC point uncompressed (Go's crypto/x509 parses no other), with the SKI over
 * what the leaf carries; the CSR's own proof of possession is checked on the key as it came. A
 * compressed point off the curve, not yet checked when a busy CA signs and checks together, is
 * refused as the check would (ERR_CA_CSR_INVALID).
 */
function certificateKeyOf(subjectKey: SubjectKey): SubjectKey {
  try {
    return keyForCertificate(subjectKey);
  } catch (cause) {
    throw new CaError('ERR_CA_CSR_INVALID', 'csr public key is not a valid key', { cause });
  }
}

/** The keys of the CSRs an issuer's checkCsr has checked, by the handle it gave for each. */
type CheckedCsrs = WeakMap<CheckedCsr, SubjectKey>;

/**
 * The subject key, and for a busy CA and an EC CSR the signing that checks the CSR with it. A CSR
 * this issuer has already checked (checkCsr) gives its key; the leaf is then signed as for a
 * trusted caller's key (signTbs), since there is nothing left to check with it.
 */
async function subjectOf(
  request: X509SvidRequest,
  busy: boolean,
  ecdsa: EcdsaChecker | undefined,
  pool: CsrCheckPool,
  checked: CheckedCsrs,
): Promise<[SubjectKey, SignLeaf | undefined]> {
  if (request.csr === undefined) {
    return [subjectKeyFromKeyObject(request.publicKey as KeyObject), undefined];
  }
  if (!(request.csr instanceof Uint8Array)) {
    const subjectKey = checked.get(request.csr);
    if (subjectKey === undefined) {
      throw new TypeError("csr must be DER bytes or what this CA's checkCsr returned");
    }
    return [subjectKey, undefined];
  }
  const csr = parseCsr(request.csr);
  if (busy && ecdsa !== undefined && isNativeCheckable(csr)) {
    return [csr.subjectKey, checkThenSign(csr, ecdsa, pool)];
  }
  return [await verifyCsrSignature(csr, { busy, pool, ecdsa }), undefined];
}

/**
 * The threads an issuer checks and signs on: the addon's batches on ca.csrCheckWorkers threads of
 * this CA's own (native-ecdsa.ts), and as many CSR-check workers for keys the addon does not take.
 */
function issuerThreads(given: IssuerDeps): {
  deps: IssuerDeps;
  csrChecks: CsrCheckPool;
  close(): Promise<void>;
} {
  let own: OwnThreadsChecker | undefined;
  try {
    own = given.ecdsa?.ownThreads?.(given.config.csrCheckWorkers);
  } catch (error) {
    // A thread or memory limit: the CA still issues, its batches on the libuv pool as before.
    given.logger?.warn('ca: the signing threads cannot start; checks use the thread pool', {
      threads: given.config.csrCheckWorkers,
      error: String(error),
    });
  }
  const csrChecks = createCsrCheckPool(given.config.csrCheckWorkers);
  return {
    deps: own === undefined ? given : { ...given, ecdsa: own },
    csrChecks,
    close: async () => {
      own?.close();
      await csrChecks.close();
    },
  };
}

export function createIssuer(given: IssuerDeps): Issuer {
  const { deps, csrChecks, close } = issuerThreads(given);
  const { config, trustDomain, journal, now, ecdsa } = deps;
  const checked: CheckedCsrs = new WeakMap();
  let issuing = 0;
  let lastIssueMs = -Infinity;

  const checkOpen = (request: unknown): void => {
    if (deps.isClosed()) throw new TypeError('the ca is closed');
    if (typeof request !== 'object' || request === null) throw new TypeError('request is required');
  };

  const issueX509 = async (
    spiffeId: SpiffeId,
    ttlSeconds: number,
    dnsNames: readonly string[],
    subjectKey: SubjectKey,
    signLeaf: SignLeaf | undefined,
  ): Promise<IssuedX509Svid> => {
    const t = now();
    const [record, secret] = journal.usableActive('x509', t);
    const template = secret.leafTemplate as LeafTemplate;
    const notBeforeMs = Math.max(floorSecond(t - NOT_BEFORE_BACKDATE_MS), record.notBefore);
    // X509-8: the leaf never outlives the CA certificate.
    const notAfterMs = Math.min(floorSecond(t + ttlSeconds * 1000), record.notAfter);
    if (notAfterMs <= t) {
      throw new CaError(
        'ERR_CA_NO_ACTIVE_AUTHORITY',
        'the active x509 authority is about to expire',
      );
    }
    const serial = randomSerial();
    const leafKey = certificateKeyOf(subjectKey);
    const tbs = encodeLeafTbs(template, {
      serial,
      notBeforeMs,
      notAfterMs,
      spkiDer: leafKey.spkiDer,
      subjectKeyId: keyIdentifier(leafKey.keyBits),
      uri: spiffeId.toString(),
      dnsNames,
    });
    const leaf = await (signLeaf ?? signTbs)(template.signer, tbs);
    await journal.noteSigned(record, notAfterMs);
    return {
      chainDer: [leaf, ...secret.svidChainSuffix],
      spiffeId,
      notBefore: new Date(notBeforeMs),
      notAfter: new Date(notAfterMs),
      serialHex: serial.toString('hex'),
      authorityId: record.id,
    };
  };

  const issueX509Svid = async (request: X509SvidRequest): Promise<IssuedX509Svid> => {
    checkOpen(request);
    const spiffeId = checkWorkloadId(request.spiffeId, trustDomain);
    const ttlSeconds = checkTtl(
      request.ttlSeconds,
      config.x509SvidTtlSeconds,
      config.maxX509SvidTtlSeconds,
    );
    const dnsNames = checkDnsNames(request.dnsNames);
    if ((request.csr === undefined) === (request.publicKey === undefined)) {
      throw new TypeError('give exactly one of csr and publicKey');
    }
    const busy = isBusy(deps, issuing, lastIssueMs);
    lastIssueMs = performance.now();
    issuing++;
    try {
      const [subjectKey, signLeaf] = await subjectOf(request, busy, ecdsa, csrChecks, checked);
      return await issueX509(spiffeId, ttlSeconds, dnsNames, subjectKey, signLeaf);
    } finally {
      issuing--;
    }
  };

  const issueOwnSvid = async (
    spiffeId: SpiffeId | string,
    ttlSeconds?: number,
  ): Promise<OwnSvid> => {
    const { privateKey, publicKey } = await new Promise<{
      privateKey: KeyObject;
      publicKey: KeyObject;
    }>((resolve, reject) =>
      generateKeyPair('ec', { namedCurve: 'P-256' }, (err, pub, priv) =>
        err ? reject(err) : resolve({ privateKey: priv, publicKey: pub }),
      ),
    );
    const svid = await issueX509Svid(
      ttlSeconds === undefined ? { spiffeId, publicKey } : { spiffeId, publicKey, ttlSeconds },
    );
    return {
      ...svid,
      privateKey,
      chainPem: svid.chainDer.map((der) => certificatePem(der)).join(''),
    };
  };

  return {
    issueX509Svid,
    // Where issuance would check it: on the thread pool (or the CSR-check workers) while busy.
    checkCsr: async (der) => {
      checkOpen(der);
      const busy = isBusy(deps, issuing, lastIssueMs);
      const subjectKey = await verifyCsrSignature(parseCsr(der), { busy, pool: csrChecks, ecdsa });
      const handle = Object.freeze({}) as CheckedCsr;
      checked.set(handle, subjectKey);
      return handle;
    },
    issueJwtSvid: async (request) => {
      checkOpen(request);
      return issueJwt(deps, request);
    },
    issueOwnSvid,
    close,
  };
}
