// Relationship lifecycle (FED-1..6, FED-60, ID-15): create, approve (with the two-person rule),
// reject, suspend, resume, update and delete stored relationships, and keep the configured static
// ones in place; each change is audited, then the trust view and other replicas are told.
import { parseBundleOrPem } from '../bundle/index.js';
import type { Clock } from '../clock.js';
import { FederationError, isBrokerError } from '../errors.js';
import { parseTrustDomain, type TrustDomain } from '../spiffeid/index.js';
import type { Notifications } from './notifications.js';
import type { ActorContext, AuditSink, FederationStore } from './ports.js';
import { relationshipFrom, type RelationshipRecords } from './records.js';
import type { Refresher } from './refresh.js';
import { isStale } from './refresh-policy.js';
import {
  approvalsOf,
  changesTrust,
  createRelationship,
  reopenForApproval,
  isTrusted,
  transitionRelationship,
  type Relationship,
  type RelationshipInput,
  type RelationshipSource,
  type TransitionAction,
} from './relationship.js';
import type { RefreshStatus } from './status.js';
import type { TrustView } from './trust-view.js';

export interface RelationshipView {
  readonly relationship: Relationship;
  readonly version: number;
  readonly status: RefreshStatus & { readonly stale: boolean };
  /** Two-person rule: approvals a pending relationship needs (`approvalsOf` gives those made). */
  readonly requiredApprovals: number;
}

/** What an update may change: how the partner is reached, never which trust domain it is. */
export type RelationshipChanges = {
  readonly [K in Exclude<keyof RelationshipInput, 'trustDomain'>]?:
    RelationshipInput[K] | undefined;
};

export interface Relationships {
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
   * history and stored bundle; the next fetch uses the new parameters (FED-2, FED-3). With the
   * two-person rule (2 or more approvals) a change of any of them sends the relationship back to
   * `pending` with its approvals cleared; otherwise the state is kept.
   */
  update(
    trustDomain: string,
    changes: RelationshipChanges,
    context: ActorContext,
  ): Promise<Relationship>;
  /** Makes the static relationships of the configuration exist and be active (config wins on parameters). */
  syncStatic(inputs: readonly RelationshipInput[]): Promise<void>;
}

export interface RelationshipsDeps {
  readonly store: Pick<
    FederationStore,
    | 'getRelationship'
    | 'putRelationship'
    | 'deleteRelationship'
    | 'deleteBundle'
    | 'deleteRefreshStatus'
  >;
  readonly records: RelationshipRecords;
  readonly refresher: Pick<Refresher, 'activate'>;
  readonly view: Pick<TrustView, 'reload'>;
  readonly notifications: Pick<Notifications, 'relationshipChanged' | 'bundleChanged'>;
  readonly ownTrustDomain: TrustDomain;
  readonly now: Clock;
  readonly audit: AuditSink;
  /** Two-person rule (issue 19): different admins that must approve a pending relationship. */
  readonly requiredApprovals: number;
  /** Two-person rule: whether two actors are the same admin or one added the other (access room). */
  readonly areRelated?: ApprovalRelation | undefined;
}

export type ApprovalRelation = (actorA: string, actorB: string) => Promise<boolean>;

/**
 * Two-person rule: refuses an approval when the approver and an admin who already approved are
 * related through the added-by chain (ERR_FEDERATION_APPROVAL_RELATED).
 */
async function checkUnrelated(
  deps: RelationshipsDeps,
  relationship: Relationship,
  actor: string,
): Promise<void> {
  if (deps.areRelated === undefined || deps.requiredApprovals <= 1) return;
  for (const approval of approvalsOf(relationship)) {
    if (await deps.areRelated(actor, approval.actor)) {
      throw new FederationError(
        'ERR_FEDERATION_APPROVAL_RELATED',
        `"${actor}" and "${approval.actor}", who already approved "${relationship.trustDomain}", are related (one added the other); ${deps.requiredApprovals} unrelated admins must approve`,
        {
          context: {
            approvals: approvalsOf(relationship).length,
            required: deps.requiredApprovals,
          },
        },
      );
    }
  }
}

