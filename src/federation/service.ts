// The federation service: relationships with approval, refreshing partner bundles, operator overrides,
// and the in-memory trust view (one bundle per trust domain, active relationships only; FED-30).
import type { Bundle } from '../bundle/index.js';
import { BundleSet, parseBundle, parseBundleOrPem, type BundleSource } from '../bundle/index.js';
import { FederationError, isBrokerError } from '../errors.js';
import { parseSpiffeId, parseTrustDomain, type TrustDomain } from '../spiffeid/index.js';
import type { Store } from '../store/index.js';
import { fetchBundle, type FetchLog, type FetchOptions } from './fetch-bundle.js';
import { nextRefreshDelayMs, isStale } from './refresh-policy.js';
import {
  createRelationship,
  isTrusted,
  approvalsOf,
  transitionRelationship,
  type Relationship,
  type RelationshipInput,
  type RelationshipSource,
  type TransitionAction,
} from './relationship.js';
import { statusFromJson, type RefreshStatus } from './status.js';
import { applyBundle, type BundleUpdate } from './update-bundle.js';
import type { Logger } from '../log.js';

/**
 * Notification channels this room publishes and listens to (the store adds its key prefix). Other
 * replicas re-read on a message; a missed message is covered by the next reload.
 */
export const FEDERATION_CHANNELS = {
  bundleChanged: (trustDomain: string): string => `bundle-changed:${trustDomain}`,
  relationshipChanged: 'relationship-changed',
} as const;
const CHANNELS = FEDERATION_CHANNELS;

/** The store ports the federation service uses. */
export type FederationStore = Pick<
  Store,
  | 'getRelationship'
  | 'listRelationships'
  | 'putRelationship'
  | 'deleteRelationship'
  | 'getBundle'
  | 'putBundle'
  | 'deleteBundle'
  | 'bundleHistory'
  | 'getRefreshStatus'
  | 'putRefreshStatus'
  | 'deleteRefreshStatus'
  | 'publish'
  | 'subscribe'
> &
  // Optional so narrower stores still fit; with it, due() and list() read every status in one go.
  Partial<Pick<Store, 'listRefreshStatuses'>>;

export interface AuditSink {
  (event: {
    type: string;
    actor: string;
    trustDomain?: string;
    details?: Record<string, unknown>;
  }): Promise<void>;
}

export type FederationLogger = Pick<Logger, 'info' | 'warn'>;

export interface FederationDeps {
  readonly store: FederationStore;
  readonly ownTrustDomain: TrustDomain;
  readonly now: () => number;
  readonly random?: () => number;
  readonly audit: AuditSink;
  readonly logger: FederationLogger;
  /** Fetch timeouts and limits (tests shorten them). */
  readonly fetchOptions?: Omit<FetchOptions, 'now'>;
  /** Minimum gap between two refreshes asked for by verifiers meeting an unknown key (per partner). */
  readonly refreshOnUnknownKeyIntervalMs?: number;
  /**
   * Told of every fetch attempt, whoever asked (scheduler, admin, a verifier meeting an unknown
   * key); not of refreshes refused before fetching (unknown or inactive relationship).
   */
  readonly onRefreshed?: (trustDomain: string, outcome: RefreshOutcome) => void;
  /** Two-person rule (issue 19): different admins that must approve a pending relationship. */
  readonly requiredApprovals?: number;
}

export interface RelationshipView {
  readonly relationship: Relationship;
  readonly version: number;
  readonly status: RefreshStatus & { readonly stale: boolean };
  /** Two-person rule: approvals a pending relationship needs (`approvalsOf` gives those made). */
  readonly requiredApprovals: number;
}

export interface RefreshOutcome {
  readonly ok: boolean;
  readonly update?: BundleUpdate;
  readonly error?: { readonly code: string; readonly message: string };
  readonly log: FetchLog | null;
}

export interface ActorContext {
  readonly actor: string;
  readonly reason?: string;
}

