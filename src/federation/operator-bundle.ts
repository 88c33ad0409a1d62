// The operator's hand on a partner's stored bundle: replacing it (FED-33, the rollback check
// bypassed; under the two-person rule it then needs approval again) and reading the versions kept.
import { parseBundleOrPem } from '../bundle/index.js';
import type { Clock } from '../clock.js';
import { parseTrustDomain } from '../spiffeid/index.js';
import type { Notifications } from './notifications.js';
import type { ActorContext, AuditSink, FederationStore } from './ports.js';
import type { RelationshipRecords } from './records.js';
import { approvalsOf, reopenForApproval, type RelationshipState } from './relationship.js';
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
  /**
   * FED-33: operator replaces the stored bundle (SPIFFE JSON or PEM), rollback check bypassed. With
   * the two-person rule (2 or more approvals) the relationship first goes back to `pending` with
   * its approvals cleared, so the forced bundle is trusted only once other admins approved.
   */
  forceBundle(
    trustDomain: string,
    body: string,
    context: ActorContext,
  ): Promise<BundleUpdate & { readonly state: RelationshipState }>;
  /** Stored versions, newest first. */
  history(trustDomain: string): Promise<BundleVersion[]>;
}

export interface OperatorBundlesDeps {
  readonly store: Pick<FederationStore, 'putBundle' | 'bundleHistory' | 'putRelationship'>;
  readonly records: Pick<RelationshipRecords, 'read'>;
  readonly view: Pick<TrustView, 'reload'>;
  readonly notifications: Pick<Notifications, 'bundleChanged' | 'relationshipChanged'>;
  readonly now: Clock;
  readonly audit: AuditSink;
  /** Two-person rule (issue 19): different admins that must approve a pending relationship. */
  readonly requiredApprovals: number;
}

/**
 * Two-person rule, before a forced bundle is stored: the relationship goes back to `pending` with
 * its approvals cleared (audited, and out of the trust view), so the bundle is never trusted on
 * one admin's word. Returns the state the relationship is left in.
 */
async function reopenBeforeForce(
  deps: OperatorBundlesDeps,
  trustDomain: string,
  context: ActorContext,
): Promise<RelationshipState> {
  const { relationship, version } = await deps.records.read(trustDomain);
  if (deps.requiredApprovals <= 1) return relationship.state;
  const next = reopenForApproval(relationship, 'force', { ...context, nowMs: deps.now() });
  if (next === relationship) return relationship.state;
  await deps.store.putRelationship(trustDomain, next, version);
  await deps.audit({
    type: 'relationship.returned_to_pending',
    actor: context.actor,
    trustDomain,
    details: {
      from: relationship.state,
      to: next.state,
      cause: 'bundle.forced',
      approvalsCleared: approvalsOf(relationship).length,
      requiredApprovals: deps.requiredApprovals,
      reason: context.reason ?? '',
    },
  });
  await deps.view.reload(trustDomain);
  await deps.notifications.relationshipChanged(trustDomain);
  return next.state;
}

export function createOperatorBundles(deps: OperatorBundlesDeps): OperatorBundles {
  const { store } = deps;
  return {
    async forceBundle(trustDomain, body, context) {
      const domain = parseTrustDomain(trustDomain);
      // An invalid document changes nothing, the relationship's state included.
      parseBundleOrPem(body, domain);
      const state = await reopenBeforeForce(deps, trustDomain, context);
      const update = await applyBundle(store, {
        trustDomain: domain,
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
      return { ...update, state };
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
