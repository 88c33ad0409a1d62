// audit verify over stored pages: unreadable records, trims recorded by audit.trimmed events, and
// oldest events removed with no such record (issue 15: eviction is never silent).
import { describe, expect, it } from 'vitest';
import type { StoredAuditPage } from '../store/index.js';
import { chainEvent, type AuditEvent } from './event.js';
import { chainTrimmedEvent } from './trail.js';
import { checkTrims, verifyStoredAudit } from './verify.js';

/** `n` events; at each id of `trimAt`, an audit.trimmed event trimming the next 3 oldest ones. */
function chainWithTrims(n: number, trimAt: readonly number[]): AuditEvent[] {
  const events: AuditEvent[] = [];
  let trimmedThrough = 0;
  for (let i = 0; i < n; i++) {
    const previous = events.at(-1);
    const id = (previous?.id ?? 0) + 1;
    if (previous !== undefined && trimAt.includes(id)) {
      const toId = trimmedThrough + 3;
      const last = events.find((e) => e.id === toId) as AuditEvent;
      const draft = chainTrimmedEvent(previous, id, {
        count: 3,
        fromId: trimmedThrough + 1,
        toId,
        lastTrimmedHash: last.hash,
      });
      events.push({ id, ...draft, data: draft.data as AuditEvent['data'] });
      trimmedThrough = toId;
      continue;
    }
    events.push(chainEvent(previous, { type: 'entry.created', actor: `admin:${id}` }, 1000 + id));
  }
  return events;
}

const reader =
  (events: readonly AuditEvent[], unreadableAfter?: number) =>
  async (fromId: number, limit: number): Promise<StoredAuditPage> => {
    const from = events.filter((e) => e.id >= fromId);
    const cut = unreadableAfter === undefined ? from : from.filter((e) => e.id <= unreadableAfter);
    return {
      records: cut.slice(0, limit),
      ...(unreadableAfter === undefined
        ? {}
        : { unreadable: { afterId: unreadableAfter, where: 'segment at byte 9' } }),
    };
  };

describe('verifyStoredAudit', () => {
  it('an untrimmed chain verifies with no trim summary', async () => {
    const result = await verifyStoredAudit(reader(chainWithTrims(5, [])));
    expect(result).toMatchObject({ ok: true, checked: 5, head: { id: 5 } });
    expect(result.trimmed).toBeUndefined();
  });

  it('a log cut at a recorded trim verifies and reports what was trimmed', async () => {
    const events = chainWithTrims(12, [8, 11]);
    // Trims at 8 (1..3) and 11 (4..6): the store keeps 7.. .
    const kept = events.filter((e) => e.id >= 7);
    const result = await verifyStoredAudit(reader(kept));
    expect(result).toMatchObject({ ok: true, trimmed: { trims: 2, events: 6, throughId: 6 } });
  });

  it('a log that still holds trimmed events (whole file segments) verifies too', async () => {
    const events = chainWithTrims(12, [8, 11]);
    expect(checkTrims(events.filter((e) => e.id >= 2))).toEqual({
      trims: 2,
      events: 6,
      throughId: 6,
    });
  });

  it.each([
    [
      'oldest events removed with no audit.trimmed event',
      chainWithTrims(6, []).slice(2),
      3,
      /^events 1\.\.2 are gone and no audit\.trimmed event/,
    ],
    [
      'more removed than the trim recorded',
      chainWithTrims(12, [8]).filter((e) => e.id >= 6),
      6,
      /^events 1\.\.5 are gone/,
    ],
  ])('names %s at the first stored event', async (_name, stored, id, reason) => {
    const result = await verifyStoredAudit(reader(stored));
    expect(result.ok).toBe(false);
    expect(result.brokenAt?.id).toBe(id);
    expect(result.brokenAt?.reason).toMatch(reason);
  });

  it('names a stored record that cannot be read (bad checksum on disk)', async () => {
    const result = await verifyStoredAudit(reader(chainWithTrims(6, []), 3));
    expect(result).toMatchObject({ ok: false, checked: 3, brokenAt: { id: 4 } });
    expect(result.brokenAt?.reason).toMatch(/unreadable \(segment at byte 9\)/);
  });

  it('names a first event with a previousHash although it is event 1', async () => {
    const events = chainWithTrims(3, []);
    const first = events[0] as AuditEvent;
    const forged = chainEvent(
      { ...first, hash: 'f'.repeat(64) },
      { type: 'entry.created', actor: 'x' },
      1,
      1,
    );
    const result = await verifyStoredAudit(reader([forged]));
    expect(result.ok).toBe(false);
    expect(result.brokenAt?.reason).toMatch(/first event has a previousHash/);
  });
});
