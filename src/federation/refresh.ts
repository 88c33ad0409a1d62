// Refreshing one partner (FED-20..35, FED-40..43): fetch its bundle endpoint, verify and apply the
// bundle, keep the last good one on failure, and record every outcome in the partner's refresh status.
import { parseBundleOrPem, type BundleSource } from '../bundle/index.js';
import type { Clock } from '../clock.js';
import { FederationError, isBrokerError } from '../errors.js';
import { parseSpiffeId, parseTrustDomain, type TrustDomain } from '../spiffeid/index.js';
import { fetchBundle, type FetchLog, type FetchOptions, type FetchResult } from './fetch-bundle.js';
import type { Notifications } from './notifications.js';
import type { ActorContext, AuditSink, FederationLogger, FederationStore } from './ports.js';
import type { RelationshipRecords } from './records.js';
import { nextRefreshDelayMs } from './refresh-policy.js';
import { isTrusted, type Relationship } from './relationship.js';
import type { RefreshStatus } from './status.js';
import type { TrustView } from './trust-view.js';
import { applyBundle, type BundleUpdate } from './update-bundle.js';

export interface RefreshOutcome {
  readonly ok: boolean;
  readonly update?: BundleUpdate;
  readonly error?: { readonly code: string; readonly message: string };
  readonly log: FetchLog | null;
}

export interface Refresher {
  /** One fetch + apply now; records status and audit. Never throws for partner failures. */
  refresh(trustDomain: string, context?: ActorContext): Promise<RefreshOutcome>;
  /** Refresh asked for by a verifier that met an unknown kid or CA; rate-limited per partner. */
  refreshOnUnknownKey(trustDomain: string): Promise<boolean>;
  /** A relationship became active: seed the bootstrap bundle (FED-33), reset status, refresh soon. */
  activate(relationship: Relationship): Promise<void>;
  /** Due relationships for the scheduler: active and nextRefreshAtMs ≤ now. */
  due(nowMs: number): Promise<string[]>;
  /** Whether one relationship is due (the scheduler re-checks under its lease, FED-43). */
  isDue(trustDomain: string, nowMs: number): Promise<boolean>;
}

export interface RefreshDeps {
  readonly store: Pick<
    FederationStore,
    'getBundle' | 'putBundle' | 'deleteBundle' | 'putRefreshStatus' | 'deleteRefreshStatus'
  >;
  readonly records: RelationshipRecords;
  readonly view: Pick<TrustView, 'reload' | 'digestOf' | 'getBundleForTrustDomain'>;
  readonly notifications: Pick<Notifications, 'bundleChanged' | 'followBundle'>;
  readonly now: Clock;
  readonly random: () => number;
  readonly audit: AuditSink;
  readonly logger: FederationLogger;
  /** Fetch timeouts and limits (tests shorten them). */
  readonly fetchOptions?: Omit<FetchOptions, 'now'> | undefined;
  /** Minimum gap between two refreshes asked for by verifiers meeting an unknown key (per partner). */
  readonly refreshOnUnknownKeyIntervalMs?: number | undefined;
  /** Told of every fetch attempt; not of refreshes refused before fetching. */
  readonly onRefreshed?: ((trustDomain: string, outcome: RefreshOutcome) => void) | undefined;
}

export function createRefresher(deps: RefreshDeps): Refresher {
  const unknownKeyGapMs = deps.refreshOnUnknownKeyIntervalMs ?? 30_000;
  const lastUnknownKeyRefresh = new Map<string, number>();

  const refresh = async (trustDomain: string, context?: ActorContext): Promise<RefreshOutcome> => {
    const outcome = await refreshOnce(deps, trustDomain, context);
    deps.onRefreshed?.(trustDomain, outcome);
    return outcome;
  };

  return {
    refresh,
    async refreshOnUnknownKey(trustDomain) {
      const last = lastUnknownKeyRefresh.get(trustDomain);
      const at = deps.now();
      if (last !== undefined && at - last < unknownKeyGapMs) return false;
      lastUnknownKeyRefresh.set(trustDomain, at);
      const outcome = await refresh(trustDomain).catch(() => undefined);
      return outcome?.ok === true && outcome.update?.outcome !== 'unchanged';
    },
    activate: (relationship) => activate(deps, relationship),
    async due(nowMs) {
      return (await deps.records.all())
        .filter(
          ({ relationship, status }) => isTrusted(relationship) && status.nextRefreshAtMs <= nowMs,
        )
        .map(({ relationship }) => relationship.trustDomain);
    },
    async isDue(trustDomain, nowMs) {
      const relationship = await deps.records.find(trustDomain);
      if (relationship === undefined || !isTrusted(relationship)) return false;
      return (await deps.records.status(trustDomain)).nextRefreshAtMs <= nowMs;
    },
  };
}

