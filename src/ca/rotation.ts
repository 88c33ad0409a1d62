// Rotation policy as a pure function of (authorities, config, now) → due actions (FED-50..55):
// prepare the next authority at half the current lifetime and publish it at once, activate it once
// it has been published for 5 × the refresh hint, remove old ones once all they signed has expired.
import {
  AUTHORITY_KINDS,
  PUBLISHED_STATES,
  type AuthorityKind,
  type AuthorityMetadata,
} from './authority.js';

/** FED-50 (policy): a new authority is published this many refresh hints before it may sign. */
export const ACTIVATION_LEAD_REFRESH_HINTS = 5;

export interface RotationConfig {
  /** The `spiffe_refresh_hint` we publish (FED-52). */
  readonly refreshHintSeconds: number;
}

export type RotationAction =
  | {
      readonly type: 'prepare';
      readonly kind: AuthorityKind;
      /** True only at bootstrap, when nothing of this kind is published that partners could rely on. */
      readonly activate: boolean;
      readonly reason: 'bootstrap' | 'half-life' | 'no-active-authority';
    }
  | {
      readonly type: 'activate';
      readonly kind: AuthorityKind;
      readonly id: string;
      readonly reason: 'lead-time-passed';
    }
  | {
      readonly type: 'retire';
      readonly kind: AuthorityKind;
      readonly id: string;
      readonly reason: 'expired';
    }
  | {
      readonly type: 'remove';
      readonly kind: AuthorityKind;
      readonly id: string;
      readonly reason: 'signed-material-expired' | 'expired';
    };

/**
 * A rotation action as it is about to be applied: a prepare names the authority made for it (its
 * key and certificate exist, but it is not in the bundle and signs nothing until the step applies).
 */
export type RotationStep =
  | (Extract<RotationAction, { readonly type: 'prepare' }> & {
      readonly id: string;
      readonly notAfter: Date;
    })
  | Exclude<RotationAction, { readonly type: 'prepare' }>;

/**
 * Makes a rotation's steps durable (the broker appends audit events) before any of them applies;
 * when it rejects, none applies and the rotation fails with its error.
 */
export type RotationRecorder = (steps: readonly RotationStep[]) => Promise<void>;

export interface RotationPlan {
  readonly actions: readonly RotationAction[];
  /** When the plan may change next (without outside events); undefined when nothing is pending. */
  readonly nextCheckAt: Date | undefined;
}

export function activationLeadMs(config: RotationConfig): number {
  return ACTIVATION_LEAD_REFRESH_HINTS * config.refreshHintSeconds * 1000;
}

/** FED-50: the earliest instant at which an authority published at `publishedAt` may be activated. */
export function earliestActivation(authority: AuthorityMetadata, config: RotationConfig): Date {
  return new Date(authority.publishedAt.getTime() + activationLeadMs(config));
}

/**
 * FED-51: when a retired or tainted authority may leave the bundle: once everything it signed has
 * expired (at the latest its own notAfter, since nothing it signs outlives it, X509-8).
 */
export function removableAt(authority: AuthorityMetadata): number {
  const signed = authority.signedUntil?.getTime() ?? Number.NEGATIVE_INFINITY;
  return Math.min(authority.notAfter.getTime(), signed);
}

function newest(list: readonly AuthorityMetadata[]): AuthorityMetadata | undefined {
  let best: AuthorityMetadata | undefined;
  for (const a of list) if (best === undefined || a.createdAt > best.createdAt) best = a;
  return best;
}

function planKind(
  kind: AuthorityKind,
  all: readonly AuthorityMetadata[],
  config: RotationConfig,
  t: number,
  actions: RotationAction[],
  due: number[],
): void {
  const list = all.filter((a) => a.kind === kind);
  const removed = new Set<string>();
  let active = list.find((a) => a.state === 'active');
  if (active !== undefined && t >= active.notAfter.getTime()) {
    actions.push({ type: 'retire', kind, id: active.id, reason: 'expired' });
    actions.push({ type: 'remove', kind, id: active.id, reason: 'expired' });
    removed.add(active.id);
    active = undefined;
  }
  for (const a of list) {
    if (removed.has(a.id)) continue;
    const notAfter = a.notAfter.getTime();
    if (a.state === 'retired' || a.state === 'tainted') {
      const at = removableAt(a);
      if (t >= at) {
        actions.push({
          type: 'remove',
          kind,
          id: a.id,
          reason: at === notAfter ? 'expired' : 'signed-material-expired',
        });
        removed.add(a.id);
      } else {
        due.push(at);
      }
    } else if (a.state === 'prepared' || a.state === 'revoked') {
      if (t >= notAfter) {
        actions.push({ type: 'remove', kind, id: a.id, reason: 'expired' });
        removed.add(a.id);
      } else {
        due.push(notAfter);
      }
    }
  }
  const published = list.filter(
    (a) => !removed.has(a.id) && PUBLISHED_STATES.has(a.state) && a.notAfter.getTime() > t,
  );
  const prepared = newest(published.filter((a) => a.state === 'prepared'));
  const lead = activationLeadMs(config);
  if (active === undefined) {
    if (published.length === 0) {
      actions.push({ type: 'prepare', kind, activate: true, reason: 'bootstrap' });
    } else if (prepared !== undefined) {
      const at = prepared.publishedAt.getTime() + lead;
      if (t >= at)
        actions.push({ type: 'activate', kind, id: prepared.id, reason: 'lead-time-passed' });
      else due.push(at);
    } else {
      actions.push({ type: 'prepare', kind, activate: false, reason: 'no-active-authority' });
      due.push(t + lead);
    }
    return;
  }
  due.push(active.notAfter.getTime());
  if (prepared === undefined) {
    const notBefore = active.notBefore.getTime();
    const halfLife = notBefore + (active.notAfter.getTime() - notBefore) / 2;
    if (t >= halfLife) {
      actions.push({ type: 'prepare', kind, activate: false, reason: 'half-life' });
      due.push(t + lead);
    } else {
      due.push(halfLife);
    }
    return;
  }
  const at = prepared.publishedAt.getTime() + lead;
  if (t >= at)
    actions.push({ type: 'activate', kind, id: prepared.id, reason: 'lead-time-passed' });
  else due.push(at);
}

/**
 * The actions due at `now`, per kind, in the order they must be applied. A prepared authority is
 * activated as soon as its lead time has passed; createCa checks that the CA lifetime leaves room
 * for the lead time plus a full SVID TTL after half-life, so the current authority still covers a
 * full SVID when its successor takes over.
 */
export function planRotation(
  authorities: readonly AuthorityMetadata[],
  config: RotationConfig,
  now: Date,
): RotationPlan {
  const t = now.getTime();
  const actions: RotationAction[] = [];
  const due: number[] = [];
  for (const kind of AUTHORITY_KINDS) planKind(kind, authorities, config, t, actions, due);
  const future = due.filter((d) => d > t);
  return {
    actions,
    nextCheckAt: future.length === 0 ? undefined : new Date(Math.min(...future)),
  };
}
