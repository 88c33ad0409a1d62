// `audit verify`: reads the audit log as stored (disk segments, the Redis stream; never a cache),
// checks the hash chain, that any missing oldest events are covered by `audit.trimmed` events, and
// an anchor kept elsewhere.
import type { StoredAuditPage } from '../store/index.js';
import {
  checkAnchor,
  checkChain,
  type AuditAnchor,
  type AuditEvent,
  type ChainCheck,
} from './event.js';

/** Page size of the reads; the store's largest. */
const PAGE = 10_000;

/** What the trims recorded in the log say, for the operator (eviction is never silent). */
export interface TrimSummary {
  /** `audit.trimmed` events still stored. */
  readonly trims: number;
  /** Events trimmed in all (ids 1..throughId: trims drop the oldest). */
  readonly events: number;
  /** The newest trimmed id. */
  readonly throughId: number;
}

export interface AuditVerification extends ChainCheck {
  /** The anchor asked for, present when it was checked and held. */
  readonly anchor?: AuditAnchor;
  readonly trimmed?: TrimSummary;
}

interface Trim {
  readonly id: number;
  readonly count: number;
  readonly fromId: number;
  readonly toId: number;
  readonly lastTrimmedHash: string;
}

function trimOf(event: AuditEvent): Trim | string {
  const { count, fromId, toId, lastTrimmedHash } = event.data as Record<string, unknown>;
  const ids = [count, fromId, toId];
  if (
    !ids.every((n) => Number.isSafeInteger(n) && (n as number) >= 1) ||
    typeof lastTrimmedHash !== 'string' ||
    (toId as number) - (fromId as number) + 1 !== count ||
    (toId as number) >= event.id
  ) {
    return `audit.trimmed event ${event.id} does not describe a trim`;
  }
  return {
    id: event.id,
    count: count as number,
    fromId: fromId as number,
    toId: toId as number,
    lastTrimmedHash,
  };
}

/**
 * A log that no longer starts at event 1 must say why: an `audit.trimmed` event that trimmed
 * through at least the id before the first stored one (its hash must be that event's previousHash
 * when the cut is exactly there), and every trimmed event still stored must have the hash its trim
 * recorded.
 * Returns why it fails, or the summary of the trims.
 */
export function checkTrims(events: readonly AuditEvent[]): { reason: string } | TrimSummary {
  const first = events[0];
  const trims: Trim[] = [];
  for (const event of events) {
    if (event.type !== 'audit.trimmed') continue;
    const trim = trimOf(event);
    if (typeof trim === 'string') return { reason: trim };
    trims.push(trim);
  }
  if (first !== undefined && first.id === 1 && first.previousHash !== null) {
    return { reason: 'the first event has a previousHash (events before it were removed)' };
  }
  if (first !== undefined && first.id > 1) {
    const before = first.id - 1;
    // Trims drop from the oldest, so a trim through `toId` accounts for every id up to it (also
    // ids an earlier version trimmed without recording it, or a file segment not yet unlinked).
    const covering = trims.find((t) => before <= t.toId);
    if (covering === undefined) {
      return {
        reason: `events 1..${before} are gone and no audit.trimmed event records their trim (removed)`,
      };
    }
    if (covering.toId === before && covering.lastTrimmedHash !== first.previousHash) {
      return {
        reason: `event ${first.id} does not follow the last event trimmed by audit.trimmed event ${covering.id}`,
      };
    }
  }
  for (const trim of trims) {
    const kept = first === undefined ? undefined : events[trim.toId - first.id];
    if (kept?.id === trim.toId && kept.hash !== trim.lastTrimmedHash) {
      return {
        reason: `event ${trim.toId} is not the event audit.trimmed event ${trim.id} recorded (rewritten)`,
      };
    }
  }
  // Trims drop the oldest events, so ids 1..throughId are the events trimmed in all.
  const throughId = trims.reduce((max, t) => Math.max(max, t.toId), 0);
  return { trims: trims.length, events: throughId, throughId };
}

/** Reads every stored event through `read` and checks chain, trims and anchor, in that order. */
export async function verifyStoredAudit(
  read: (fromId: number, limit: number) => Promise<StoredAuditPage>,
  anchor?: AuditAnchor,
): Promise<AuditVerification> {
  const all: AuditEvent[] = [];
  let fromId = 1;
  for (;;) {
    const page = await read(fromId, PAGE);
    all.push(...page.records);
    if (page.unreadable !== undefined) {
      return {
        ok: false,
        checked: all.length,
        brokenAt: {
          id: page.unreadable.afterId + 1,
          reason: `the stored record after event ${page.unreadable.afterId} is unreadable (${page.unreadable.where}): edited or damaged`,
        },
      };
    }
    const last = page.records.at(-1);
    if (page.records.length < PAGE || last === undefined) break;
    fromId = last.id + 1;
  }
  // A trimmed log starts after id 1: the chain is checked from its first event's own previousHash,
  // which checkTrims then holds against the trim record.
  const result = checkChain(all, all[0]?.previousHash ?? null);
  if (!result.ok) return result;
  const trims = checkTrims(all);
  if ('reason' in trims) {
    return { ...result, ok: false, brokenAt: { id: all[0]?.id ?? 1, reason: trims.reason } };
  }
  const withTrims = trims.trims === 0 ? result : { ...result, trimmed: trims };
  if (anchor === undefined) return withTrims;
  // An anchor kept elsewhere sees what the chain alone cannot (newest events removed or rewritten).
  const reason = checkAnchor(all, anchor);
  return reason === undefined
    ? { ...withTrims, anchor }
    : { ...withTrims, ok: false, brokenAt: { id: anchor.id, reason } };
}
