// Audit events and their hash chain: each event carries the hash of the previous one, so an edit shows.
import { createHash } from 'node:crypto';
import { AuditError } from '../errors.js';

export const AUDIT_EVENT_TYPES = [
  'relationship.created',
  'relationship.approved',
  'relationship.rejected',
  'relationship.suspended',
  'relationship.resumed',
  'relationship.deleted',
  'bundle.changed',
  'bundle.refused',
  'bundle.forced',
  'authority.prepared',
  'authority.activated',
  'authority.tainted',
  'authority.revoked',
  'authority.retired',
  'svid.issued',
  'token.created',
  'token.used',
  'entry.created',
  'entry.deleted',
  'admin.login_failed',
  'invite.created',
  'invite.accepted',
] as const;

export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];

/** The hash every chain starts from. */
export const GENESIS_HASH = '0'.repeat(64);

/** What a caller records; id, time and hashes are added by the chain. */
export interface AuditEventInput {
  readonly type: AuditEventType;
  /** Who did it: `admin:<token-id>`, `spiffe://...`, `system`. */
  readonly actor: string;
  readonly trustDomain?: string | undefined;
  /** Non-secret facts (never keys or tokens). */
  readonly details?: Readonly<Record<string, unknown>>;
}

export interface AuditEvent {
  readonly id: number;
  readonly type: AuditEventType;
  readonly actor: string;
  readonly atMs: number;
  readonly trustDomain: string | null;
  readonly details: Readonly<Record<string, unknown>>;
  readonly prevHash: string;
  readonly hash: string;
}

/** Canonical JSON: object keys sorted at every level, so the hash does not depend on key order. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    return typeof value === 'bigint'
      ? JSON.stringify(value.toString())
      : (JSON.stringify(value) ?? 'null');
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** sha256 over the canonical form of every field except `hash`. */
export function hashEvent(event: Omit<AuditEvent, 'hash'>): string {
  const { id, type, actor, atMs, trustDomain, details, prevHash } = event;
  return createHash('sha256')
    .update(canonicalJson({ id, type, actor, atMs, trustDomain, details, prevHash }))
    .digest('hex');
}

/** Builds the next event of the chain after `previous` (undefined for the first event). */
export function chainEvent(
  previous: AuditEvent | undefined,
  input: AuditEventInput,
  atMs: number,
): AuditEvent {
  const body = {
    id: previous === undefined ? 1 : previous.id + 1,
    type: input.type,
    actor: input.actor,
    atMs,
    trustDomain: input.trustDomain ?? null,
    details: input.details ?? {},
    prevHash: previous?.hash ?? GENESIS_HASH,
  };
  return { ...body, hash: hashEvent(body) };
}

export interface ChainCheck {
  readonly ok: boolean;
  readonly checked: number;
  /** The first event that does not fit the chain, and why. */
  readonly brokenAt?: { readonly id: number; readonly reason: string };
}

/**
 * Checks a chain read in order: ids consecutive, each prevHash equal to the previous hash, each hash
 * recomputed. `startHash` lets a caller check a window that does not start at the genesis.
 */
export function checkChain(
  events: readonly AuditEvent[],
  startHash: string = GENESIS_HASH,
): ChainCheck {
  let previousHash = startHash;
  let previousId: number | undefined;
  for (const [index, event] of events.entries()) {
    const fail = (reason: string): ChainCheck => ({
      ok: false,
      checked: index,
      brokenAt: { id: event.id, reason },
    });
    if (previousId !== undefined && event.id !== previousId + 1)
      return fail(`id ${event.id} follows ${previousId}`);
    if (event.prevHash !== previousHash)
      return fail('prevHash does not match the previous event (removed or reordered)');
    if (hashEvent(event) !== event.hash) return fail('hash does not match the content (edited)');
    previousHash = event.hash;
    previousId = event.id;
  }
  return { ok: true, checked: events.length };
}

/** Like checkChain, but throws AuditError ERR_AUDIT_CHAIN_BROKEN naming the first bad event. */
export function assertChain(events: readonly AuditEvent[], startHash?: string): void {
  const result = checkChain(events, startHash);
  if (!result.ok && result.brokenAt !== undefined) {
    throw new AuditError(
      'ERR_AUDIT_CHAIN_BROKEN',
      `audit chain broken at event ${result.brokenAt.id}: ${result.brokenAt.reason}`,
      { context: { eventId: result.brokenAt.id } },
    );
  }
}