async function activate(deps: RefreshDeps, relationship: Relationship): Promise<void> {
  const { store, now } = deps;
  const td = relationship.trustDomain;
  const stored = await store.getBundle(td);
  if (stored === undefined && relationship.bootstrapBundle !== null) {
    await applyBundle(store, {
      trustDomain: parseTrustDomain(td),
      body: relationship.bootstrapBundle,
      sourceUrl: null,
      allowPem: true,
      nowMs: now(),
    });
  }
  const previous = await deps.records.status(td);
  await store.putRefreshStatus(td, { ...previous, activeSinceMs: now(), nextRefreshAtMs: now() });
  await deps.notifications.followBundle(td);
  await deps.view.reload(td);
  await deps.notifications.bundleChanged(td);
}

/** BUNDLE-14: refusals that are security events, not just failed fetches (code → alert name). */
const SECURITY_ALERTS: ReadonlyMap<string, string> = new Map([
  ['ERR_BUNDLE_PRIVATE_KEY', 'partner-private-key'],
]);

function goneDuringRefresh(trustDomain: string): FederationError {
  return new FederationError(
    'ERR_FEDERATION_RELATIONSHIP_NOT_FOUND',
    `relationship "${trustDomain}" was deleted during its refresh`,
    { context: { gone: true } },
  );
}

/**
 * FED-3, FED-24: the relationship was changed (its endpoint, profile, trust anchors, state) while
 * its bundle was being fetched under the settings read at the start: the result is not kept.
 */
function changedDuringRefresh(trustDomain: string): FederationError {
  return new FederationError(
    'ERR_FEDERATION_RELATIONSHIP_CHANGED',
    `relationship "${trustDomain}" was changed during its refresh; the bundle fetched under its previous settings was discarded`,
    { context: { changed: true } },
  );
}

function errorSummary(error: unknown): { code: string; message: string } {
  if (isBrokerError(error)) return { code: error.code, message: error.message };
  return { code: 'ERR_FEDERATION_FETCH_NETWORK', message: 'unexpected failure' };
}

/** One refresh in progress: the relationship as read at its start and the status it started from. */
interface Attempt {
  readonly trustDomain: string;
  readonly td: TrustDomain;
  readonly relationship: Relationship;
  /** The relationship's store version when the refresh read it: any change to it moves it. */
  readonly version: number;
  readonly previous: RefreshStatus;
  readonly startedAtMs: number;
  readonly context: ActorContext | undefined;
}

/** One fetch of one partner (FED-20..35): every outcome is recorded in its refresh status. */
async function refreshOnce(
  deps: RefreshDeps,
  trustDomain: string,
  context: ActorContext | undefined,
): Promise<RefreshOutcome> {
  const { relationship, version } = await deps.records.read(trustDomain);
  if (!isTrusted(relationship)) {
    throw new FederationError(
      'ERR_FEDERATION_TRANSITION',
      `relationship "${trustDomain}" is ${relationship.state}; only active relationships are fetched`,
    );
  }
  const td = parseTrustDomain(trustDomain);
  const previous = await deps.records.status(trustDomain);
  const attempt: Attempt = {
    trustDomain,
    td,
    relationship,
    version,
    previous,
    startedAtMs: deps.now(),
    context,
  };
  let log: FetchLog | null = null;
  try {
    const fetched = await fetchPartner(deps, relationship);
    log = fetched.log;
    const update = await keepFetched(deps, attempt, fetched);
    return { ok: true, update, log };
  } catch (error) {
    return recordFailure(deps, attempt, error, log);
  }
}

