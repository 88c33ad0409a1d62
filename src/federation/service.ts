// The federation service: composes its four pieces (relationships, refresh, the trust view and its
// notifications) into the one object the API, the scheduler and main.ts use.
import type { BundleSource } from '../bundle/index.js';
import type { Clock } from '../clock.js';
import type { TrustDomain } from '../spiffeid/index.js';
import type { FetchOptions } from './fetch-bundle.js';
import { createChangeListeners, createNotifications } from './notifications.js';
import { createOperatorBundles, type OperatorBundles } from './operator-bundle.js';
import type { AuditSink, FederationLogger, FederationStore } from './ports.js';
import { createRelationshipRecords, relationshipFrom } from './records.js';
import { createRefresher, type RefreshOutcome, type Refresher } from './refresh.js';
import { createRelationships, type ApprovalRelation, type Relationships } from './relationships.js';
import { createTrustView, type TrustView } from './trust-view.js';

export interface FederationDeps {
  readonly store: FederationStore;
  readonly ownTrustDomain: TrustDomain;
  readonly now: Clock;
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
  /** Two-person rule: whether two actors are the same admin or one added the other. */
  readonly areRelated?: ApprovalRelation;
  /**
   * How often `start` re-reads every relationship and bundle into the trust view without a
   * notification (default 30 s): pub/sub between replicas may lose a message (a subscriber
   * reconnecting), and a lost one must not leave a replica trusting a CA a partner removed.
   */
  readonly reloadIntervalMs?: number;
}

/** Default of FederationDeps.reloadIntervalMs. */
export const DEFAULT_RELOAD_INTERVAL_MS = 30_000;

/** Everything the broker does with federation; callers that need less take a Pick of one piece. */
export interface Federation
  extends
    BundleSource,
    Pick<TrustView, 'trustedBundles'>,
    Relationships,
    Pick<Refresher, 'refresh' | 'refreshOnUnknownKey' | 'due' | 'isDue'>,
    OperatorBundles {
  /** Reloads relationships and bundles from the store into the trust view. */
  reload(): Promise<void>;
  /** Called after the trust view changed (for agent watch streams). */
  onChange(listener: () => void): () => void;
  /**
   * Subscribes to store notifications so other replicas' changes show up promptly, and re-reads
   * everything every `reloadIntervalMs` (FED-34) until `signal` aborts.
   */
  start(signal: AbortSignal): Promise<void>;
}

export function createFederation(deps: FederationDeps): Federation {
  const { store, now } = deps;
  const listeners = createChangeListeners(deps.logger);
  const view = createTrustView({ store, logger: deps.logger, onChange: listeners.emit });
  const notifications = createNotifications({
    store,
    onRemoteChange: (trustDomain) => view.reload(trustDomain),
  });
  const records = createRelationshipRecords(store, now);
  const refresher = createRefresher({
    store,
    records,
    view,
    notifications,
    now,
    random: deps.random ?? Math.random,
    audit: deps.audit,
    logger: deps.logger,
    fetchOptions: deps.fetchOptions,
    refreshOnUnknownKeyIntervalMs: deps.refreshOnUnknownKeyIntervalMs,
    onRefreshed: deps.onRefreshed,
  });
  const relationships = createRelationships({
    store,
    records,
    refresher,
    view,
    notifications,
    ownTrustDomain: deps.ownTrustDomain,
    now,
    audit: deps.audit,
    requiredApprovals: deps.requiredApprovals ?? 1,
    areRelated: deps.areRelated,
  });
  const operator = createOperatorBundles({
    store,
    records,
    view,
    notifications,
    now,
    audit: deps.audit,
    requiredApprovals: deps.requiredApprovals ?? 1,
  });

  /** Every stored relationship is followed and re-read; trust domains no longer stored leave the view. */
  async function reload(): Promise<void> {
    const stored = await store.listRelationships();
    const names = stored.map((r) => relationshipFrom(r.value).trustDomain);
    for (const name of names) await notifications.followBundle(name);
    const present = new Set(names);
    const gone = view.trustDomains().filter((name) => !present.has(name));
    for (const name of [...names, ...gone]) await view.reload(name);
  }

  return {
    getBundleForTrustDomain: (trustDomain) => view.getBundleForTrustDomain(trustDomain),
    trustedBundles: (trustDomains) => view.trustedBundles(trustDomains),
    create: (input, context) => relationships.create(input, context),
    list: () => relationships.list(),
    get: (trustDomain) => relationships.get(trustDomain),
    transition: (trustDomain, action, context) =>
      relationships.transition(trustDomain, action, context),
    delete: (trustDomain, context) => relationships.delete(trustDomain, context),
    update: (trustDomain, changes, context) => relationships.update(trustDomain, changes, context),
    syncStatic: (inputs) => relationships.syncStatic(inputs),
    refresh: (trustDomain, context) => refresher.refresh(trustDomain, context),
    refreshOnUnknownKey: (trustDomain) => refresher.refreshOnUnknownKey(trustDomain),
    due: (nowMs) => refresher.due(nowMs),
    isDue: (trustDomain, nowMs) => refresher.isDue(trustDomain, nowMs),
    forceBundle: (trustDomain, body, context) => operator.forceBundle(trustDomain, body, context),
    history: (trustDomain) => operator.history(trustDomain),
    reload,
    onChange: (listener) => listeners.add(listener),
    async start(signal) {
      const stop = await notifications.followRelationships();
      await reload();
      // One reload at a time: a slow store makes the next tick skip rather than pile up.
      let reloading = false;
      const timer = setInterval(() => {
        if (reloading) return;
        reloading = true;
        void reload()
          .catch((error: unknown) => {
            deps.logger.warn('periodic trust view reload failed; keeping the current view', {
              error: (error as Error).message,
            });
          })
          .finally(() => {
            reloading = false;
          });
      }, deps.reloadIntervalMs ?? DEFAULT_RELOAD_INTERVAL_MS);
      timer.unref();
      signal.addEventListener(
        'abort',
        () => {
          clearInterval(timer);
          stop();
        },
        { once: true },
      );
    },
  };
}
