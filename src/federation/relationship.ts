// Federation relationships: the validated record and its approval lifecycle (FED-1..6, FED-60, ID-15).
import { FederationError } from '../errors.js';
import { parseSpiffeId, parseTrustDomain, type TrustDomain } from '../spiffeid/index.js';

export type Profile = 'https_web' | 'https_spiffe';
export type RelationshipState = 'pending' | 'active' | 'suspended' | 'rejected';
export type RelationshipSource = 'api' | 'config' | 'invite';
export type TransitionAction = 'approve' | 'reject' | 'suspend' | 'resume';
/** Two-person rule: a trust change (`update`) or a forced bundle (`force`) asks for approval again. */
export type ReopenAction = 'update' | 'force';

/** Who changed a relationship, when and why (FED-3: every change is audit-logged). */
export interface Transition {
  readonly action: 'create' | TransitionAction | ReopenAction;
  readonly from: RelationshipState | null;
  readonly to: RelationshipState;
  readonly actor: string;
  readonly atMs: number;
  readonly reason: string;
}

/** A relationship as stored: plain JSON, every parameter explicit (FED-2). */
export interface Relationship {
  readonly trustDomain: string;
  readonly url: string;
  readonly profile: Profile;
  /** https_spiffe: the SPIFFE ID the endpoint must present (FED-23). */
  readonly endpointSpiffeId: string | null;
  /** https_spiffe, self-serving: operator bootstrap bundle, SPIFFE JSON or PEM (FED-1, FED-24). */
  readonly bootstrapBundle: string | null;
  /** https_web: extra CA certificates (PEM) for a private Web PKI (FED-22). */
  readonly caPem: string | null;
  /** FED-25 (policy): per-relationship switch for following redirects. */
  readonly followRedirects: boolean;
  readonly state: RelationshipState;
  readonly source: RelationshipSource;
  readonly createdAtMs: number;
  readonly updatedAtMs: number;
  readonly transitions: readonly Transition[];
}

export interface RelationshipInput {
  readonly trustDomain: string;
  readonly url: string;
  readonly profile: Profile;
  readonly endpointSpiffeId?: string | undefined;
  readonly bootstrapBundle?: string | undefined;
  readonly caPem?: string | undefined;
  readonly followRedirects?: boolean | undefined;
}

function invalid(message: string): FederationError {
  return new FederationError('ERR_FEDERATION_RELATIONSHIP_INVALID', message);
}

/** FED-4: `https`, no userinfo; host, port, path and query otherwise free. */
export function checkEndpointUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new FederationError('ERR_FEDERATION_URL', `"${String(text).slice(0, 200)}" is not a URL`);
  }
  if (url.protocol !== 'https:') {
    throw new FederationError(
      'ERR_FEDERATION_URL',
      `bundle endpoint URL must use https, got "${url.protocol}"`,
    );
  }
  if (url.username !== '' || url.password !== '') {
    throw new FederationError(
      'ERR_FEDERATION_URL',
      'bundle endpoint URL must not contain userinfo',
    );
  }
  if (url.hash !== '') {
    throw new FederationError(
      'ERR_FEDERATION_URL',
      'bundle endpoint URL must not contain a fragment',
    );
  }
  return url;
}

/**
 * Validates untrusted relationship parameters (FED-1..4, ID-13, ID-15) and returns a new `pending`
 * record: nothing is fetched or trusted until an admin approves (static config starts `active`).
 */
export function createRelationship(
  input: RelationshipInput,
  context: {
    ownTrustDomain: TrustDomain;
    source: RelationshipSource;
    actor: string;
    nowMs: number;
    reason?: string;
  },
): Relationship {
  const trustDomain = parseTrustDomain(input.trustDomain);
  if (trustDomain.equals(context.ownTrustDomain)) {
    throw new FederationError(
      'ERR_FEDERATION_OWN_TRUST_DOMAIN',
      `"${trustDomain.name}" is our own trust domain; a relationship with it is not allowed (ID-15)`,
    );
  }
  checkEndpointUrl(input.url);
  let endpointSpiffeId: string | null = null;
  let bootstrapBundle: string | null = null;
  if (input.profile === 'https_spiffe') {
    if (input.endpointSpiffeId === undefined)
      throw invalid('https_spiffe needs the endpoint SPIFFE ID (FED-1)');
    const id = parseSpiffeId(input.endpointSpiffeId);
    if (id.isTrustDomainId) {
      // No X509-SVID can carry a trust domain ID (X509-2): every fetch would fail.
      throw invalid(
        `endpoint SPIFFE ID "${id.toString()}" has no path; an X509-SVID always has one (FED-1, X509-2)`,
      );
    }
    endpointSpiffeId = id.toString();
    const selfServing = id.trustDomain.equals(trustDomain);
    if (selfServing && input.bootstrapBundle === undefined) {
      throw invalid('a self-serving https_spiffe endpoint needs a bootstrap bundle (FED-1)');
    }
    if (!selfServing) {
      throw invalid(
        `endpoint "${endpointSpiffeId}" is not in "${trustDomain.name}"; non-self-serving endpoints are not supported yet`,
      );
    }
    bootstrapBundle = input.bootstrapBundle ?? null;
    if (input.caPem !== undefined) throw invalid('caFile applies to https_web only (FED-2)');
  } else if (input.profile === 'https_web') {
    if (input.endpointSpiffeId !== undefined || input.bootstrapBundle !== undefined) {
      throw invalid('https_web takes no endpoint SPIFFE ID or bootstrap bundle (FED-1, FED-2)');
    }
  } else {
    throw invalid(
      `unknown profile "${String(input.profile)}"; use https_web or https_spiffe (FED-1)`,
    );
  }
  const state: RelationshipState = context.source === 'config' ? 'active' : 'pending';
  return {
    trustDomain: trustDomain.name,
    url: input.url,
    profile: input.profile,
    endpointSpiffeId,
    bootstrapBundle,
    caPem: input.caPem ?? null,
    followRedirects: input.followRedirects ?? true,
    state,
    source: context.source,
    createdAtMs: context.nowMs,
    updatedAtMs: context.nowMs,
    transitions: [
      {
        action: 'create',
        from: null,
        to: state,
        actor: context.actor,
        atMs: context.nowMs,
        reason: context.reason ?? '',
      },
    ],
  };
}