export interface Federation extends BundleSource {
  create(
    input: RelationshipInput,
    context: ActorContext & { source?: RelationshipSource },
  ): Promise<Relationship>;
  list(): Promise<RelationshipView[]>;
  get(trustDomain: string): Promise<RelationshipView>;
  transition(
    trustDomain: string,
    action: TransitionAction,
    context: ActorContext,
  ): Promise<Relationship>;
  delete(trustDomain: string, context: ActorContext): Promise<void>;
  /**
   * Changes how a partner is reached (URL, profile, endpoint SPIFFE ID, CA file) and keeps its
   * state, history and stored bundle; the next fetch uses the new parameters (FED-2, FED-3).
   */
  update(
    trustDomain: string,
    changes: {
      readonly [K in Exclude<keyof RelationshipInput, 'trustDomain'>]?:
        RelationshipInput[K] | undefined;
    },
    context: ActorContext,
  ): Promise<Relationship>;
  /** Makes the static relationships of the configuration exist and be active (config wins on parameters). */
  syncStatic(inputs: readonly RelationshipInput[]): Promise<void>;
  /** One fetch + apply now; records status and audit. Never throws for partner failures. */
  refresh(trustDomain: string, context?: ActorContext): Promise<RefreshOutcome>;
  /** Refresh asked for by a verifier that met an unknown kid or CA; rate-limited per partner. */
  refreshOnUnknownKey(trustDomain: string): Promise<boolean>;
  /** FED-33: operator replaces the stored bundle (SPIFFE JSON or PEM), rollback check bypassed. */
  forceBundle(trustDomain: string, body: string, context: ActorContext): Promise<BundleUpdate>;
  /** Stored versions, newest first. */
  history(trustDomain: string): Promise<
    {
      raw: string;
      sequence: string | null;
      digest: string;
      fetchedAtMs: number;
      sourceUrl: string | null;
    }[]
  >;
  /** Bundles of active relationships, optionally restricted to `trustDomains`. */
  trustedBundles(trustDomains?: readonly string[]): BundleSet;
  /** Reloads relationships and bundles from the store into the trust view. */
  reload(): Promise<void>;
  /** Called after the trust view changed (for agent watch streams). */
  onChange(listener: () => void): () => void;
  /** Subscribes to store notifications so other replicas' changes show up promptly. */
  start(signal: AbortSignal): Promise<void>;
  /** Due relationships for the scheduler: active and nextRefreshAtMs ≤ now. */
  due(nowMs: number): Promise<string[]>;
  /** Whether one relationship is due (the scheduler re-checks under its lease, FED-43). */
  isDue(trustDomain: string, nowMs: number): Promise<boolean>;
}

/** One trust domain in the trust view: the parsed bundle and the digest of the stored bytes. */
interface TrustedEntry {
  readonly bundle: Bundle;
  readonly digest: string;
}

function relationshipFrom(value: Readonly<Record<string, unknown>>): Relationship {
  return value as unknown as Relationship;
}