export function createRelationships(deps: RelationshipsDeps): Relationships {
  return {
    create: (input, context) => create(deps, input, context),
    async list() {
      const views: RelationshipView[] = (await deps.records.all()).map(
        ({ relationship, version, status }) => ({
          relationship,
          version,
          status: withStale(relationship, status, deps.now()),
          requiredApprovals: deps.requiredApprovals,
        }),
      );
      return views.sort((a, b) =>
        a.relationship.trustDomain < b.relationship.trustDomain ? -1 : 1,
      );
    },
    async get(trustDomain) {
      const { relationship, version } = await deps.records.read(trustDomain);
      const status = await deps.records.status(trustDomain);
      return {
        relationship,
        version,
        status: withStale(relationship, status, deps.now()),
        requiredApprovals: deps.requiredApprovals,
      };
    },
    transition: (trustDomain, action, context) => transition(deps, trustDomain, action, context),
    delete: (trustDomain, context) => remove(deps, trustDomain, context),
    update: (trustDomain, changes, context) => update(deps, trustDomain, changes, context),
    syncStatic: (inputs) => syncStatic(deps, inputs),
  };
}

/** FED-42: an active relationship without a recent success is stale. */
function withStale(
  relationship: Relationship,
  status: RefreshStatus,
  nowMs: number,
): RefreshStatus & { stale: boolean } {
  return {
    ...status,
    stale:
      isTrusted(relationship) &&
      isStale(
        status.lastSuccessAtMs ?? undefined,
        status.refreshHintSeconds ?? undefined,
        nowMs,
        status.activeSinceMs,
      ),
  };
}

/** After a stored change: an active relationship (re)starts refreshing; any other leaves the view. */
async function settle(deps: RelationshipsDeps, relationship: Relationship): Promise<void> {
  if (isTrusted(relationship)) await deps.refresher.activate(relationship);
  else await deps.view.reload(relationship.trustDomain);
  await deps.notifications.relationshipChanged(relationship.trustDomain);
}

