// One local bundle for every replica of a trust domain (as SPIRE does for HA): each replica records
// the public parts of its own published authorities in the shared store, and every replica serves
// the union of all of them, with one `spiffe_sequence` that the store only lets go up (BUNDLE-31).
// Private keys stay with their replica; only certificates and public JWKs are recorded.
import { createHash, type JsonWebKey } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  Bundle,
  bundleContentEquals,
  jwtAuthorityFromJwk,
  marshalBundle,
  parseBundle,
  x509AuthorityFromDer,
  type JwtAuthority,
  type X509Authority,
} from '../bundle/index.js';
import { isBrokerError } from '../errors.js';
import type { TrustDomain } from '../spiffeid/index.js';
import type {
  JsonObject,
  LocalBundleStore,
  Notifications,
  ReplicaAuthorityStore,
} from '../store/index.js';
import type { AuthorityMetadata } from './authority.js';
import { sortForPublication } from './local-bundle.js';
import type { Logger } from '../log.js';
import type { Clock } from '../clock.js';

/** The part of the CA this needs: its own bundle, its change events and its JWT key expiries. */
export interface SharedBundleSource {
  readonly trustDomain: TrustDomain;
  localBundle(): Bundle;
  onBundleChange(listener: (bundle: Bundle) => void): () => void;
  authorities(kind?: 'x509' | 'jwt'): readonly AuthorityMetadata[];
}

export type SharedBundleStore = LocalBundleStore & ReplicaAuthorityStore & Notifications;

export type SharedBundleLogger = Pick<Logger, 'info' | 'warn'>;

export interface SharedBundleDeps {
  readonly ca: SharedBundleSource;
  readonly store: SharedBundleStore;
  /** Stable across restarts of this replica (its record is replaced, not duplicated). */
  readonly replicaId: string;
  readonly now: Clock;
  readonly logger: SharedBundleLogger;
  /** Notification channel for "the shared bundle changed". */
  readonly channel: string;
  /** How often to merge again without a notification (missed messages, expiry pruning). */
  readonly resyncMs?: number;
  /** Waits between attempts of the first merge at start (default 1 s, 2 s, 4 s). */
  readonly startRetryDelaysMs?: readonly number[];
}

export interface SharedLocalBundle {
  /** The bundle to serve now: the union of every replica's authorities (after the first merge). */
  current(): Bundle;
  onChange(listener: (bundle: Bundle) => void): () => void;
  /** Records our authorities and merges once more; resolves with the bundle now served. */
  sync(): Promise<Bundle>;
  /**
   * First merge (retried, then rejects with the store's error), then follows the CA,
   * notifications and a timer until `signal` aborts.
   */
  start(signal: AbortSignal): Promise<void>;
}

/** The stored shape of one replica's authorities (validated on read: another replica wrote it). */
interface ReplicaRecord {
  readonly refreshHintSeconds: number;
  readonly x509: readonly { readonly der: string; readonly notAfter: number }[];
  readonly jwt: readonly {
    readonly kid: string;
    readonly jwk: JsonWebKey;
    readonly notAfter: number;
  }[];
}

const MAX_WRITE_ATTEMPTS = 5;
const DEFAULT_RESYNC_MS = 30_000;
/** Waits between the first merge's attempts at start; then the start fails with the last error. */
const DEFAULT_START_RETRY_DELAYS_MS: readonly number[] = [1000, 2000, 4000];

function readRecord(value: JsonObject): ReplicaRecord | undefined {
  const { refreshHintSeconds, x509, jwt } = value;
  if (typeof refreshHintSeconds !== 'number' || !Array.isArray(x509) || !Array.isArray(jwt)) {
    return undefined;
  }
  const isX509 = (e: unknown): e is ReplicaRecord['x509'][number] =>
    typeof e === 'object' &&
    e !== null &&
    typeof (e as { der?: unknown }).der === 'string' &&
    typeof (e as { notAfter?: unknown }).notAfter === 'number';
  const isJwt = (e: unknown): e is ReplicaRecord['jwt'][number] =>
    typeof e === 'object' &&
    e !== null &&
    typeof (e as { kid?: unknown }).kid === 'string' &&
    typeof (e as { jwk?: unknown }).jwk === 'object' &&
    (e as { jwk?: unknown }).jwk !== null &&
    typeof (e as { notAfter?: unknown }).notAfter === 'number';
  if (!x509.every(isX509) || !jwt.every(isJwt)) return undefined;
  return { refreshHintSeconds, x509, jwt };
}

