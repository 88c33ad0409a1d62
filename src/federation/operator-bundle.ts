// The operator's hand on a partner's stored bundle: replacing it (FED-33, the rollback check
// bypassed) and reading the versions kept, newest first.
import type { Clock } from '../clock.js';
import { parseTrustDomain } from '../spiffeid/index.js';
import type { Notifications } from './notifications.js';
import type { ActorContext, AuditSink, FederationStore } from './ports.js';
import type { RelationshipRecords } from './records.js';
import type { TrustView } from './trust-view.js';
import { applyBundle, type BundleUpdate } from './update-bundle.js';

/** One stored version of a partner's bundle. */
export interface BundleVersion {
  raw: string;
  sequence: string | null;
  digest: string;
  fetchedAtMs: number;
  sourceUrl: string | null;
}

export interface OperatorBundles {
  /** FED-33: operator replaces the stored bundle (SPIFFE JSON or PEM), rollback check bypassed. */
  forceBundle(trustDomain: string, body: string, context: ActorContext): Promise<BundleUpdate>;
  /** Stored versions, newest first. */
  history(trustDomain: string): Promise<BundleVersion[]>;
}

export interface OperatorBundlesDeps {
  readonly store: Pick<FederationStore, 'putBundle' | 'bundleHistory'>;
  readonly records: Pick<RelationshipRecords, 'read'>;
  readonly view: Pick<TrustView, 'reload'>;
  readonly notifications: Pick<Notifications, 'bundleChanged'>;
  readonly now: Clock;
  readonly audit: AuditSink;
}

export function createOperatorBundles(deps: OperatorBundlesDeps): OperatorBundles {
  const { store } = deps;
  return {
    async forceBundle(trustDomain, body, context) {
      await deps.records.read(trustDomain);
      const update = await applyBundle(store, {
        trustDomain: parseTrustDomain(trustDomain),
        body,
        sourceUrl: null,
        force: true,
        allowPem: true,
        nowMs: deps.now(),
      });
      await deps.audit({
        type: 'bundle.forced',
        actor: context.actor,
        trustDomain,
        details: {
          sequence: update.stored.sequence,
          digest: update.stored.digest,
          reason: context.reason ?? '',
        },
      });
      await deps.view.reload(trustDomain);
      await deps.notifications.bundleChanged(trustDomain);
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
  };
}
