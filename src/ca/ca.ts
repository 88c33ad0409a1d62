// The issuing CA: authorities with keys on the broker's own disk, X509-SVID and JWT-SVID issuing,
// the local bundle with a durable `spiffe_sequence`, and the rotation actions (FED-50..53).
import { createPrivateKey, generateKeyPair, randomBytes, type KeyObject } from 'node:crypto';
import { Bundle, jwtAuthorityFromJwk, x509AuthorityFromDer } from '../bundle/index.js';
import { certificatePem, sha256Hex } from '../encoding/index.js';
import { CaError } from '../errors.js';
import type { SpiffeId, TrustDomain } from '../spiffeid/index.js';
import {
  AUTHORITY_KINDS,
  isAuthorityKind,
  type AuthorityKind,
  type AuthorityMetadata,
} from './authority.js';
import {
  floorSecond,
  jwtSecret,
  publicJwkOf,
  recordFromPersisted,
  recordToPersisted,
  toMetadata,
  x509Secret,
  type AuthorityRecord,
  type AuthoritySecret,
} from './authority-record.js';
import { createCsrCheckPool } from './csr-check-pool.js';
import { readVerifiedCsr } from './csr.js';
import { caDirOf, createFileCaPersistence } from './file-persistence.js';
import { mintJwt, type JwtSigner } from './jwt-encoder.js';
import { generateAuthorityKeyPair, keyTypeOf, signingProfileOf } from './key-type.js';
import { localBundleContent } from './local-bundle.js';
import { resolveCaOptions, type CaOptions, type ResolvedCaOptions } from './options.js';
import {
  decodeCaState,
  encodeCaState,
  keyName,
  type CaPersistence,
  type PersistedAuthority,
  type PersistedCaState,
} from './persistence.js';
import {
  checkAudience,
  checkDnsNames,
  checkExtraClaims,
  checkTtl,
  checkWorkloadId,
} from './request-checks.js';
import {
  activationLeadMs,
  planRotation,
  type RotationAction,
  type RotationConfig,
  type RotationPlan,
} from './rotation.js';
import {
  keyIdentifier,
  spkiKeyBits,
  subjectKeyFromKeyObject,
  type SubjectKey,
} from './subject-key.js';
import { loadUpstreamCa, type UpstreamCa } from './upstream.js';
import {
  caSubjectName,
  encodeCaTbs,
  encodeLeafTbs,
  randomSerial,
  signTbs,
  signTbsSync,
  type CertificateSigner,
  type LeafTemplate,
} from './x509-encoder.js';
import type { Logger } from '../log.js';

/** Structured logger; fields never carry key material. */
export type CaLogger = Pick<Logger, 'info' | 'warn' | 'error'>;

export interface CaDeps {
  readonly now: () => Date;
  readonly logger?: CaLogger;
  /** Defaults to the file persistence under `<dataDir>/ca/`. */
  readonly persistence?: CaPersistence;
}

export interface X509SvidRequest {
  readonly spiffeId: SpiffeId | string;
  /** DER PKCS#10 request: only its public key is used, after its signature is checked. */
  readonly csr?: Uint8Array;
  /** Alternative to csr for trusted in-process callers. */
  readonly publicKey?: KeyObject;
  readonly ttlSeconds?: number;
  readonly dnsNames?: readonly string[];
}

export interface IssuedX509Svid {
  /** Leaf first, then intermediates up to (not including) the bundle's root (X509-7). */
  readonly chainDer: Buffer[];
  readonly spiffeId: SpiffeId;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly serialHex: string;
  readonly authorityId: string;
}

export interface JwtSvidRequest {
  readonly spiffeId: SpiffeId | string;
  /** One or more audiences (JWT-5); one value strongly recommended. */
  readonly audience: readonly string[];
  readonly ttlSeconds?: number;
  /** Private claims; registered claim names are refused (ERR_CA_CLAIMS). */
  readonly extraClaims?: Readonly<Record<string, unknown>>;
}