/** Canonical public JWK text, so keys parsed from different documents compare equal. */
function jwkText(authority: JwtAuthority): string {
  const jwk = authority.publicKey.export({ format: 'jwk' });
  return JSON.stringify([jwk.kty, jwk.crv, jwk.x, jwk.y, jwk.n, jwk.e]);
}

/** Digest of what a bundle trusts (not its sequence): equal content, equal digest. */
function contentDigest(
  refreshHintSeconds: number | undefined,
  x509: Iterable<X509Authority>,
  jwt: Iterable<JwtAuthority>,
): string {
  return createHash('sha256')
    .update(
      JSON.stringify([
        refreshHintSeconds ?? null,
        [...x509].map((a) => a.fingerprintSha256).sort(),
        [...jwt].map((a) => [a.kid, jwkText(a)]).sort((a, b) => (a[0]! < b[0]! ? -1 : 1)),
      ]),
    )
    .digest('hex');
}

/** contentDigest of a whole bundle. */
function bundleContentDigest(bundle: Bundle): string {
  return contentDigest(bundle.refreshHintSeconds, bundle.x509Authorities, [
    ...bundle.jwtAuthorities.values(),
  ]);
}

/** Our own authorities as published by our CA, with each one's expiry. */
function ownRecordOf(ca: SharedBundleSource): ReplicaRecord {
  const own = ca.localBundle();
  const jwtExpiry = new Map(ca.authorities('jwt').map((a) => [a.id, a.notAfter.getTime()]));
  return {
    refreshHintSeconds: own.refreshHintSeconds ?? 300,
    x509: own.x509Authorities.map((a) => ({
      der: a.der.toString('base64'),
      notAfter: a.notAfter.getTime(),
    })),
    jwt: [...own.jwtAuthorities.values()].map((a) => ({
      kid: a.kid,
      jwk: { ...a.jwk },
      notAfter: jwtExpiry.get(a.kid) ?? Number.MAX_SAFE_INTEGER,
    })),
  };
}

/** What a merge gathers: authorities by fingerprint and by kid, first writer wins. */
interface Union {
  readonly x509: Map<string, X509Authority>;
  readonly jwt: Map<string, JwtAuthority>;
}

/**
 * Adds one replica's unexpired authorities to `union`; returns how many were unexpired (readable
 * or not), so a replica whose authorities all expired can be removed.
 */
function addLiveAuthorities(
  union: Union,
  replica: string,
  record: ReplicaRecord,
  nowMs: number,
  logger: SharedBundleLogger,
): number {
  let live = 0;
  for (const entry of record.x509) {
    if (entry.notAfter <= nowMs) continue; // BUNDLE-33: expired CA certificates are pruned.
    live++;
    try {
      const authority = x509AuthorityFromDer(Buffer.from(entry.der, 'base64'));
      union.x509.set(authority.fingerprintSha256, authority);
    } catch (error) {
      logger.warn('ignoring an unreadable certificate of another replica', {
        replicaId: replica,
        error: (error as Error).message,
      });
    }
  }
  for (const entry of record.jwt) {
    if (entry.notAfter <= nowMs) continue;
    live++;
    try {
      const authority = jwtAuthorityFromJwk(entry.kid, entry.jwk);
      const seen = union.jwt.get(entry.kid);
      if (seen !== undefined && jwkText(seen) !== jwkText(authority)) {
        // Two different keys under one kid would make JWT-SVID validation ambiguous.
        logger.warn('two replicas publish different JWT keys under one kid; keeping the first', {
          replicaId: replica,
          kid: entry.kid,
        });
        continue;
      }
      union.jwt.set(entry.kid, authority);
    } catch (error) {
      logger.warn('ignoring an unreadable JWT key of another replica', {
        replicaId: replica,
        error: (error as Error).message,
      });
    }
  }
  return live;
}

