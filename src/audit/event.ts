// Audit events and their hash chain: each event carries the hash of the previous one, so an edit shows.
import { hash } from 'node:crypto';
import { AuditError } from '../errors.js';

export const AUDIT_EVENT_TYPES = [
  'relationship.created',
  'relationship.approved',
  /** Two-person rule (issue 19): an approval counted while the relationship stays pending. */
  'relationship.approval_recorded',
  'relationship.rejected',
  'relationship.suspended',
  'relationship.resumed',
  'relationship.deleted',
  'relationship.updated',
  /** Two-person rule: a forced bundle sent the relationship back to pending, approvals cleared. */
  'relationship.returned_to_pending',
  'bundle.changed',
  'bundle.refused',
  'bundle.forced',
  'authority.prepared',
  'authority.activated',
  'authority.tainted',
  'authority.revoked',
  'authority.retired',
  /** The CA's rotator took an authority out of the bundle (expired, or all it signed expired). */
  'authority.removed',
  'svid.issued',
  'token.created',
  'token.used',
  'token.revoked',
  'entry.created',
  'entry.updated',
  'entry.deleted',
  'admin.login_failed',
  'admin.added',
  'admin.removed',
  'admin.rotated',
  /** Written before an admin or console change runs: who asked for what (README: Audit). */
  'admin.requested',
  'console.signed_in',
  'invite.created',
  'invite.accepted',
  'audit.trimmed',
] as const;

export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];

/** What a caller records; id, time and hashes are added by the chain. */
export interface AuditEventInput {
  readonly type: AuditEventType;
  /** Who did it: `admin:<name>` (`admin:root` for the bootstrap token), `spiffe://...`, `system`. */
  readonly actor: string;
  readonly trustDomain?: string | undefined;
  /** Non-secret facts (never keys or tokens). */
  readonly details?: Readonly<Record<string, unknown>>;
}

/** Same shape as the store's AuditRecord, so events go to and come from the store unchanged. */
export interface AuditEvent {
  readonly id: number;
  /** ms since the epoch. */
  readonly time: number;
  readonly type: string;
  readonly actor: string;
  readonly trustDomain: string | null;
  readonly data: Readonly<Record<string, unknown>>;
  /** Hash of the previous event; null for the first event of the chain. */
  readonly previousHash: string | null;
  readonly hash: string;
}

/**
 * Canonical JSON: object keys sorted at every level (UTF-16 code unit order), so the hash does not
 * depend on key order. Members whose value is undefined are left out; other values JSON cannot hold
 * become null. Its output is part of every stored hash: it must never change (pinned by a test).
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    return typeof value === 'bigint'
      ? JSON.stringify(value.toString())
      : (JSON.stringify(value) ?? 'null');
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  // One string built in place: this runs for every audit event on the issuing path.
  const object = value as Record<string, unknown>;
  let text = '{';
  for (const key of Object.keys(object).sort()) {
    const member = object[key];
    if (member === undefined) continue;
    if (text.length > 1) text += ',';
    text += `${JSON.stringify(key)}:${canonicalJson(member)}`;
  }
  return `${text}}`;
}

/** sha256 over the canonical form of every field except `hash`. */
export function hashEvent(event: Omit<AuditEvent, 'hash'>): string {
  const { id, time, type, actor, trustDomain, data, previousHash } = event;
  return hash(
    'sha256',
    canonicalJson({ id, time, type, actor, trustDomain, data, previousHash }),
    'hex',
  );
}

/**
 * Builds the event that follows `previous` (undefined for the first one). `id` defaults to the next
 * number; a store that assigns ids passes its own.
 */
export function chainEvent(
  previous: AuditEvent | undefined,
  input: AuditEventInput,
  time: number,
  id: number = previous === undefined ? 1 : previous.id + 1,
): AuditEvent {
  const body = {
    id,
    time,
    type: input.type,
    actor: input.actor,
    trustDomain: input.trustDomain ?? null,
    data: jsonData(input.details),
    previousHash: previous?.hash ?? null,
  };
  return { ...body, hash: hashEvent(body) };
}

/**
 * The details as they will be stored (a JSON round trip: a value's toJSON, a Date's ISO text, a
 * SpiffeId's string; members JSON leaves out are left out), so the hash covers what is stored and
 * the chain verifies after a read. A bigint becomes its decimal text, as canonicalJson writes it.
 */