const TRANSITIONS: Readonly<
  Record<TransitionAction, { from: readonly RelationshipState[]; to: RelationshipState }>
> = {
  approve: { from: ['pending'], to: 'active' },
  reject: { from: ['pending'], to: 'rejected' },
  suspend: { from: ['active'], to: 'suspended' },
  resume: { from: ['suspended'], to: 'active' },
};

/**
 * The approvals a pending relationship has collected (two-person rule, issue 19): every `approve`
 * made while pending since it last entered `pending` (created, or sent back by a trust change or a
 * forced bundle, which clears the approvals made before).
 */
export function approvalsOf(relationship: Relationship): Transition[] {
  const { transitions } = relationship;
  let start = 0;
  transitions.forEach((t, i) => {
    if (t.to === 'pending' && t.action !== 'approve') start = i + 1;
  });
  return transitions.slice(start).filter((t) => t.action === 'approve' && t.from === 'pending');
}

/**
 * Whether `next` changes a setting that decides which bundle is fetched or how its endpoint is
 * authenticated (URL, profile, endpoint SPIFFE ID, bootstrap bundle, CA file, redirects).
 */
export function changesTrust(relationship: Relationship, next: Relationship): boolean {
  return (
    relationship.url !== next.url ||
    relationship.profile !== next.profile ||
    relationship.endpointSpiffeId !== next.endpointSpiffeId ||
    relationship.bootstrapBundle !== next.bootstrapBundle ||
    relationship.caPem !== next.caPem ||
    relationship.followRedirects !== next.followRedirects
  );
}

/**
 * Two-person rule: sends a relationship back to `pending` with its approvals cleared, so it needs
 * the required approvals again, like a new one. A rejected relationship stays rejected (it is never
 * trusted and cannot be approved).
 */
export function reopenForApproval(
  relationship: Relationship,
  action: ReopenAction,
  context: { actor: string; nowMs: number; reason?: string },
): Relationship {
  if (relationship.state === 'rejected') return relationship;
  return {
    ...relationship,
    state: 'pending',
    updatedAtMs: context.nowMs,
    transitions: [
      ...relationship.transitions,
      {
        action,
        from: relationship.state,
        to: 'pending',
        actor: context.actor,
        atMs: context.nowMs,
        reason: context.reason ?? '',
      },
    ],
  };
}

/**
 * Applies an admin action; refuses transitions the lifecycle does not allow (ERR_FEDERATION_TRANSITION).
 * With `requiredApprovals` above 1, an approval stays `pending` until that many different actors
 * approved; the same actor twice is refused (ERR_FEDERATION_APPROVAL_REPEATED).
 */
export function transitionRelationship(
  relationship: Relationship,
  action: TransitionAction,
  context: { actor: string; nowMs: number; reason?: string; requiredApprovals?: number },
): Relationship {
  const rule = TRANSITIONS[action];
  if (rule === undefined) throw new TypeError(`unknown action ${String(action)}`);
  if (!rule.from.includes(relationship.state)) {
    throw new FederationError(
      'ERR_FEDERATION_TRANSITION',
      `cannot ${action} relationship "${relationship.trustDomain}" in state ${relationship.state}`,
      { context: { state: relationship.state, action } },
    );
  }
  let to = rule.to;
  if (action === 'approve') {
    const required = context.requiredApprovals ?? 1;
    const approvals = approvalsOf(relationship);
    if (approvals.some((a) => a.actor === context.actor)) {
      throw new FederationError(
        'ERR_FEDERATION_APPROVAL_REPEATED',
        `"${context.actor}" already approved "${relationship.trustDomain}"; ${required} different admins must approve`,
        { context: { approvals: approvals.length, required } },
      );
    }
    if (approvals.length + 1 < required) to = 'pending';
  }
  return {
    ...relationship,
    state: to,
    updatedAtMs: context.nowMs,
    transitions: [
      ...relationship.transitions,
      {
        action,
        from: relationship.state,
        to,
        actor: context.actor,
        atMs: context.nowMs,
        reason: context.reason ?? '',
      },
    ],
  };
}

/** Only active relationships are fetched and handed to agents. */
export function isTrusted(relationship: Relationship): boolean {
  return relationship.state === 'active';
}