/** The stored local bundle, or undefined when there is none or it does not parse. */
async function readStoredBundle(
  store: SharedBundleStore,
  trustDomain: TrustDomain,
  logger: SharedBundleLogger,
): Promise<{ sequence: string | undefined; bundle: Bundle | undefined }> {
  const stored = await store.getLocalBundle();
  if (stored === undefined) return { sequence: undefined, bundle: undefined };
  try {
    return { sequence: stored.sequence, bundle: parseBundle(stored.raw, trustDomain) };
  } catch (error) {
    logger.warn('the stored local bundle does not parse; publishing a new one', {
      error: (error as Error).message,
    });
    return { sequence: stored.sequence, bundle: undefined };
  }
}

const sequenceOf = (s: string | bigint | undefined): bigint =>
  typeof s === 'string' ? BigInt(s) : (s ?? 0n);

/**
 * BUNDLE-31: above anything any replica has published. When the union is exactly our own
 * authorities (one replica), our CA's own count is used, so its logs and ours agree.
 */
function nextSequence(
  published: readonly (string | bigint | undefined)[],
  ownBundle: Bundle,
  unionDigest: string,
): bigint {
  const highest = published.map(sequenceOf).reduce((a, b) => (a > b ? a : b), 0n);
  const ownSequence = sequenceOf(ownBundle.sequence);
  const onlyOurs = unionDigest === bundleContentDigest(ownBundle);
  if (ownSequence <= highest) return highest + 1n;
  return onlyOurs ? ownSequence : ownSequence + 1n;
}

/**
 * The union of every replica's unexpired authorities, our own first; the records of replicas whose
 * authorities all expired are removed.
 */
async function mergeReplicas(
  deps: SharedBundleDeps,
  nowMs: number,
  own: ReplicaRecord,
): Promise<{ x509: X509Authority[]; jwt: JwtAuthority[] }> {
  const { store, replicaId, logger } = deps;
  const records = await store.listReplicaAuthorities();
  if (!records.some((r) => r.replicaId === replicaId)) {
    // Our record is missing (a store restored from an old backup, or another replica pruning
    // a record of ours it read as fully expired just before we rewrote it): write it again.
    await store.putReplicaAuthorities(replicaId, own);
  }
  // Our own record first (it may not be listed yet on a lagging replica), then by replica id.
  const ordered: [string, ReplicaRecord | undefined][] = [
    [replicaId, own],
    ...records
      .filter((r) => r.replicaId !== replicaId)
      .sort((a, b) => (a.replicaId < b.replicaId ? -1 : 1))
      .map((r): [string, ReplicaRecord | undefined] => [r.replicaId, readRecord(r.value)]),
  ];
  const union: Union = { x509: new Map(), jwt: new Map() };
  for (const [id, record] of ordered) {
    if (record === undefined) {
      logger.warn('ignoring a malformed replica authority record', { replicaId: id });
      continue;
    }
    const live = addLiveAuthorities(union, id, record, nowMs, logger);
    if (live === 0 && id !== replicaId) {
      // Everything that replica signed has expired with its authorities (FED-51).
      await store.deleteReplicaAuthorities(id);
      logger.info('removed the authorities of a replica whose authorities all expired', {
        replicaId: id,
      });
    }
  }
  return { x509: [...union.x509.values()], jwt: [...union.jwt.values()] };
}

/**
 * Writes `next` as the shared local bundle; false when another replica published a higher
 * sequence first (ERR_STORE_STALE_SEQUENCE) and `mayRetry`, so the caller merges again on top.
 */
async function publishBundle(
  deps: SharedBundleDeps,
  next: Bundle,
  publishedAtMs: number,
  mayRetry: boolean,
): Promise<boolean> {
  const sequence = sequenceOf(next.sequence);
  try {
    await deps.store.putLocalBundle({
      raw: marshalBundle(next).toString('utf8'),
      sequence: sequence.toString(),
      publishedAt: publishedAtMs,
    });
  } catch (error) {
    if (isBrokerError(error) && error.code === 'ERR_STORE_STALE_SEQUENCE' && mayRetry) {
      return false;
    }
    throw error;
  }
  deps.logger.info('published the shared local bundle', {
    sequence: sequence.toString(),
    x509: next.x509Authorities.length,
    jwt: next.jwtAuthorities.size,
  });
  return true;
}

/**
 * BUNDLE-31, FED-12: the first merge must succeed before anything is served. Our CA's own bundle
 * is never served in its place (with replicas it has a lower sequence and lacks their CAs), so a
 * store that stays unreachable fails the start: nothing listens, partners and agents keep the
 * bundle they have.
 */