/** Fetches the partner's bundle endpoint, authenticating it as the relationship says (FED-13..16). */
async function fetchPartner(deps: RefreshDeps, relationship: Relationship): Promise<FetchResult> {
  const endpointId =
    relationship.endpointSpiffeId === null
      ? undefined
      : parseSpiffeId(relationship.endpointSpiffeId);
  // FED-24: the latest stored bundle of the endpoint's trust domain authenticates it; the
  // bootstrap bundle only before anything was stored.
  let endpointBundle: BundleSource | undefined;
  if (endpointId !== undefined) {
    const stored = await deps.store.getBundle(endpointId.trustDomain.name);
    const raw = stored?.raw ?? relationship.bootstrapBundle;
    if (raw === null || raw === undefined) {
      throw new FederationError(
        'ERR_FEDERATION_FETCH_TLS',
        `no bundle to authenticate "${endpointId.toString()}"`,
      );
    }
    // The trust view holds that bundle parsed when it holds exactly the stored bytes: a large
    // partner bundle is not parsed once more per refresh for this.
    const td = endpointId.trustDomain;
    const inView =
      stored !== undefined && deps.view.digestOf(td.name) === stored.digest
        ? deps.view.getBundleForTrustDomain(td)
        : undefined;
    endpointBundle = inView ?? parseBundleOrPem(raw, td);
  }
  return fetchBundle(
    {
      url: relationship.url,
      profile: relationship.profile,
      endpointSpiffeId: endpointId,
      endpointBundle,
      caPem: relationship.caPem ?? undefined,
      followRedirects: relationship.followRedirects,
    },
    { ...(deps.fetchOptions ?? {}), now: deps.now },
  );
}

/** Applies a fetched bundle (rollback and content checks in applyBundle) and records the success. */
async function keepFetched(
  deps: RefreshDeps,
  attempt: Attempt,
  fetched: FetchResult,
): Promise<BundleUpdate> {
  const { store, records, logger } = deps;
  const { trustDomain, td, relationship } = attempt;
  const { log } = fetched;
  // FED-60: a relationship deleted (or deleted and re-created) while the fetch was in flight
  // gets nothing stored: no bundle, no status, nothing that a re-created one would inherit.
  // FED-3, FED-24: one changed meanwhile (endpoint, profile, trust anchors, state) gets nothing
  // stored either: the fetch answered its old settings, and the change's "fetch now" must stand.
  const before = await records.current(relationship);
  if (!before.same) throw goneDuringRefresh(trustDomain);
  if (before.version !== attempt.version) throw changedDuringRefresh(trustDomain);
  const update = await applyBundle(store, {
    trustDomain: td,
    body: fetched.body,
    sourceUrl: relationship.url,
    nowMs: deps.now(),
  });
  const status = statusAfterSuccess(attempt, update, log, deps.random());
  await store.putRefreshStatus(trustDomain, status);
  // FED-60: deleted between the check above and our writes: the delete may have run before
  // them, so remove what we wrote (a delete that runs after this check removes it itself).
  const after = await records.current(relationship);
  if (!after.same) {
    await store.deleteBundle(trustDomain);
    await store.deleteRefreshStatus(trustDomain);
    // One created again meanwhile starts from scratch, its bootstrap bundle included.
    if (after.current !== undefined && isTrusted(after.current))
      await activate(deps, after.current);
    else await deps.view.reload(trustDomain);
    throw goneDuringRefresh(trustDomain);
  }
  // Changed between the check and our writes: what we stored passed every check under the settings
  // read at the check; our status must not push back the next fetch under the new ones.
  if (after.version !== attempt.version) {
    await store.putRefreshStatus(trustDomain, { ...status, nextRefreshAtMs: deps.now() });
  }
  logger.info('partner bundle fetched', {
    trustDomain,
    outcome: update.outcome,
    sequence: update.stored.sequence,
    ...log,
  });
  if (update.anomaly !== null) {
    logger.warn('partner changed its bundle without a new spiffe_sequence (FED-32)', {
      trustDomain,
    });
  }
  await followStored(deps, trustDomain, update);
  if (update.outcome !== 'unchanged') {
    await deps.audit({
      type: 'bundle.changed',
      actor: attempt.context?.actor ?? 'system',
      trustDomain,
      details: {
        sequence: update.stored.sequence,
        digest: update.stored.digest,
        x509Authorities: update.bundle.x509Authorities.length,
        jwtAuthorities: update.bundle.jwtAuthorities.size,
        anomaly: update.anomaly,
        empty: update.bundle.isEmpty,
      },
    });
  }
  return update;
}

/**
 * FED-31, FED-34: the trust view follows the stored bundle, before the change is audited (a stored
 * bundle must be loaded even when its event cannot be written). A bundle found unchanged is loaded
 * too when this replica's view is behind the store, as after a reload or a notification that was
 * lost: otherwise nothing would repair it, and a CA the partner removed would stay trusted here.
 * Either way the other replicas are told, as they may have missed the same notification.
 */