async function create(
  deps: RelationshipsDeps,
  input: RelationshipInput,
  context: ActorContext & { source?: RelationshipSource },
): Promise<Relationship> {
  const relationship = createRelationship(input, {
    ownTrustDomain: deps.ownTrustDomain,
    source: context.source ?? 'api',
    actor: context.actor,
    nowMs: deps.now(),
    ...(context.reason === undefined ? {} : { reason: context.reason }),
  });
  if (relationship.bootstrapBundle !== null) {
    // FED-1: the bootstrap bundle must parse (SPIFFE JSON or PEM) before we accept it.
    parseBundleOrPem(relationship.bootstrapBundle, parseTrustDomain(relationship.trustDomain));
  }
  try {
    await deps.store.putRelationship(relationship.trustDomain, relationship, null);
  } catch (error) {
    if (isBrokerError(error) && error.code === 'ERR_STORE_CONFLICT') {
      throw new FederationError(
        'ERR_FEDERATION_RELATIONSHIP_EXISTS',
        `a relationship for "${relationship.trustDomain}" already exists (ID-15)`,
      );
    }
    throw error;
  }
  await deps.audit({
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
  // A new relationship that is not active has nothing in the trust view to drop.
  if (isTrusted(relationship)) await deps.refresher.activate(relationship);
  await deps.notifications.relationshipChanged(relationship.trustDomain);
  return relationship;
}

/** The audit event type of a transition; an approval short of the two-person rule is only recorded. */
function transitionEvent(action: TransitionAction, next: Relationship): string {
  if (action === 'approve' && next.state === 'pending') return 'relationship.approval_recorded';
  const past = { approve: 'approved', reject: 'rejected', suspend: 'suspended', resume: 'resumed' };
  return `relationship.${past[action]}`;
}

async function transition(
  deps: RelationshipsDeps,
  trustDomain: string,
  action: TransitionAction,
  context: ActorContext,
): Promise<Relationship> {
  const { relationship, version } = await deps.records.read(trustDomain);
  const { requiredApprovals } = deps;
  const next = transitionRelationship(relationship, action, {
    actor: context.actor,
    nowMs: deps.now(),
    requiredApprovals,
    ...(context.reason === undefined ? {} : { reason: context.reason }),
  });
  if (action === 'approve') await checkUnrelated(deps, relationship, context.actor);
  await deps.store.putRelationship(trustDomain, next, version);
  await deps.audit({
    type: transitionEvent(action, next),
    actor: context.actor,
    trustDomain,
    details: {
      from: relationship.state,
      to: next.state,
      reason: context.reason ?? '',
      ...(action === 'approve' ? { approvals: approvalsOf(next).length, requiredApprovals } : {}),
    },
  });
  await settle(deps, next);
  return next;
}

async function remove(
  deps: RelationshipsDeps,
  trustDomain: string,
  context: ActorContext,
): Promise<void> {
  const { relationship, version } = await deps.records.read(trustDomain);
  // FED-60: the bundle goes, polling stops, validators are told.
  await deps.store.deleteRelationship(trustDomain, version);
  await deps.store.deleteBundle(trustDomain);
  await deps.store.deleteRefreshStatus(trustDomain);
  await deps.audit({
    type: 'relationship.deleted',
    actor: context.actor,
    trustDomain,
    details: { state: relationship.state, reason: context.reason ?? '' },
  });
  await deps.view.reload(trustDomain);
  await deps.notifications.relationshipChanged(trustDomain);
  await deps.notifications.bundleChanged(trustDomain);
}

async function update(
  deps: RelationshipsDeps,
  trustDomain: string,
  changes: RelationshipChanges,
  context: ActorContext,
): Promise<Relationship> {
  const { relationship, version } = await deps.records.read(trustDomain);
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
    {
      ownTrustDomain: deps.ownTrustDomain,
      source: relationship.source,
      actor: context.actor,
      nowMs: deps.now(),
    },
  );
  const changed: Relationship = {
    ...relationship,
    url: checked.url,
    profile: checked.profile,
    endpointSpiffeId: checked.endpointSpiffeId,
    bootstrapBundle: checked.bootstrapBundle,
    caPem: checked.caPem,
    followRedirects: checked.followRedirects,
    updatedAtMs: deps.now(),
  };
  // Two-person rule: what one admin changes about whom we trust needs the others' approval again.
  const next =
    deps.requiredApprovals > 1 && changesTrust(relationship, changed)
      ? reopenForApproval(changed, 'update', { ...context, nowMs: changed.updatedAtMs })
      : changed;
  await deps.store.putRelationship(trustDomain, next, version);
  await deps.audit({
    type: 'relationship.updated',
    actor: context.actor,
    trustDomain,
    details: {
      from: { url: relationship.url, profile: relationship.profile, state: relationship.state },
      to: { url: next.url, profile: next.profile, state: next.state },
      // How many approvals the change cleared (0 when it kept the state), as on returned_to_pending.
      approvalsCleared: next === changed ? 0 : approvalsOf(relationship).length,
      reason: context.reason ?? '',
    },
  });
  await settle(deps, next);
  return next;
}

/** Static relationships of the configuration: created when missing, made active, config wins. */
async function syncStatic(
  deps: RelationshipsDeps,
  inputs: readonly RelationshipInput[],
): Promise<void> {
  for (const input of inputs) {
    const desired = createRelationship(input, {
      ownTrustDomain: deps.ownTrustDomain,
      source: 'config',
      actor: 'config',
      nowMs: deps.now(),
    });
    const existing = await deps.store.getRelationship(desired.trustDomain);
    if (existing === undefined) {
      await create(deps, input, {
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
    await deps.store.putRelationship(desired.trustDomain, merged, existing.version);
    await deps.audit({
      type: 'relationship.created',
      actor: 'config',
      trustDomain: desired.trustDomain,
      details: { updated: true, url: desired.url, profile: desired.profile },
    });
    await deps.refresher.activate(merged);
    await deps.notifications.relationshipChanged(desired.trustDomain);
  }
}