function jsonData(details: AuditEventInput['details']): Record<string, unknown> {
  let text: string;
  try {
    text = JSON.stringify(details ?? {}); // a replacer would slow every event down for a rare bigint
  } catch {
    text = JSON.stringify(details, (_key, value: unknown) =>
      typeof value === 'bigint' ? value.toString() : value,
    );
  }
  return JSON.parse(text) as Record<string, unknown>;
}

export interface ChainCheck {
  readonly ok: boolean;
  readonly checked: number;
  /** The first event that does not fit the chain, and why. */
  readonly brokenAt?: { readonly id: number; readonly reason: string };
  /**
   * The last event of an intact chain: keep it somewhere else, since only a later check against it
   * shows that newest events were removed or the newest one rewritten with a recomputed hash.
   */
  readonly head?: { readonly id: number; readonly hash: string };
}

/**
 * Checks a chain read in order: ids consecutive, each previousHash equal to the previous hash, each hash
 * recomputed. `startHash` lets a caller check a window that does not start at the first event.
 */
export function checkChain(
  events: readonly AuditEvent[],
  startHash: string | null = null,
): ChainCheck {
  let previousHash: string | null = startHash;
  let previousId: number | undefined;
  for (const [index, event] of events.entries()) {
    const fail = (reason: string): ChainCheck => ({
      ok: false,
      checked: index,
      brokenAt: { id: event.id, reason },
    });
    if (previousId !== undefined && event.id !== previousId + 1)
      return fail(`id ${event.id} follows ${previousId}`);
    if (event.previousHash !== previousHash)
      return fail('prevHash does not match the previous event (removed or reordered)');
    if (hashEvent(event) !== event.hash) return fail('hash does not match the content (edited)');
    previousHash = event.hash;
    previousId = event.id;
  }
  const last = events.at(-1);
  return {
    ok: true,
    checked: events.length,
    ...(last === undefined ? {} : { head: { id: last.id, hash: last.hash } }),
  };
}

/** An event's id and hash kept outside the broker: `audit verify` prints its head as `ID:HASH`. */
export interface AuditAnchor {
  readonly id: number;
  readonly hash: string;
}

/** `ID:HASH`, as `fedbroker audit verify --anchor` takes it: a positive id and a SHA-256 hex hash. */
export const AUDIT_ANCHOR_PATTERN = /^[1-9][0-9]{0,14}:[0-9a-f]{64}$/;

/** Reads `ID:HASH` (already matched against AUDIT_ANCHOR_PATTERN). */
export function parseAuditAnchor(text: string): AuditAnchor {
  const colon = text.indexOf(':');
  return { id: Number(text.slice(0, colon)), hash: text.slice(colon + 1) };
}

/**
 * Checks a chain that checkChain found intact against an anchor kept elsewhere: the anchored event
 * must still be stored with the same hash. This sees what the chain alone cannot: the newest events
 * removed, or the newest one rewritten with a recomputed hash (every later event then differs too).
 * An anchor older than the oldest stored event fails as well: trimming and removal look the same
 * from here, so the operator decides (and anchors a newer head). Returns why it fails, or undefined.
 */
export function checkAnchor(
  events: readonly AuditEvent[],
  anchor: AuditAnchor,
): string | undefined {
  const first = events[0];
  const last = events.at(-1);
  if (first === undefined || last === undefined) {
    return `anchored event ${anchor.id} is missing: the audit log is empty`;
  }
  if (anchor.id > last.id) {
    return `anchored event ${anchor.id} is missing: the log ends at event ${last.id} (newest events removed)`;
  }
  if (anchor.id < first.id) {
    return `anchored event ${anchor.id} is older than the oldest stored event ${first.id} (removed, or trimmed: anchor a newer head)`;
  }
  // An intact chain has consecutive ids, so the anchored event is at a known index.
  const event = events[anchor.id - first.id];
  if (event?.id !== anchor.id) return `anchored event ${anchor.id} is missing`;
  if (event.hash !== anchor.hash) {
    return `anchored event ${anchor.id} has hash ${event.hash}, not the anchored ${anchor.hash} (rewritten)`;
  }
  return undefined;
}

/** Like checkChain, but throws AuditError ERR_AUDIT_CHAIN_BROKEN naming the first bad event. */
export function assertChain(events: readonly AuditEvent[], startHash?: string | null): void {
  const result = checkChain(events, startHash);
  if (!result.ok && result.brokenAt !== undefined) {
    throw new AuditError(
      'ERR_AUDIT_CHAIN_BROKEN',
      `audit chain broken at event ${result.brokenAt.id}: ${result.brokenAt.reason}`,
      { context: { eventId: result.brokenAt.id } },
    );
  }
}