async function followStored(
  deps: RefreshDeps,
  trustDomain: string,
  update: BundleUpdate,
): Promise<void> {
  if (update.outcome === 'unchanged') {
    if (deps.view.digestOf(trustDomain) === update.stored.digest) return;
    deps.logger.warn('trust view was behind the stored partner bundle; reloaded', {
      trustDomain,
      sequence: update.stored.sequence,
    });
  }
  await deps.view.reload(trustDomain, { digest: update.stored.digest, bundle: update.bundle });
  await deps.notifications.bundleChanged(trustDomain);
}

/** FED-41: a failed refresh keeps the last good bundle; the failure goes to status, log and audit. */
async function recordFailure(
  deps: RefreshDeps,
  attempt: Attempt,
  error: unknown,
  fetchedLog: FetchLog | null,
): Promise<RefreshOutcome> {
  const { logger } = deps;
  const { trustDomain, relationship } = attempt;
  const summary = errorSummary(error);
  const errorContext = isBrokerError(error)
    ? (error.context as { log?: FetchLog } | undefined)
    : undefined;
  const log = errorContext?.log ?? fetchedLog;
  if (isBrokerError(error) && error.context?.['gone'] === true) {
    // FED-60: the relationship is gone; it gets no status record back.
    logger.info('relationship deleted during its refresh; fetched bundle discarded', {
      trustDomain,
    });
    return { ok: false, error: summary, log };
  }
  if (isBrokerError(error) && error.context?.['changed'] === true) {
    // Its status is the change's (due at once); the next refresh fetches under the new settings.
    logger.info('relationship changed during its refresh; fetched bundle discarded', {
      trustDomain,
    });
    return { ok: false, error: summary, log };
  }
  const status = statusAfterFailure(attempt, summary, log, deps.random());
  await deps.store.putRefreshStatus(trustDomain, status).catch(() => undefined);
  logger.warn('partner bundle refresh failed; keeping the last good bundle', {
    trustDomain,
    ...summary,
    ...(log ?? {}),
  });
  const alert = SECURITY_ALERTS.get(summary.code);
  if (alert !== undefined) {
    // BUNDLE-14: the partner leaked a private key; say so loudly (never the key itself).
    logger.warn('SECURITY ALERT: partner bundle rejected', {
      trustDomain,
      alert,
      code: summary.code,
      url: relationship.url,
    });
  }
  await deps
    .audit({
      type: 'bundle.refused',
      actor: attempt.context?.actor ?? 'system',
      trustDomain,
      details: { ...summary, ...(alert === undefined ? {} : { alert }) },
    })
    .catch(() => undefined);
  return { ok: false, error: summary, log };
}

/** FED-40: after a success the next refresh follows the partner's hint, jittered by `random`. */
function statusAfterSuccess(
  attempt: Attempt,
  update: BundleUpdate,
  log: FetchLog | null,
  random: number,
): RefreshStatus {
  const atMs = attempt.startedAtMs;
  const hint = update.bundle.refreshHintSeconds;
  const expiries = update.bundle.x509Authorities.map((a) => a.notAfter.getTime());
  return {
    ...attempt.previous,
    lastAttemptAtMs: atMs,
    lastSuccessAtMs: atMs,
    lastError: null,
    consecutiveFailures: 0,
    nextRefreshAtMs:
      atMs +
      nextRefreshDelayMs(
        { refreshHintSeconds: hint, consecutiveFailures: 0, hasSucceeded: true },
        random,
      ),
    sequence: update.stored.sequence,
    digest: update.stored.digest,
    refreshHintSeconds: hint ?? null,
    earliestAuthorityExpiryMs: expiries.length === 0 ? null : Math.min(...expiries),
    lastFetch: log,
  };
}

/** FED-41: after a failure the next attempt backs off with the failure count. */
function statusAfterFailure(
  attempt: Attempt,
  summary: { code: string; message: string },
  log: FetchLog | null,
  random: number,
): RefreshStatus {
  const { previous, startedAtMs } = attempt;
  const failures = previous.consecutiveFailures + 1;
  return {
    ...previous,
    lastAttemptAtMs: startedAtMs,
    lastError: { ...summary, atMs: startedAtMs },
    consecutiveFailures: failures,
    nextRefreshAtMs:
      startedAtMs +
      nextRefreshDelayMs(
        {
          refreshHintSeconds: previous.refreshHintSeconds ?? undefined,
          consecutiveFailures: failures,
          hasSucceeded: previous.lastSuccessAtMs !== null,
        },
        random,
      ),
    lastFetch: log,
  };
}