function notFound(trustDomain: string): FederationError {
  return new FederationError(
    'ERR_FEDERATION_RELATIONSHIP_NOT_FOUND',
    `no relationship for "${trustDomain}"`,
  );
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

function errorSummary(error: unknown): { code: string; message: string } {
  if (isBrokerError(error)) return { code: error.code, message: error.message };
  return { code: 'ERR_FEDERATION_FETCH_NETWORK', message: 'unexpected failure' };
}

export function createFederation(deps: FederationDeps): Federation {
  const { store, ownTrustDomain, now, logger, audit } = deps;
  const random = deps.random ?? Math.random;
  const unknownKeyGapMs = deps.refreshOnUnknownKeyIntervalMs ?? 30_000;
  /** Trust view: active relationships → parsed current bundle and the digest of its stored bytes. */
  const trusted = new Map<string, TrustedEntry>();
  /** The reload in progress per trust domain (reloads of one trust domain run in order). */
  const reloads = new Map<string, Promise<void>>();
  const listeners = new Set<() => void>();
  const lastUnknownKeyRefresh = new Map<string, number>();
  const subscriptions = new Map<string, () => Promise<void>>();

  const emit = (): void => {
    for (const listener of listeners) {
      try {
        listener();
      } catch (error) {
        logger.warn('trust view listener failed', { error: (error as Error).message });
      }
    }
  };

  async function readRelationship(
    trustDomain: string,
  ): Promise<{ relationship: Relationship; version: number }> {
    const found = await store.getRelationship(trustDomain);
    if (found === undefined) throw notFound(trustDomain);
    return { relationship: relationshipFrom(found.value), version: found.version };
  }

  /** The relationship now stored for the trust domain, if any, and whether it is still `relationship`. */
  async function currentRelationship(
    relationship: Relationship,
  ): Promise<{ current: Relationship | undefined; same: boolean }> {
    const found = await store.getRelationship(relationship.trustDomain);
    const current = found === undefined ? undefined : relationshipFrom(found.value);
    // Deleted and created again: a new record with its own creation time.
    return { current, same: current?.createdAtMs === relationship.createdAtMs };
  }

  async function readStatus(trustDomain: string): Promise<RefreshStatus> {
    return statusFromJson(await store.getRefreshStatus(trustDomain), now());
  }

  /**
   * Every relationship with its status. One listing of each when the store can list statuses (a
   * Redis round trip per relationship made due() and list() grow with the partner count); one
   * status read per relationship otherwise, issued together rather than one after another.
   */
  async function readAll(): Promise<
    { relationship: Relationship; version: number; status: RefreshStatus }[]
  > {
    const [records, statuses] = await Promise.all([
      store.listRelationships(),
      store.listRefreshStatuses?.(),
    ]);
    const byTrustDomain =
      statuses === undefined ? undefined : new Map(statuses.map((s) => [s.trustDomain, s.status]));
    const at = now();
    return Promise.all(
      records.map(async (record) => {
        const relationship = relationshipFrom(record.value);
        const status =
          byTrustDomain === undefined
            ? await readStatus(relationship.trustDomain)
            : statusFromJson(byTrustDomain.get(relationship.trustDomain), at);
        return { relationship, version: record.version, status };
      }),
    );
  }

  async function notifyRelationship(trustDomain: string): Promise<void> {
    await store.publish(CHANNELS.relationshipChanged, trustDomain).catch(() => undefined);
  }

  async function notifyBundle(trustDomain: string): Promise<void> {
    await store.publish(CHANNELS.bundleChanged(trustDomain), trustDomain).catch(() => undefined);
  }

  /**
   * Re-reads one trust domain into the trust view. `known` is a bundle the caller just parsed; it is
   * used when the store still holds exactly those bytes (same digest), saving a second parse.
   * Reloads of one trust domain are queued so an older read never lands after a newer one.
   */
  function reloadOne(trustDomain: string, known?: TrustedEntry): Promise<void> {
    const previous = reloads.get(trustDomain);
    const run = (previous === undefined ? Promise.resolve() : previous.catch(() => undefined)).then(
      () => readIntoView(trustDomain, known),
    );
    reloads.set(trustDomain, run);
    const clear = (): void => {
      if (reloads.get(trustDomain) === run) reloads.delete(trustDomain);
    };
    run.then(clear, clear);
    return run;
  }

  async function readIntoView(trustDomain: string, known: TrustedEntry | undefined): Promise<void> {
    const entry = await readTrusted(trustDomain, known);
    // Applied with no await since the view was last read: refreshes run concurrently, and a copy of
    // the map taken before an await would drop the other trust domains' updates (FED-34).
    const before = trusted.get(trustDomain);
    if (entry === undefined) {
      if (before === undefined) return;
      trusted.delete(trustDomain);
    } else {
      // Same stored bytes: keep the parsed value and do not wake the listeners for nothing.
      if (before !== undefined && before.digest === entry.digest) return;
      trusted.set(trustDomain, entry);
    }
    emit();
  }

  async function readTrusted(
    trustDomain: string,
    known: TrustedEntry | undefined,
  ): Promise<TrustedEntry | undefined> {
    const found = await store.getRelationship(trustDomain);
    if (found === undefined || !isTrusted(relationshipFrom(found.value))) return undefined;
    const stored = await store.getBundle(trustDomain);
    if (stored === undefined) return undefined;
    const current = trusted.get(trustDomain);
    if (current !== undefined && current.digest === stored.digest) return current;
    if (known !== undefined && known.digest === stored.digest) return known;
    const td = parseTrustDomain(trustDomain);
    try {
      return { bundle: parseBundle(stored.raw, td), digest: stored.digest };
    } catch (error) {
      // Operator-forced PEM bundles are stored as PEM.
      try {
        return { bundle: parseBundleOrPem(stored.raw, td), digest: stored.digest };
      } catch {
        logger.warn('stored bundle does not parse; not trusted', {
          trustDomain,
          code: isBrokerError(error) ? error.code : 'unknown',
        });
        return undefined;
      }
    }
  }

  async function watchBundle(trustDomain: string): Promise<void> {
    if (subscriptions.has(trustDomain)) return;
    const unsubscribe = await store
      .subscribe(CHANNELS.bundleChanged(trustDomain), () => {
        void reloadOne(trustDomain).catch(() => undefined);
      })
      .catch(() => undefined);
    if (unsubscribe !== undefined) subscriptions.set(trustDomain, unsubscribe);
  }

  async function putStatus(trustDomain: string, status: RefreshStatus): Promise<void> {
    await store.putRefreshStatus(trustDomain, status);
  }

  function statusAfterSuccess(
    previous: RefreshStatus,
    update: BundleUpdate,
    log: FetchLog | null,
    atMs: number,
  ): RefreshStatus {
    const hint = update.bundle.refreshHintSeconds;
    const expiries = update.bundle.x509Authorities.map((a) => a.notAfter.getTime());
    return {
      ...previous,
      lastAttemptAtMs: atMs,
      lastSuccessAtMs: atMs,
      lastError: null,
      consecutiveFailures: 0,
      nextRefreshAtMs:
        atMs +
        nextRefreshDelayMs(
          { refreshHintSeconds: hint, consecutiveFailures: 0, hasSucceeded: true },
          random(),
        ),
      sequence: update.stored.sequence,
      digest: update.stored.digest,
      refreshHintSeconds: hint ?? null,
      earliestAuthorityExpiryMs: expiries.length === 0 ? null : Math.min(...expiries),
      lastFetch: log,
    };
  }

  /** One fetch of one partner (FED-20..35): every outcome is recorded in its refresh status. */
  const refreshRelationship = async (
    trustDomain: string,
    context: ActorContext | undefined,
  ): Promise<RefreshOutcome> => {
    const { relationship } = await readRelationship(trustDomain);
    if (!isTrusted(relationship)) {
      throw new FederationError(
        'ERR_FEDERATION_TRANSITION',
        `relationship "${trustDomain}" is ${relationship.state}; only active relationships are fetched`,
      );
    }
    const td = parseTrustDomain(trustDomain);
    const previous = await readStatus(trustDomain);
    const startedAt = now();
    let log: FetchLog | null = null;
    try {
      const endpointId =
        relationship.endpointSpiffeId === null
          ? undefined
          : parseSpiffeId(relationship.endpointSpiffeId);
      // FED-24: the latest stored bundle of the endpoint's trust domain authenticates it; the
      // bootstrap bundle only before anything was stored.
      let endpointBundle: BundleSource | undefined;
      if (endpointId !== undefined) {
        const stored = await store.getBundle(endpointId.trustDomain.name);
        const raw = stored?.raw ?? relationship.bootstrapBundle;
        if (raw === null || raw === undefined) {
          throw new FederationError(
            'ERR_FEDERATION_FETCH_TLS',
            `no bundle to authenticate "${endpointId.toString()}"`,
          );
        }
        endpointBundle = parseBundleOrPem(raw, endpointId.trustDomain);
      }
      const fetched = await fetchBundle(
        {
          url: relationship.url,
          profile: relationship.profile,
          endpointSpiffeId: endpointId,
          endpointBundle,
          caPem: relationship.caPem ?? undefined,
          followRedirects: relationship.followRedirects,
        },
        { ...(deps.fetchOptions ?? {}), now },
      );
      log = fetched.log;
      // FED-60: a relationship deleted (or deleted and re-created) while the fetch was in flight
      // gets nothing stored: no bundle, no status, nothing that a re-created one would inherit.
      if (!(await currentRelationship(relationship)).same) throw goneDuringRefresh(trustDomain);
      const update = await applyBundle(store, {
        trustDomain: td,
        body: fetched.body,
        sourceUrl: relationship.url,
        nowMs: now(),
      });
      const status = statusAfterSuccess(previous, update, log, startedAt);
      await putStatus(trustDomain, status);
      // FED-60: deleted between the check above and our writes: the delete may have run before
      // them, so remove what we wrote (a delete that runs after this check removes it itself).
      const after = await currentRelationship(relationship);
      if (!after.same) {
        await store.deleteBundle(trustDomain);
        await store.deleteRefreshStatus(trustDomain);
        // One created again meanwhile starts from scratch, its bootstrap bundle included.
        if (after.current !== undefined && isTrusted(after.current)) await activate(after.current);
        else await reloadOne(trustDomain);
        throw goneDuringRefresh(trustDomain);
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
      if (update.outcome !== 'unchanged') {
        await audit({
          type: 'bundle.changed',
          actor: context?.actor ?? 'system',
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
        await reloadOne(trustDomain, { digest: update.stored.digest, bundle: update.bundle });
        await notifyBundle(trustDomain);
      }
      return { ok: true, update, log };
    } catch (error) {
      const summary = errorSummary(error);
      const errorContext = isBrokerError(error)
        ? (error.context as { log?: FetchLog } | undefined)
        : undefined;
      log = errorContext?.log ?? log;
      if (isBrokerError(error) && error.context?.['gone'] === true) {
        // FED-60: the relationship is gone; it gets no status record back.
        logger.info('relationship deleted during its refresh; fetched bundle discarded', {
          trustDomain,
        });
        return { ok: false, error: summary, log };
      }
      const failures = previous.consecutiveFailures + 1;
      const status: RefreshStatus = {
        ...previous,
        lastAttemptAtMs: startedAt,
        lastError: { ...summary, atMs: startedAt },
        consecutiveFailures: failures,
        nextRefreshAtMs:
          startedAt +
          nextRefreshDelayMs(
            {
              refreshHintSeconds: previous.refreshHintSeconds ?? undefined,
              consecutiveFailures: failures,
              hasSucceeded: previous.lastSuccessAtMs !== null,
            },
            random(),
          ),
        lastFetch: log,
      };
      await putStatus(trustDomain, status).catch(() => undefined);
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
      await audit({
        type: 'bundle.refused',
        actor: context?.actor ?? 'system',
        trustDomain,
        details: { ...summary, ...(alert === undefined ? {} : { alert }) },
      }).catch(() => undefined);
      return { ok: false, error: summary, log };
    }
  };

  const federation: Federation = {
    getBundleForTrustDomain(trustDomain: TrustDomain) {
      return trusted.get(trustDomain.name)?.bundle;
    },

    async create(input, context) {
      const relationship = createRelationship(input, {
        ownTrustDomain,
        source: context.source ?? 'api',
        actor: context.actor,
        nowMs: now(),
        ...(context.reason === undefined ? {} : { reason: context.reason }),
      });
      if (relationship.bootstrapBundle !== null) {
        // FED-1: the bootstrap bundle must parse (SPIFFE JSON or PEM) before we accept it.
        parseBundleOrPem(relationship.bootstrapBundle, parseTrustDomain(relationship.trustDomain));
      }
      try {
        await store.putRelationship(relationship.trustDomain, relationship, null);
      } catch (error) {
        if (isBrokerError(error) && error.code === 'ERR_STORE_CONFLICT') {
          throw new FederationError(
            'ERR_FEDERATION_RELATIONSHIP_EXISTS',
            `a relationship for "${relationship.trustDomain}" already exists (ID-15)`,
          );
        }
        throw error;
      }
      await audit({
        type: 'relationship.created',
        actor: context.actor,
        trustDomain: relationship.trustDomain,
        details: {
          url: relationship.url,
          profile: relationship.profile,
          state: relationship.state,
          source: relationship.source,
          reason: context.reason ?? '',
        },
      });
      if (isTrusted(relationship)) await activate(relationship);
      await notifyRelationship(relationship.trustDomain);
      return relationship;
    },

    async list() {
      const views: RelationshipView[] = (await readAll()).map(
        ({ relationship, version, status }) => ({
          relationship,
          version,
          status: withStale(relationship, status),
          requiredApprovals: deps.requiredApprovals ?? 1,
        }),
      );
      return views.sort((a, b) =>
        a.relationship.trustDomain < b.relationship.trustDomain ? -1 : 1,
      );
    },

    async get(trustDomain) {
      const { relationship, version } = await readRelationship(trustDomain);
      return {
        relationship,
        version,
        status: withStale(relationship, await readStatus(trustDomain)),
        requiredApprovals: deps.requiredApprovals ?? 1,
      };
    },

    async transition(trustDomain, action, context) {
      const { relationship, version } = await readRelationship(trustDomain);
      const requiredApprovals = deps.requiredApprovals ?? 1;
      const next = transitionRelationship(relationship, action, {
        actor: context.actor,
        nowMs: now(),
        requiredApprovals,
        ...(context.reason === undefined ? {} : { reason: context.reason }),
      });
      await store.putRelationship(trustDomain, next, version);
      const type =
        action === 'approve' && next.state === 'pending'
          ? 'approval_recorded'
          : { approve: 'approved', reject: 'rejected', suspend: 'suspended', resume: 'resumed' }[
              action
            ];
      await audit({
        type: `relationship.${type}`,
        actor: context.actor,
        trustDomain,
        details: {
          from: relationship.state,
          to: next.state,
          reason: context.reason ?? '',
          ...(action === 'approve'
            ? { approvals: approvalsOf(next).length, requiredApprovals }
            : {}),
        },
      });
      if (isTrusted(next)) {
        await activate(next);
      } else {
        await reloadOne(trustDomain);
      }
      await notifyRelationship(trustDomain);
      return next;
    },

    async delete(trustDomain, context) {
      const { relationship, version } = await readRelationship(trustDomain);
      // FED-60: the bundle goes, polling stops, validators are told.
      await store.deleteRelationship(trustDomain, version);
      await store.deleteBundle(trustDomain);
      await store.deleteRefreshStatus(trustDomain);
      await audit({
        type: 'relationship.deleted',
        actor: context.actor,
        trustDomain,
        details: { state: relationship.state, reason: context.reason ?? '' },
      });
      await reloadOne(trustDomain);
      await notifyRelationship(trustDomain);
      await notifyBundle(trustDomain);
    },

    async update(trustDomain, changes, context) {
      const { relationship, version } = await readRelationship(trustDomain);
      const profile = changes.profile ?? relationship.profile;
      const keep = <T>(value: T | null): T | undefined => (value === null ? undefined : value);
      // A profile change drops the other profile's parameters unless given again (FED-1, FED-2).
      const same = profile === relationship.profile;
      const checked = createRelationship(
        {
          trustDomain: relationship.trustDomain,
          url: changes.url ?? relationship.url,
          profile,
          endpointSpiffeId:
            changes.endpointSpiffeId ?? (same ? keep(relationship.endpointSpiffeId) : undefined),
          bootstrapBundle:
            changes.bootstrapBundle ?? (same ? keep(relationship.bootstrapBundle) : undefined),
          caPem: changes.caPem ?? (same ? keep(relationship.caPem) : undefined),
          followRedirects: changes.followRedirects ?? relationship.followRedirects,
        },
        { ownTrustDomain, source: relationship.source, actor: context.actor, nowMs: now() },
      );
      const next: Relationship = {
        ...relationship,
        url: checked.url,
        profile: checked.profile,
        endpointSpiffeId: checked.endpointSpiffeId,
        bootstrapBundle: checked.bootstrapBundle,
        caPem: checked.caPem,
        followRedirects: checked.followRedirects,
        updatedAtMs: now(),
      };
      await store.putRelationship(trustDomain, next, version);
      await audit({
        type: 'relationship.updated',
        actor: context.actor,
        trustDomain,
        details: {
          from: { url: relationship.url, profile: relationship.profile },
          to: { url: next.url, profile: next.profile },
          reason: context.reason ?? '',
        },
      });
      if (isTrusted(next)) {
        await activate(next);
      } else {
        await reloadOne(trustDomain);
      }
      await notifyRelationship(trustDomain);
      return next;
    },

    async syncStatic(inputs) {
      for (const input of inputs) {
        const desired = createRelationship(input, {
          ownTrustDomain,
          source: 'config',
          actor: 'config',
          nowMs: now(),
        });
        const existing = await store.getRelationship(desired.trustDomain);
        if (existing === undefined) {
          await federation.create(input, {
            actor: 'config',
            source: 'config',
            reason: 'static configuration',
          });
          continue;
        }
        const current = relationshipFrom(existing.value);
        const same =
          current.url === desired.url &&
          current.profile === desired.profile &&
          current.endpointSpiffeId === desired.endpointSpiffeId &&
          current.bootstrapBundle === desired.bootstrapBundle &&
          current.caPem === desired.caPem &&
          current.state === 'active';
        if (same) continue;
        const merged: Relationship = {
          ...desired,
          createdAtMs: current.createdAtMs,
          transitions: [...current.transitions, ...desired.transitions],
        };
        await store.putRelationship(desired.trustDomain, merged, existing.version);
        await audit({
          type: 'relationship.created',
          actor: 'config',
          trustDomain: desired.trustDomain,
          details: { updated: true, url: desired.url, profile: desired.profile },
        });
        await activate(merged);
        await notifyRelationship(desired.trustDomain);
      }
    },

    async refresh(trustDomain, context) {
      const outcome = await refreshRelationship(trustDomain, context);
      deps.onRefreshed?.(trustDomain, outcome);
      return outcome;
    },

    async refreshOnUnknownKey(trustDomain) {
      const last = lastUnknownKeyRefresh.get(trustDomain);
      const at = now();
      if (last !== undefined && at - last < unknownKeyGapMs) return false;
      lastUnknownKeyRefresh.set(trustDomain, at);
      const outcome = await federation.refresh(trustDomain).catch(() => undefined);
      return outcome?.ok === true && outcome.update?.outcome !== 'unchanged';
    },

    async forceBundle(trustDomain, body, context) {
      await readRelationship(trustDomain);
      const update = await applyBundle(store, {
        trustDomain: parseTrustDomain(trustDomain),
        body,
        sourceUrl: null,
        force: true,
        allowPem: true,
        nowMs: now(),
      });
      await audit({
        type: 'bundle.forced',
        actor: context.actor,
        trustDomain,
        details: {
          sequence: update.stored.sequence,
          digest: update.stored.digest,
          reason: context.reason ?? '',
        },
      });
      await reloadOne(trustDomain);
      await notifyBundle(trustDomain);
      return update;
    },

    async history(trustDomain) {
      const versions = await store.bundleHistory(trustDomain);
      return versions.map((v) => ({
        raw: v.raw,
        sequence: v.sequence,
        digest: v.digest,
        fetchedAtMs: v.fetchedAt,
        sourceUrl: v.sourceUrl,
      }));
    },

    trustedBundles(trustDomains) {
      const selected =
        trustDomains === undefined
          ? [...trusted.values()].map((entry) => entry.bundle)
          : trustDomains.flatMap((td) => {
              const bundle = trusted.get(td)?.bundle;
              return bundle === undefined ? [] : [bundle];
            });
      return new BundleSet(selected);
    },

    async reload() {
      const records = await store.listRelationships();
      const names = records.map((r) => relationshipFrom(r.value).trustDomain);
      for (const name of names) await watchBundle(name);
      const present = new Set(names);
      const gone = [...trusted.keys()].filter((name) => !present.has(name));
      for (const name of [...names, ...gone]) await reloadOne(name);
    },

    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },

    async start(signal) {
      const unsubscribe = await store.subscribe(CHANNELS.relationshipChanged, (trustDomain) => {
        void (async () => {
          await watchBundle(trustDomain);
          await reloadOne(trustDomain);
        })().catch(() => undefined);
      });
      await federation.reload();
      signal.addEventListener(
        'abort',
        () => {
          void unsubscribe();
          for (const unsub of subscriptions.values()) void unsub();
          subscriptions.clear();
        },
        { once: true },
      );
    },

    async due(nowMs) {
      return (await readAll())
        .filter(
          ({ relationship, status }) => isTrusted(relationship) && status.nextRefreshAtMs <= nowMs,
        )
        .map(({ relationship }) => relationship.trustDomain);
    },

    async isDue(trustDomain, nowMs) {
      const found = await store.getRelationship(trustDomain);
      if (found === undefined || !isTrusted(relationshipFrom(found.value))) return false;
      return (await readStatus(trustDomain)).nextRefreshAtMs <= nowMs;
    },
  };

  function withStale(
    relationship: Relationship,
    status: RefreshStatus,
  ): RefreshStatus & { stale: boolean } {
    return {
      ...status,
      stale:
        isTrusted(relationship) &&
        isStale(
          status.lastSuccessAtMs ?? undefined,
          status.refreshHintSeconds ?? undefined,
          now(),
          status.activeSinceMs,
        ),
    };
  }

  /** A relationship became active: seed the bootstrap bundle (FED-33), reset status, refresh soon. */
  async function activate(relationship: Relationship): Promise<void> {
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
    const previous = await readStatus(td);
    await putStatus(td, { ...previous, activeSinceMs: now(), nextRefreshAtMs: now() });
    await watchBundle(td);
    await reloadOne(td);
    await notifyBundle(td);
  }

  return federation;
}
