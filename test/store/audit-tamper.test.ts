// Issues 6 and 15 at the store level: an audit event edited or removed in the store itself (segments
// with checksums fixed up, a Redis stream) is named by verifyStoredAudit over readStoredAudit, as
// `audit verify` runs it; the newest-end limits are caught by an anchor. CLI: test/cli/audit-tamper.
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  chainEvent,
  hashEvent,
  verifyStoredAudit,
  type AuditEvent,
  type AuditEventInput,
  type AuditVerification,
  type ChainCheck,
} from '../../src/audit/index.js';
import { isBrokerError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import { createStore, type Store } from '../../src/store/index.js';
import { testClock } from '../helpers/clock.js';
import {
  editedData,
  only,
  readSegments,
  tamperSegments,
  writeSegments,
  type Segments,
  type Tamper,
} from '../helpers/audit-tamper.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';

type Position = 'first' | 'middle' | 'last';

function indexAt(position: Position, length: number): number {
  if (position === 'first') return 0;
  return position === 'last' ? length - 1 : Math.floor(length / 2);
}

interface Case {
  readonly name: string;
  readonly position: Position;
  readonly tamper: (target: number) => Tamper;
  /** Which event the check must name, given the touched one. */
  readonly brokenAt: (touched: AuditEvent) => number;
  readonly reason: RegExp;
}

function rehashed(event: AuditEvent): AuditEvent {
  const { hash: _hash, ...rest } = event;
  return { ...rest, hash: hashEvent(rest) };
}

const EDITS = [
  {
    name: 'a data field edited',
    change: (e: AuditEvent): AuditEvent => ({ ...e, data: editedData(e.data) }),
    reason: /hash does not match the content/,
  },
  {
    name: 'the type edited',
    change: (e: AuditEvent): AuditEvent => ({
      ...e,
      type: e.type === 'entry.deleted' ? 'entry.created' : 'entry.deleted',
    }),
    reason: /hash does not match the content/,
  },
  {
    name: 'the time edited',
    change: (e: AuditEvent): AuditEvent => ({ ...e, time: e.time - 3_600_000 }),
    reason: /hash does not match the content/,
  },
  {
    // The oldest event has no predecessor to compare with (a trimmed log starts anywhere), so
    // there it is the recomputed hash that differs.
    name: 'previousHash edited',
    change: (e: AuditEvent, all: readonly AuditEvent[]): AuditEvent => ({
      ...e,
      previousHash: all[all.indexOf(e) - 2]?.hash ?? 'f'.repeat(64),
    }),
    reason: /prevHash does not match the previous event|hash does not match the content/,
  },
] as const;

const CASES: readonly Case[] = [
  ...EDITS.flatMap((edit) =>
    (['first', 'middle', 'last'] as const).map((position): Case => ({
      name: `${edit.name} (${position} event)`,
      position,
      tamper: (t) => only(t, edit.change),
      brokenAt: (e) => e.id,
      reason: edit.reason,
    })),
  ),
  {
    name: 'one event in the middle deleted',
    position: 'middle',
    tamper: (t) => only(t, () => null),
    // The gap shows at the next event: its id no longer follows the one before.
    brokenAt: (e) => e.id + 1,
    reason: /^id \d+ follows \d+$/,
  },
  {
    // Issue 15: a trim is itself an audit.trimmed event, so an unrecorded cut is a removal.
    name: 'the oldest event deleted',
    position: 'first',
    tamper: (t) => only(t, () => null),
    brokenAt: (e) => e.id + 1,
    reason: /^events 1\.\.1 are gone and no audit\.trimmed event records their trim/,
  },
  {
    name: 'a data field edited and that event re-hashed (middle event)',
    position: 'middle',
    tamper: (t) => only(t, (e) => rehashed({ ...e, data: editedData(e.data) })),
    // The edited event is self-consistent now; the next one still points at the original.
    brokenAt: (e) => e.id + 1,
    reason: /prevHash does not match the previous event/,
  },
];

/** What a hash chain with no outside anchor cannot see, and the anchor that sees it. */
const KNOWN_LIMITS = [
  {
    name: 'the newest event deleted',
    tamper: ((e, i, all) => (i === all.length - 1 ? null : e)) as Tamper,
    checked: -1,
    headMoved: true,
    anchorAt: (all: readonly AuditEvent[]) => all.at(-1) as AuditEvent,
    reason: /^anchored event \d+ is missing: the log ends at event \d+ \(newest events removed\)$/,
  },
  {
    name: 'the newest event edited and re-hashed',
    tamper: ((e, i, all) =>
      i === all.length - 1 ? rehashed({ ...e, data: editedData(e.data) }) : e) as Tamper,
    checked: 0,
    headMoved: true,
    anchorAt: (all: readonly AuditEvent[]) => all.at(-1) as AuditEvent,
    reason:
      /^anchored event \d+ has hash [0-9a-f]{64}, not the anchored [0-9a-f]{64} \(rewritten\)$/,
  },
];

/** The events a working broker writes (entries, an invite, SVIDs, a prepared key, tokens). */
const INPUTS: readonly AuditEventInput[] = [
  { type: 'entry.created', actor: 'admin:ops', details: { spiffeId: 'spiffe://a.test/agents/a' } },
  { type: 'entry.created', actor: 'admin:ops', details: { spiffeId: 'spiffe://a.test/agents/b' } },
  { type: 'invite.created', actor: 'admin:ops', details: { expiresAtMs: 1_900_000_000_000 } },
  { type: 'svid.issued', actor: 'admin:ops', details: { kind: 'jwt', audience: ['x'] } },
  { type: 'authority.prepared', actor: 'system', details: { kind: 'jwt', id: 'k2' } },
  { type: 'token.created', actor: 'admin:ops', details: { entryId: 'e1' } },
  { type: 'token.created', actor: 'admin:ops', details: { entryId: 'e2' } },
  { type: 'admin.login_failed', actor: 'anonymous' },
];

async function appendEvents(store: Store, now: () => number): Promise<void> {
  for (const input of INPUTS) {
    await store.appendAudit((previous, id) => {
      const { id: _id, ...draft } = chainEvent(previous, input, now(), id);
      return draft;
    });
  }
}

/** What `audit verify` runs (the admin route): the stored records, chain, trims, then the anchor. */
function verifyStore(store: Store, anchor?: AuditEvent): Promise<AuditVerification> {
  return verifyStoredAudit(
    (fromId, limit) => store.readStoredAudit(fromId, limit),
    anchor === undefined ? undefined : { id: anchor.id, hash: anchor.hash },
  );
}

function expectBroken(result: ChainCheck, id: number, reason: RegExp): void {
  expect(result.ok).toBe(false);
  expect(result.brokenAt?.id).toBe(id);
  expect(result.brokenAt?.reason).toMatch(reason);
}

// --- File store: the audit segments (helpers in test/helpers/audit-tamper.ts) ----------------------

describe('the file store audit segments edited while closed: the chain check names the edit', () => {
  const root = mkdtempSync(join(tmpdir(), 'fedbroker-audit-tamper-'));
  const pristineDir = join(root, 'pristine');
  const clock = testClock();
  let events: AuditEvent[];
  let pristine: Segments;
  let copies = 0;

  beforeAll(async () => {
    const store = await createStore(
      { kind: 'file', dir: pristineDir },
      { logger: silentLogger, now: clock.nowMs },
    );
    await appendEvents(store, () => clock.advanceMs(1000));
    events = await store.listAudit({ fromId: 1, limit: 100 });
    await store.close();
    pristine = readSegments(join(pristineDir, 'audit'));
    expect([...pristine.keys()]).toEqual(['00000000000000000001.log']);
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  /** A copy of the pristine store with its segments edited, opened as a broker would open it. */
  async function openEdited(edit: (segments: Segments) => Segments): Promise<Store> {
    const dir = join(root, `copy-${++copies}`);
    cpSync(pristineDir, dir, { recursive: true });
    writeSegments(join(dir, 'audit'), edit(pristine));
    return createStore({ kind: 'file', dir }, { logger: silentLogger, now: clock.nowMs });
  }

  async function verifyEdited(
    edit: (segments: Segments) => Segments,
    anchor?: AuditEvent,
  ): Promise<AuditVerification> {
    const store = await openEdited(edit);
    try {
      return await verifyStore(store, anchor);
    } finally {
      await store.close();
    }
  }

  it('has a chain long enough to edit in the middle, and the untouched chain verifies', async () => {
    expect(events.map((e) => e.id)).toEqual(INPUTS.map((_, i) => i + 1));
    const last = events.at(-1) as AuditEvent;
    expect(await verifyEdited((s) => s)).toEqual({
      ok: true,
      checked: events.length,
      head: { id: last.id, hash: last.hash },
    });
  });

  it.each(CASES)('$name: the check names the broken event', async (c) => {
    const index = indexAt(c.position, events.length);
    const result = await verifyEdited((segments) => tamperSegments(segments, c.tamper(index)));
    expectBroken(result, c.brokenAt(events[index] as AuditEvent), c.reason);
  });

  it('an edit that leaves the line checksum stale makes the store refuse to open (ERR_STORE_CORRUPT)', async () => {
    const target = Math.floor(events.length / 2);
    const edit = only(target, (e) => ({ ...e, data: editedData(e.data) }));
    let code = 'opened';
    try {
      await (await openEdited((segments) => tamperSegments(segments, edit, true))).close();
    } catch (error) {
      code = isBrokerError(error) ? error.code : String(error);
    }
    expect(code).toBe('ERR_STORE_CORRUPT');
  });

  it.each(KNOWN_LIMITS)(
    'KNOWN LIMIT without an anchor: $name is not detected by the chain alone, but an anchor names it',
    async ({ tamper, checked, headMoved, anchorAt, reason }) => {
      const anchor = anchorAt(events);
      const alone = await verifyEdited((segments) => tamperSegments(segments, tamper));
      const anchored = await verifyEdited((segments) => tamperSegments(segments, tamper), anchor);
      expect(alone).toMatchObject({ ok: true, checked: events.length + checked });
      const last = events.at(-1) as AuditEvent;
      const pristineHead = { id: last.id, hash: last.hash };
      if (headMoved) expect(alone.head).not.toEqual(pristineHead);
      else expect(alone.head).toEqual(pristineHead);
      expectBroken(anchored, anchor.id, reason);
    },
  );
});

// --- Redis store: the audit stream (one entry per event, field `r` = the record JSON) ------------

describe('the Redis audit stream edited under an open store: the chain check names the edit', () => {
  const key = 'tamper:audit';
  const clock = testClock();
  let redis: RedisServer;
  let client: Redis;
  let store: Store;
  let pristine: [string, string[]][];
  let events: AuditEvent[];

  beforeAll(async () => {
    redis = await startRedisServer();
    client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await client.connect();
    store = await createStore(
      { kind: 'redis', url: redis.url, keyPrefix: 'tamper:' },
      { logger: silentLogger, now: clock.nowMs },
    );
    await appendEvents(store, () => clock.advanceMs(1000));
    events = await store.listAudit({ fromId: 1, limit: 100 });
    pristine = (await client.xrange(key, '-', '+')) as [string, string[]][];
  });

  afterAll(async () => {
    await store?.close();
    client?.disconnect();
    await redis?.cleanup();
  });

  /** Rewrites the stream from the pristine entries (same stream ids), each through `tamper`. */
  async function rewrite(tamper: Tamper): Promise<void> {
    const all = pristine.map(
      ([, fields]) => JSON.parse(fields[fields.indexOf('r') + 1] as string) as AuditEvent,
    );
    await client.del(key);
    for (const [index, [id]] of pristine.entries()) {
      const replaced = tamper(all[index] as AuditEvent, index, all);
      if (replaced !== null) await client.xadd(key, id, 'r', JSON.stringify(replaced));
    }
  }

  it('the stream holds one entry per event, and the untouched chain verifies', async () => {
    expect(pristine.map(([id]) => id)).toEqual(events.map((e) => `${e.id}-0`));
    await rewrite((e) => e);
    expect(await verifyStore(store)).toMatchObject({ ok: true, checked: events.length });
  });

  it.each(CASES)('$name: the check names the broken event', async (c) => {
    try {
      const index = indexAt(c.position, events.length);
      await rewrite(c.tamper(index));
      expectBroken(await verifyStore(store), c.brokenAt(events[index] as AuditEvent), c.reason);
    } finally {
      await rewrite((e) => e);
    }
  });

  it('XDEL of one entry in the middle (the Redis way to drop an event) is named too', async () => {
    const target = Math.floor(events.length / 2);
    try {
      expect(await client.xdel(key, `${target + 1}-0`)).toBe(1);
      expectBroken(await verifyStore(store), target + 2, /follows/);
    } finally {
      await rewrite((e) => e);
    }
    expect((await verifyStore(store)).ok).toBe(true);
  });

  it.each(KNOWN_LIMITS)(
    'KNOWN LIMIT without an anchor: $name is not detected by the chain alone, but an anchor names it',
    async ({ tamper, checked, anchorAt, reason }) => {
      try {
        await rewrite(tamper);
        expect(await verifyStore(store)).toMatchObject({
          ok: true,
          checked: events.length + checked,
        });
        const anchor = anchorAt(events);
        expectBroken(await verifyStore(store, anchor), anchor.id, reason);
      } finally {
        await rewrite((e) => e);
      }
    },
  );
});