export interface IssuedJwtSvid {
  readonly token: string;
  readonly spiffeId: SpiffeId;
  readonly issuedAt: Date;
  readonly expiresAt: Date;
  readonly kid: string;
}

/** The broker's own X509-SVID (e.g. for the https_spiffe bundle endpoint); for in-process use only. */
export interface OwnSvid extends IssuedX509Svid {
  readonly privateKey: KeyObject;
  /** PEM of chainDer, leaf first. */
  readonly chainPem: string;
}

export interface ActivateOptions {
  /** Activate before the FED-50 lead time has passed (emergencies only). */
  readonly force?: boolean;
}

export interface Ca {
  readonly trustDomain: TrustDomain;
  readonly options: ResolvedCaOptions;
  readonly rotationConfig: RotationConfig;
  issueX509Svid(request: X509SvidRequest): Promise<IssuedX509Svid>;
  issueJwtSvid(request: JwtSvidRequest): Promise<IssuedJwtSvid>;
  issueOwnSvid(spiffeId: SpiffeId | string, ttlSeconds?: number): Promise<OwnSvid>;
  /** Our bundle as published now: sequence bumped on every content change, never on no-op rebuilds. */
  localBundle(): Bundle;
  /** Called with the new bundle after each content change; returns the unsubscribe function. */
  onBundleChange(listener: (bundle: Bundle) => void): () => void;
  /**
   * Called (asynchronously) after each authority change (prepare, activate, taint, revoke, a
   * rotation step), even when the bundle's content stays the same (a taint keeps it published):
   * the broker's own SVIDs re-check their signer here. Returns the unsubscribe function.
   */
  onAuthorityChange(listener: () => void): () => void;
  /** Metadata of every authority (no private keys), by kind then creation time. */
  authorities(kind?: AuthorityKind): readonly AuthorityMetadata[];
  prepare(kind: AuthorityKind): Promise<AuthorityMetadata>;
  activate(kind: AuthorityKind, id?: string, options?: ActivateOptions): Promise<AuthorityMetadata>;
  taint(kind: AuthorityKind, id: string): Promise<AuthorityMetadata>;
  revoke(kind: AuthorityKind, id: string): Promise<AuthorityMetadata>;
  /** Plans the rotation at `now` (default: deps.now()) and applies the due actions. */
  rotate(now?: Date): Promise<RotationPlan & { readonly applied: readonly RotationAction[] }>;
  /** Persists exact FED-51 expiries; the CA signs nothing afterwards. */
  close(): Promise<void>;
  toJSON(): unknown;
}

/** Back-dating of notBefore for clock skew (X509-8). */
export const NOT_BEFORE_BACKDATE_MS = 30_000;

function notFound(kind: AuthorityKind, id: string | undefined): CaError {
  return new CaError(
    'ERR_CA_AUTHORITY_NOT_FOUND',
    id === undefined ? `no prepared ${kind} authority` : `no ${kind} authority "${id}"`,
  );
}

const silentLogger: CaLogger = { info() {}, warn() {}, error() {} };

