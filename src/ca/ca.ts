// The issuing CA, composed: the journal (authorities in memory and on disk), the bundle publisher
// (our bundle and its durable `spiffe_sequence`), authority management (FED-50..53) and the
// issuer (X509-SVIDs and JWT-SVIDs), as SPIRE's server keeps its CA manager apart from its CA.
import { AuthorityManager } from './authority-manager.js';
import { BundlePublisher } from './bundle-publisher.js';
import type { Ca, CaDeps, CaLogger } from './ca-types.js';
import { caDirOf, createFileCaPersistence } from './file-persistence.js';
import { createIssuer } from './issuer.js';
import { AuthorityJournal } from './journal.js';
import { loadEcdsaChecker, type EcdsaChecker } from './native-ecdsa.js';
import { resolveCaOptions, type CaOptions } from './options.js';
import type { RotationConfig } from './rotation.js';
import { loadUpstreamCa, type UpstreamCa } from './upstream.js';

const silentLogger: CaLogger = { info() {}, warn() {}, error() {} };

/** The EC CSR checker the CA uses; says once which one it is. */
function ecdsaCheckerOf(
  given: EcdsaChecker | null | undefined,
  logger: CaLogger,
): EcdsaChecker | undefined {
  if (given === null) return undefined;
  if (given !== undefined) return given;
  const { checker, reason } = loadEcdsaChecker();
  if (checker === undefined) {
    logger.info('ca: EC CSR checks use node:crypto (the ecverify addon is not in use)', { reason });
  }
  return checker;
}

/** The deps' clock, checked on every read: a CA must never date anything by a broken clock. */
function checkedClock(deps: CaDeps): () => number {
  if (typeof deps?.now !== 'function') throw new TypeError('deps.now is required');
  return () => {
    const value = deps.now();
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      throw new TypeError('deps.now() must return milliseconds since the epoch');
    }
    return value;
  };
}

/**
 * Creates (or reopens) the CA on `<dataDir>/ca/`, then applies any rotation due now, each step
 * recorded by `deps.record` (when given) before any applies.
 */
export async function createCa(deps: CaDeps, options: CaOptions): Promise<Ca> {
  const now = checkedClock(deps);
  const config = resolveCaOptions(options);
  const { trustDomain } = config;
  const logger = deps.logger ?? silentLogger;
  const persistence = deps.persistence ?? (await createFileCaPersistence(caDirOf(config.dataDir)));
  const rotationConfig: RotationConfig = Object.freeze({
    refreshHintSeconds: config.refreshHintSeconds,
  });
  const upstream: UpstreamCa | undefined =
    config.upstream === undefined
      ? undefined
      : await loadUpstreamCa(config.upstream, trustDomain, now(), (message, fields) =>
          logger.warn(message, fields),
        );
  const journal = new AuthorityJournal(
    trustDomain,
    persistence,
    (kind) => 1000 * (kind === 'x509' ? config.x509SvidTtlSeconds : config.jwtSvidTtlSeconds),
  );
  await journal.load(logger);
  const publisher = new BundlePublisher(journal, trustDomain, config.refreshHintSeconds, logger);
  const manager = new AuthorityManager({
    config,
    trustDomain,
    upstream,
    persistence,
    journal,
    publisher,
    rotationConfig,
    logger,
  });
  const issuer = createIssuer({
    config,
    trustDomain,
    journal,
    now,
    isClosed: () => manager.closed,
    ecdsa: ecdsaCheckerOf(deps.ecdsa, logger),
    requestsInFlight: deps.requestsInFlight,
    logger,
  });
  const rotate: Ca['rotate'] = (atMs, options = {}) => {
    const { record } = options;
    if (record !== undefined && typeof record !== 'function') {
      throw new TypeError('rotate options.record must be a function');
    }
    return manager.rotate(() => {
      if (atMs === undefined) return now();
      if (typeof atMs !== 'number' || !Number.isFinite(atMs)) {
        throw new TypeError('rotate(atMs) takes milliseconds since the epoch');
      }
      return atMs;
    }, record);
  };

  const ca: Ca = {
    trustDomain,
    options: config,
    rotationConfig,
    issueX509Svid: issuer.issueX509Svid,
    checkCsr: issuer.checkCsr,
    issueJwtSvid: issuer.issueJwtSvid,
    issueOwnSvid: issuer.issueOwnSvid,
    localBundle: () => publisher.current(now()),
    onBundleChange: (listener) => publisher.onChange(listener),
    onAuthorityChange: (listener) => manager.onAuthorityChange(listener),
    authorities: (kind) => journal.authorities(kind),
    prepare: (kind) => manager.prepare(kind, now),
    activate: (kind, id, options = {}) => manager.activate(kind, id, options.force === true, now),
    taint: (kind, id) => manager.taint(kind, id, now),
    revoke: (kind, id) => manager.revoke(kind, id, now),
    rotate,
    async close() {
      if (manager.closed) return;
      await manager.close();
      await issuer.close();
    },
    toJSON() {
      return {
        trustDomain: trustDomain.name,
        sequence: journal.sequence.toString(),
        authorities: journal.authorities().map((a) => ({
          ...a,
          certificateDer: a.certificateDer?.toString('base64'),
        })),
      };
    },
  };

  // The steps due at start (a bootstrap, or what fell due while the broker was down) go through
  // deps.record like the rotator's: a rejection applies none and createCa rejects with its error.
  try {
    await rotate(undefined, deps.record === undefined ? {} : { record: deps.record });
  } catch (error) {
    await issuer.close();
    throw error;
  }
  return Object.freeze(ca);
}