async function firstMerge(
  sync: () => Promise<Bundle>,
  deps: Pick<SharedBundleDeps, 'logger' | 'startRetryDelaysMs'>,
  signal: AbortSignal,
): Promise<void> {
  const delaysMs = deps.startRetryDelaysMs ?? DEFAULT_START_RETRY_DELAYS_MS;
  for (let attempt = 0; ; attempt++) {
    try {
      await sync();
      return;
    } catch (error) {
      const delayMs = delaysMs[attempt];
      if (delayMs === undefined || signal.aborted) throw error;
      deps.logger.warn('could not merge the shared local bundle at start; retrying', {
        attempt: attempt + 1,
        retryInMs: delayMs,
        error: (error as Error).message,
      });
      await sleep(delayMs, undefined, { signal });
    }
  }
}

export function createSharedLocalBundle(deps: SharedBundleDeps): SharedLocalBundle {
  const { ca, store, replicaId, logger } = deps;
  const trustDomain = ca.trustDomain;
  const listeners = new Set<(bundle: Bundle) => void>();
  let served: Bundle | undefined;
  let lastRecordText: string | undefined;
  let running: Promise<Bundle> | undefined;
  let again = false;

  const serve = (bundle: Bundle): void => {
    const previous = served;
    served = bundle;
    if (previous !== undefined && bundleContentEquals(previous, bundle)) return;
    for (const listener of listeners) {
      try {
        listener(bundle);
      } catch (error) {
        logger.warn('shared bundle listener failed', { error: String(error) });
      }
    }
  };

  const runSync = async (): Promise<Bundle> => {
    const t = deps.now();
    const own = ownRecordOf(ca);
    const ownText = JSON.stringify(own);
    if (ownText !== lastRecordText) {
      await store.putReplicaAuthorities(replicaId, own);
      lastRecordText = ownText;
    }
    for (let attempt = 1; ; attempt++) {
      const { x509, jwt } = await mergeReplicas(deps, t, own);
      const digest = contentDigest(own.refreshHintSeconds, x509, jwt);
      const stored = await readStoredBundle(store, trustDomain, logger);
      if (stored.bundle !== undefined && bundleContentDigest(stored.bundle) === digest) {
        serve(stored.bundle);
        return stored.bundle;
      }
      const sequence = nextSequence([stored.sequence, served?.sequence], ca.localBundle(), digest);
      // BUNDLE-32 order (marshalBundle keeps it).
      sortForPublication(x509, jwt);
      const next = new Bundle({
        trustDomain,
        x509Authorities: x509,
        jwtAuthorities: jwt,
        sequence,
        refreshHintSeconds: own.refreshHintSeconds,
      });
      // Another replica published first: merge again on top of its bundle.
      if (!(await publishBundle(deps, next, t, attempt < MAX_WRITE_ATTEMPTS))) continue;
      serve(next);
      await store.publish(deps.channel, sequence.toString()).catch(() => undefined);
      return next;
    }
  };

  const sync = (): Promise<Bundle> => {
    if (running !== undefined) {
      again = true;
      return running;
    }
    running = (async () => {
      try {
        let result = await runSync();
        while (again) {
          again = false;
          result = await runSync();
        }
        return result;
      } finally {
        running = undefined;
      }
    })();
    return running;
  };

  const syncQuietly = (why: string): void => {
    sync().catch((error: unknown) =>
      logger.warn('could not merge the shared local bundle; serving the last one', {
        why,
        error: (error as Error).message,
      }),
    );
  };

  return {
    current: () => {
      if (served === undefined) {
        throw new TypeError('no shared local bundle merged yet: start() or sync() first');
      }
      return served;
    },
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    sync,
    async start(signal) {
      await firstMerge(sync, deps, signal);
      const stopCa = ca.onBundleChange(() => syncQuietly('our authorities changed'));
      const unsubscribe = await store.subscribe(deps.channel, () =>
        syncQuietly('another replica published'),
      );
      const timer = setInterval(() => syncQuietly('periodic'), deps.resyncMs ?? DEFAULT_RESYNC_MS);
      timer.unref();
      signal.addEventListener(
        'abort',
        () => {
          clearInterval(timer);
          stopCa();
          unsubscribe().catch(() => undefined);
        },
        { once: true },
      );
    },
  };
}