/** Creates (or reopens) the CA on `<dataDir>/ca/`, then applies any rotation due now. */
export async function createCa(deps: CaDeps, options: CaOptions): Promise<Ca> {
  if (typeof deps?.now !== 'function') throw new TypeError('deps.now is required');
  const config = resolveCaOptions(options);
  const { trustDomain } = config;
  const now = (): number => {
    const value = deps.now();
    if (!(value instanceof Date) || Number.isNaN(value.getTime())) {
      throw new TypeError('deps.now() must return a valid Date');
    }
    return value.getTime();
  };
  const logger = deps.logger ?? silentLogger;
  const persistence = deps.persistence ?? (await createFileCaPersistence(caDirOf(config.dataDir)));
  const rotationConfig: RotationConfig = Object.freeze({
    refreshHintSeconds: config.refreshHintSeconds,
  });
  const upstream: UpstreamCa | undefined =
    config.upstream === undefined
      ? undefined
      : await loadUpstreamCa(config.upstream, now(), (message, fields) =>
          logger.warn(message, fields),
        );

  const records = new Map<string, AuthorityRecord>();
  const secrets = new Map<string, AuthoritySecret>();
  const recordKey = (kind: AuthorityKind, id: string): string => `${kind}:${id}`;
  const active: Record<AuthorityKind, AuthorityRecord | undefined> = {
    x509: undefined,
    jwt: undefined,
  };
  let sequence = 0n;
  let bundleDigest: string | null = null;
  let bundle: Bundle | undefined;
  let bundleValidUntil = Number.POSITIVE_INFINITY;
  let bundleDirty = true;
  let closed = false;
  const listeners = new Set<(bundle: Bundle) => void>();
  const authorityListeners = new Set<() => void>();

  // ---- persistence -------------------------------------------------------------------------
  const snapshot = (): PersistedCaState => ({
    version: 1,
    trustDomain: trustDomain.name,
    sequence: sequence.toString(),
    bundleDigest,
    authorities: [...records.values()].map(recordToPersisted),
  });

  /** Settles when every write scheduled so far has finished (never rejects). */
  let writeTail: Promise<void> = Promise.resolve();
  /** A scheduled write that has not taken its snapshot yet: later changes ride along with it. */
  let pendingWrite: Promise<void> | undefined;
  /** Coalescing, ordered writes; the snapshot is taken when the write starts. */
  const persist = (): Promise<void> => {
    if (pendingWrite !== undefined) return pendingWrite;
    const write = writeTail.then(async () => {
      pendingWrite = undefined;
      const bounds = [...records.values()].map((r) => [r, r.durableSignedUntil] as const);
      await persistence.writeState(encodeCaState(snapshot()));
      for (const [r, bound] of bounds) r.persistedSignedUntil = bound;
    });
    pendingWrite = write;
    writeTail = write.catch(() => undefined);
    return write;
  };

  let lock: Promise<unknown> = Promise.resolve();
  const exclusive = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = lock.then(() => {
      if (closed) throw new TypeError('the ca is closed');
      return fn();
    });
    lock = run.catch(() => undefined);
    return run;
  };

  // ---- authorities -------------------------------------------------------------------------
  const durabilityBucketMs = (kind: AuthorityKind): number =>
    1000 * (kind === 'x509' ? config.x509SvidTtlSeconds : config.jwtSvidTtlSeconds);

  const isPersisted = (record: AuthorityRecord, expiryMs: number): boolean =>
    record.persistedSignedUntil !== undefined && expiryMs <= record.persistedSignedUntil;

  /**
   * FED-51 bookkeeping: remember the latest expiry signed and make a bound covering it durable
   * before the SVID is handed out. The bound runs one default TTL ahead, so a write is needed
   * about once per TTL per authority, not per SVID.
   */
  const noteSigned = async (record: AuthorityRecord, expiryMs: number): Promise<void> => {
    if (record.signedUntil === undefined || expiryMs > record.signedUntil) {
      record.signedUntil = expiryMs;
    }
    if (isPersisted(record, expiryMs)) return;
    if (record.durableSignedUntil === undefined || expiryMs > record.durableSignedUntil) {
      record.durableSignedUntil = Math.min(
        record.notAfter,
        expiryMs + durabilityBucketMs(record.kind),
      );
    } else {
      // Another issuance already raised the bound: wait for its write.
      await writeTail;
      if (isPersisted(record, expiryMs)) return;
    }
    await persist();
  };

  const addRecord = (record: AuthorityRecord, secret: AuthoritySecret | undefined): void => {
    records.set(recordKey(record.kind, record.id), record);
    if (secret !== undefined) secrets.set(recordKey(record.kind, record.id), secret);
    if (record.state === 'active') active[record.kind] = record;
    bundleDirty = true;
  };

  const createX509Authority = async (t: number): Promise<void> => {
    const { privateKey, publicKey } = await generateAuthorityKeyPair(config.keyType);
    const spkiDer = publicKey.export({ type: 'spki', format: 'der' });
    const ski = keyIdentifier(spkiKeyBits(spkiDer));
    const id = ski.toString('hex');
    const subjectNameDer = caSubjectName(trustDomain.name, id);
    const notBefore = floorSecond(t - NOT_BEFORE_BACKDATE_MS);
    let notAfter = floorSecond(t + config.caTtlSeconds * 1000);
    let signer: CertificateSigner;
    if (upstream === undefined) {
      const profile = signingProfileOf(privateKey);
      if (profile === undefined) throw new CaError('ERR_CA_CONFIG', 'unsupported ca key type');
      signer = { privateKey, profile, subjectNameDer, keyIdentifier: ski };
    } else {
      if (t >= upstream.notAfterMs) {
        throw new CaError('ERR_CA_UPSTREAM', 'the upstream ca certificate has expired');
      }
      notAfter = Math.min(notAfter, floorSecond(upstream.notAfterMs));
      signer = upstream.signer;
    }
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
      }),
    );
    const chainDer = upstream?.chainDer ?? [];
    const anchor = x509AuthorityFromDer(upstream?.anchorDer ?? certificateDer);
    await persistence.writeKey(
      keyName('x509', id),
      privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    );
    addRecord(
      {
        id,
        kind: 'x509',
        keyType: config.keyType,
        state: 'prepared',
        createdAt: t,
        publishedAt: t,
        activatedAt: undefined,
        retiredAt: undefined,
        taintedAt: undefined,
        revokedAt: undefined,
        notBefore,
        notAfter,
        signedUntil: undefined,
        durableSignedUntil: undefined,
        persistedSignedUntil: undefined,
        upstream: upstream !== undefined,
        certificateDer,
        chainDer: [...chainDer],
        anchor,
        fingerprint: sha256Hex(certificateDer),
        jwtAuthority: undefined,
      },
      x509Secret(privateKey, certificateDer, chainDer, upstream !== undefined),
    );
    logger.info('ca: prepared x509 authority (published)', {
      authorityId: id,
      upstream: !!upstream,
    });
  };

  const createJwtAuthority = async (t: number): Promise<void> => {
    const { privateKey, publicKey } = await generateAuthorityKeyPair(config.jwtKeyType);
    let kid = randomBytes(16).toString('base64url');
    while (records.has(recordKey('jwt', kid))) kid = randomBytes(16).toString('base64url');
    const jwtAuthority = jwtAuthorityFromJwk(kid, publicJwkOf(publicKey));
    await persistence.writeKey(
      keyName('jwt', kid),
      privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    );
    addRecord(
      {
        id: kid,
        kind: 'jwt',
        keyType: config.jwtKeyType,
        state: 'prepared',
        createdAt: t,
        publishedAt: t,
        activatedAt: undefined,
        retiredAt: undefined,
        taintedAt: undefined,
        revokedAt: undefined,
        notBefore: floorSecond(t),
        notAfter: floorSecond(t + config.caTtlSeconds * 1000),
        signedUntil: undefined,
        durableSignedUntil: undefined,
        persistedSignedUntil: undefined,
        upstream: false,
        certificateDer: undefined,
        chainDer: [],
        anchor: undefined,
        fingerprint: undefined,
        jwtAuthority,
      },
      jwtSecret(privateKey, kid),
    );
    logger.info('ca: prepared jwt signing key (published)', { kid });
  };

  const newestPrepared = (kind: AuthorityKind): AuthorityRecord | undefined => {
    let best: AuthorityRecord | undefined;
    for (const r of records.values()) {
      if (r.kind === kind && r.state === 'prepared' && (!best || r.createdAt > best.createdAt)) {
        best = r;
      }
    }
    return best;
  };

  const find = (kind: AuthorityKind, id: string): AuthorityRecord => {
    if (!isAuthorityKind(kind)) throw new TypeError('kind must be "x509" or "jwt"');
    if (typeof id !== 'string') throw new TypeError('authority id must be a string');
    const record = records.get(recordKey(kind, id));
    if (record === undefined) throw notFound(kind, id);
    return record;
  };

  const keysToDelete = new Set<string>();
  /**
   * The authority leaves the signing role for good (retired, tainted, revoked, removed): its FED-51
   * expiry becomes exact on disk and its private key is dropped, from memory and from disk.
   */
  const leaveActive = (record: AuthorityRecord): void => {
    if (active[record.kind] === record) active[record.kind] = undefined;
    record.durableSignedUntil = record.signedUntil;
    secrets.delete(recordKey(record.kind, record.id));
    keysToDelete.add(keyName(record.kind, record.id));
  };

  const doPrepare = async (kind: AuthorityKind, t: number): Promise<AuthorityRecord> => {
    if (newestPrepared(kind) !== undefined) {
      throw new CaError('ERR_CA_AUTHORITY_STATE', `a ${kind} authority is already prepared`);
    }
    if (kind === 'x509') await createX509Authority(t);
    else await createJwtAuthority(t);
    const record = newestPrepared(kind);
    if (record === undefined) throw new Error('prepared authority vanished');
    return record;
  };

  const doActivate = (record: AuthorityRecord, t: number, force: boolean): void => {
    if (record.state !== 'prepared') {
      throw new CaError(
        'ERR_CA_AUTHORITY_STATE',
        `${record.kind} authority "${record.id}" is ${record.state}; only a prepared one can be activated`,
      );
    }
    if (t >= record.notAfter) {
      throw new CaError(
        'ERR_CA_AUTHORITY_STATE',
        `${record.kind} authority "${record.id}" expired`,
      );
    }
    const earliest = record.publishedAt + activationLeadMs(rotationConfig);
    if (!force && t < earliest) {
      throw new CaError(
        'ERR_CA_ACTIVATION_TOO_EARLY',
        `${record.kind} authority "${record.id}" was published ${Math.floor((t - record.publishedAt) / 1000)} s ago; FED-50 needs ${activationLeadMs(rotationConfig) / 1000} s (5 × refresh hint)`,
        { context: { earliestActivation: new Date(earliest).toISOString() } },
      );
    }
    const previous = active[record.kind];
    if (previous !== undefined) {
      previous.state = 'retired';
      previous.retiredAt = t;
      leaveActive(previous);
    }
    record.state = 'active';
    record.activatedAt = t;
    active[record.kind] = record;
    bundleDirty = true;
    logger.info(`ca: activated ${record.kind} authority`, {
      authorityId: record.id,
      previous: previous?.id,
      forced: force && t < earliest,
    });
  };

  const doRemove = (record: AuthorityRecord): void => {
    leaveActive(record);
    records.delete(recordKey(record.kind, record.id));
    bundleDirty = true;
    logger.info(`ca: removed ${record.kind} authority`, { authorityId: record.id });
  };

  const applyAction = async (action: RotationAction, t: number): Promise<void> => {
    switch (action.type) {
      case 'prepare': {
        const record = await doPrepare(action.kind, t);
        if (action.activate) doActivate(record, t, true);
        return;
      }
      case 'activate':
        doActivate(find(action.kind, action.id), t, false);
        return;
      case 'retire': {
        const record = find(action.kind, action.id);
        record.state = 'retired';
        record.retiredAt = t;
        leaveActive(record);
        bundleDirty = true;
        return;
      }
      case 'remove': {
        const record = records.get(recordKey(action.kind, action.id));
        if (record !== undefined) doRemove(record);
        return;
      }
    }
  };

  // ---- bundle ------------------------------------------------------------------------------
  const currentBundle = (t: number): Bundle => {
    if (bundle !== undefined && !bundleDirty && t < bundleValidUntil) return bundle;
    const { x509, jwt, digest, validUntil } = localBundleContent(
      records.values(),
      config.refreshHintSeconds,
      t,
    );
    const changed = digest !== bundleDigest;
    if (changed) {
      // BUNDLE-31: +1 on every content change only.
      sequence += 1n;
      bundleDigest = digest;
    }
    bundleDirty = false;
    bundleValidUntil = validUntil;
    if (changed || bundle === undefined) {
      bundle = new Bundle({
        trustDomain,
        x509Authorities: x509,
        jwtAuthorities: jwt,
        sequence,
        refreshHintSeconds: config.refreshHintSeconds,
      });
    }
    if (changed) {
      logger.info('ca: local bundle changed', {
        sequence: sequence.toString(),
        x509: x509.length,
        jwt: jwt.length,
      });
      // Time-driven pruning is deterministic, so a crash before this write re-derives the same
      // sequence on restart; mutations await persist() themselves.
      persist().catch((error: unknown) =>
        logger.error('ca: could not persist the bundle sequence', { error: String(error) }),
      );
      for (const listener of listeners) {
        try {
          listener(bundle);
        } catch (error) {
          logger.error('ca: bundle listener failed', { error: String(error) });
        }
      }
    }
    return bundle;
  };

  /** Rebuilds the bundle, writes the state, then deletes the keys no authority needs any more. */
  const afterMutation = async (t: number): Promise<void> => {
    bundleDirty = true;
    currentBundle(t);
    await persist();
    for (const name of [...keysToDelete]) {
      await persistence.deleteKey(name);
      keysToDelete.delete(name);
    }
    // Outside the exclusive section: a listener may issue (issueOwnSvid) at once.
    setImmediate(() => {
      for (const listener of authorityListeners) {
        try {
          listener();
        } catch (error) {
          logger.error('ca: authority listener failed', { error: String(error) });
        }
      }
    });
  };

  // ---- loading -----------------------------------------------------------------------------
  const loadRecord = async (p: PersistedAuthority): Promise<void> => {
    let privateKey: KeyObject | undefined;
    // Only prepared and active authorities keep a private key (see leaveActive).
    if (p.state === 'prepared' || p.state === 'active') {
      const pem = await persistence.readKey(keyName(p.kind, p.id));
      if (pem === undefined) {
        throw new CaError(
          'ERR_CA_KEY_LOAD',
          `the private key of ${p.kind} authority "${p.id}" is missing`,
        );
      }
      try {
        privateKey = createPrivateKey(pem);
      } catch (cause) {
        throw new CaError(
          'ERR_CA_KEY_LOAD',
          `the key of ${p.kind} authority "${p.id}" is unreadable`,
          {
            cause,
          },
        );
      }
      if (keyTypeOf(privateKey) !== p.keyType) {
        throw new CaError(
          'ERR_CA_KEY_LOAD',
          `the key of ${p.kind} authority "${p.id}" is not ${p.keyType}`,
        );
      }
    }
    const { record, secret } = recordFromPersisted(p, privateKey);
    addRecord(record, secret);
  };

  const stateDocument = await persistence.readState();
  if (stateDocument !== undefined) {
    const state = decodeCaState(stateDocument);
    if (state.trustDomain !== trustDomain.name) {
      throw new CaError(
        'ERR_CA_STATE',
        `the ca state belongs to trust domain "${state.trustDomain}", not "${trustDomain.name}"`,
      );
    }
    sequence = BigInt(state.sequence);
    bundleDigest = state.bundleDigest;
    for (const kind of AUTHORITY_KINDS) {
      if (state.authorities.filter((a) => a.kind === kind && a.state === 'active').length > 1) {
        throw new CaError('ERR_CA_STATE', `the ca state has several active ${kind} authorities`);
      }
    }
    for (const p of state.authorities) await loadRecord(p);
  }
  // Keys no authority refers to (a crash between key and state writes) are deleted.
  const referenced = new Set([...records.values()].map((r) => keyName(r.kind, r.id)));
  for (const name of await persistence.listKeys()) {
    if (!referenced.has(name)) {
      await persistence.deleteKey(name);
      logger.warn('ca: deleted an orphan key file', { name });
    }
  }

  // ---- public API --------------------------------------------------------------------------
  const usableActive = (kind: AuthorityKind, t: number): [AuthorityRecord, AuthoritySecret] => {
    const record = active[kind];
    const secret = record === undefined ? undefined : secrets.get(recordKey(kind, record.id));
    if (
      record === undefined ||
      secret === undefined ||
      record.state !== 'active' ||
      t >= record.notAfter
    ) {
      throw new CaError('ERR_CA_NO_ACTIVE_AUTHORITY', `no active ${kind} authority can sign now`);
    }
    return [record, secret];
  };

  /**
   * CSR checks go to worker threads when the CA is busy: several issuances under way, or one that
   * follows the previous closely (a stream of API requests, each alone at the CA, still keeps the
   * main thread busy with TLS and HTTP). A lone request is checked inline, without the hop.
   */
  const csrChecks = createCsrCheckPool(config.csrCheckWorkers);
  let issuing = 0;
  let lastIssueMs = -Infinity;
  const BUSY_GAP_MS = 5;
  const issueX509Svid = async (request: X509SvidRequest): Promise<IssuedX509Svid> => {
    if (closed) throw new TypeError('the ca is closed');
    if (typeof request !== 'object' || request === null) throw new TypeError('request is required');
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
    const busy = issuing > 0 || performance.now() - lastIssueMs < BUSY_GAP_MS;
    lastIssueMs = performance.now();
    issuing++;
    try {
      return await issueX509(spiffeId, ttlSeconds, dnsNames, request, busy);
    } finally {
      issuing--;
    }
  };

  const issueX509 = async (
    spiffeId: SpiffeId,
    ttlSeconds: number,
    dnsNames: readonly string[],
    request: X509SvidRequest,
    busy: boolean,
  ): Promise<IssuedX509Svid> => {
    const subjectKey: SubjectKey =
      request.csr !== undefined
        ? await readVerifiedCsr(request.csr, busy ? csrChecks : undefined)
        : subjectKeyFromKeyObject(request.publicKey as KeyObject);
    const t = now();
    const [record, secret] = usableActive('x509', t);
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
    const tbs = encodeLeafTbs(template, {
      serial,
      notBeforeMs,
      notAfterMs,
      spkiDer: subjectKey.spkiDer,
      subjectKeyId: keyIdentifier(subjectKey.keyBits),
      uri: spiffeId.toString(),
      dnsNames,
    });
    const leaf = await signTbs(template.signer, tbs);
    await noteSigned(record, notAfterMs);
    return {
      chainDer: [leaf, ...secret.svidChainSuffix],
      spiffeId,
      notBefore: new Date(notBeforeMs),
      notAfter: new Date(notAfterMs),
      serialHex: serial.toString('hex'),
      authorityId: record.id,
    };
  };

  const issueJwtSvid = async (request: JwtSvidRequest): Promise<IssuedJwtSvid> => {
    if (closed) throw new TypeError('the ca is closed');
    if (typeof request !== 'object' || request === null) throw new TypeError('request is required');
    const spiffeId = checkWorkloadId(request.spiffeId, trustDomain);
    const audience = checkAudience(request.audience);
    const ttlSeconds = checkTtl(
      request.ttlSeconds,
      config.jwtSvidTtlSeconds,
      config.maxJwtSvidTtlSeconds,
    );
    const extraClaims = checkExtraClaims(request.extraClaims);
    const t = now();
    const [record, secret] = usableActive('jwt', t);
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
    await noteSigned(record, exp * 1000);
    return {
      token,
      spiffeId,
      issuedAt: new Date(iat * 1000),
      expiresAt: new Date(exp * 1000),
      kid: record.id,
    };
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

  const authorities = (kind?: AuthorityKind): readonly AuthorityMetadata[] =>
    [...records.values()]
      .filter((r) => kind === undefined || r.kind === kind)
      .sort(
        (a, b) =>
          AUTHORITY_KINDS.indexOf(a.kind) - AUTHORITY_KINDS.indexOf(b.kind) ||
          a.createdAt - b.createdAt,
      )
      .map(toMetadata);

  const rotate = (
    at?: Date,
  ): Promise<RotationPlan & { readonly applied: readonly RotationAction[] }> =>
    exclusive(async () => {
      const t = at === undefined ? now() : at.getTime();
      const plan = planRotation(authorities(), rotationConfig, new Date(t));
      const applied: RotationAction[] = [];
      try {
        for (const action of plan.actions) {
          await applyAction(action, t);
          applied.push(action);
        }
      } finally {
        await afterMutation(t);
      }
      return { ...plan, applied };
    });

  const ca: Ca = {
    trustDomain,
    options: config,
    rotationConfig,
    issueX509Svid,
    issueJwtSvid,
    issueOwnSvid,
    localBundle: () => currentBundle(now()),
    onBundleChange(listener) {
      if (typeof listener !== 'function') throw new TypeError('listener must be a function');
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    onAuthorityChange(listener) {
      if (typeof listener !== 'function') throw new TypeError('listener must be a function');
      authorityListeners.add(listener);
      return () => {
        authorityListeners.delete(listener);
      };
    },
    authorities,
    prepare: (kind) =>
      exclusive(async () => {
        if (!isAuthorityKind(kind)) throw new TypeError('kind must be "x509" or "jwt"');
        const t = now();
        const record = await doPrepare(kind, t);
        await afterMutation(t);
        return toMetadata(record);
      }),
    activate: (kind, id, options = {}) =>
      exclusive(async () => {
        if (!isAuthorityKind(kind)) throw new TypeError('kind must be "x509" or "jwt"');
        const t = now();
        const record = id === undefined ? newestPrepared(kind) : find(kind, id);
        if (record === undefined) throw notFound(kind, id);
        doActivate(record, t, options.force === true);
        await afterMutation(t);
        return toMetadata(record);
      }),
    taint: (kind, id) =>
      exclusive(async () => {
        const record = find(kind, id);
        if (record.state === 'tainted' || record.state === 'revoked') {
          throw new CaError(
            'ERR_CA_AUTHORITY_STATE',
            `${kind} authority "${id}" is already ${record.state}`,
          );
        }
        const t = now();
        const wasActive = record.state === 'active';
        record.state = 'tainted';
        record.taintedAt = t;
        leaveActive(record);
        logger.warn(`ca: tainted ${kind} authority; it signs nothing more`, {
          authorityId: id,
          wasActive,
        });
        await afterMutation(t);
        return toMetadata(record);
      }),
    revoke: (kind, id) =>
      exclusive(async () => {
        const record = find(kind, id);
        if (record.state === 'revoked') {
          throw new CaError(
            'ERR_CA_AUTHORITY_STATE',
            `${kind} authority "${id}" is already revoked`,
          );
        }
        const t = now();
        record.state = 'revoked';
        record.revokedAt = t;
        leaveActive(record);
        // FED-53: removed from the bundle now (sequence + 1); the key is deleted.
        await afterMutation(t);
        logger.warn(`ca: revoked ${kind} authority; removed from the bundle`, {
          authorityId: id,
          sequence: sequence.toString(),
        });
        return toMetadata(record);
      }),
    rotate,
    async close() {
      if (closed) return;
      await exclusive(async () => {
        for (const r of records.values())
          r.durableSignedUntil = r.signedUntil ?? r.durableSignedUntil;
        await persist();
        closed = true;
      });
      await csrChecks.close();
    },
    toJSON() {
      return {
        trustDomain: trustDomain.name,
        sequence: sequence.toString(),
        authorities: authorities().map((a) => ({
          ...a,
          certificateDer: a.certificateDer?.toString('base64'),
        })),
      };
    },
  };

  await rotate();
  return Object.freeze(ca);
}
