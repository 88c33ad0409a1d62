// Issue 6: one audit event edited (data, type, time, previousHash) or removed in the store itself
// (file store audit segments with checksums fixed up, Redis stream) makes the real `fedbroker audit verify` exit 1
// naming the broken event; the untouched chain verifies; what the chain alone cannot see is pinned
// down, and shown caught by `audit verify --anchor ID:HASH` with a head kept from before the edit.
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashEvent, type AuditEvent } from '../../src/audit/index.js';
import {
  buildCli,
  freePort,
  loopbackInitArgs,
  runBuilt,
  startServe,
  stopServe,
} from '../helpers/built-cli.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';

/** Replaces one event (`null`: removes it); called for every stored event in order. */
type Tamper = (event: AuditEvent, index: number, all: readonly AuditEvent[]) => AuditEvent | null;

/** Where in the chain a case edits: the oldest event, one in the middle, the newest. */
type Position = 'first' | 'middle' | 'last';

function indexAt(position: Position, length: number): number {
  if (position === 'first') return 0;
  return position === 'last' ? length - 1 : Math.floor(length / 2);
}

interface Case {
  readonly name: string;
  readonly position: Position;
  /** The tamper for the event at index `target`. */
  readonly tamper: (target: number) => Tamper;
  /** Which event verify must name, given the touched one. */
  readonly brokenAt: (touched: AuditEvent) => number;
  readonly reason: RegExp;
}

const only =
  (
    target: number,
    change: (event: AuditEvent, all: readonly AuditEvent[]) => AuditEvent | null,
  ): Tamper =>
  (event, index, all) =>
    index === target ? change(event, all) : event;

/** An edited copy of `data`: its first field changed, or one added when it has none. */
function editedData(data: AuditEvent['data']): AuditEvent['data'] {
  const key = Object.keys(data)[0];
  if (key === undefined) return { injected: true };
  return { ...data, [key]: `${JSON.stringify(data[key])}-edited` };
}

/** Content edits (the stored hash left as it was) are named at the edited event, wherever it is. */
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
    name: 'a data field edited and that event re-hashed (middle event)',
    position: 'middle',
    tamper: (t) =>
      only(t, (e) => {
        const { hash: _hash, ...rest } = { ...e, data: editedData(e.data) };
        return { ...rest, hash: hashEvent(rest) };
      }),
    // The edited event is self-consistent now; the next one still points at the original.
    brokenAt: (e) => e.id + 1,
    reason: /prevHash does not match the previous event/,
  },
];

interface Verified {
  readonly code: number;
  readonly stderr: string;
  readonly json: {
    ok: boolean;
    checked: number;
    brokenAt?: { id: number; reason: string };
    head?: { id: number; hash: string };
    anchor?: { id: number; hash: string };
  };
}

async function verify(config: string, anchor?: AuditEvent): Promise<Verified> {
  const result = await runBuilt([
    'audit',
    'verify',
    '--config',
    config,
    '--json',
    ...(anchor === undefined ? [] : ['--anchor', `${anchor.id}:${anchor.hash}`]),
  ]);
  return {
    code: result.code,
    stderr: result.stderr,
    json: JSON.parse(result.stdout) as Verified['json'],
  };
}

/** Writes a broker directory (fixed admin port) and returns its config file. */
async function initBroker(trustDomain: string, dir: string): Promise<string> {
  const result = await runBuilt(loopbackInitArgs(trustDomain, dir, await freePort()));
  expect(result.code, result.stderr).toBe(0);
  return join(dir, 'broker.yaml');
}

/** Admin actions that each append audit events (entries, tokens, an invite, SVIDs). */
async function produceEvents(config: string, trustDomain: string): Promise<void> {
  const steps: string[][] = [
    ['entry', 'create', '--spiffe-id', `spiffe://${trustDomain}/agents/a/{instance}`, '--json'],
    ['entry', 'create', '--spiffe-id', `spiffe://${trustDomain}/agents/b`, '--json'],
    ['federation', 'invite', '--allow-local-url', '--out', join(config, '..', 'invite.json')],
    ['jwt', 'mint', '--spiffe-id', `spiffe://${trustDomain}/agents/b`, '--audience', 'x'],
    ['localauthority', 'jwt', 'prepare'],
  ];
  for (const step of steps) {
    const result = await runBuilt([...step, '--config', config]);
    expect(result.code, `${step.join(' ')}: ${result.stderr}`).toBe(0);
  }
  const entries = JSON.parse(
    (await runBuilt(['entry', 'list', '--config', config, '--json'])).stdout,
  ) as { entries: { id: string }[] };
  for (const entry of entries.entries) {
    const token = await runBuilt(['token', 'generate', '--entry', entry.id, '--config', config]);
    expect(token.code, token.stderr).toBe(0);
  }
}

async function listEvents(config: string): Promise<AuditEvent[]> {
  const result = await runBuilt([
    'audit',
    'list',
    '--limit',
    '10000',
    '--config',
    config,
    '--json',
  ]);
  expect(result.code, result.stderr).toBe(0);
  return (JSON.parse(result.stdout) as { events: AuditEvent[] }).events;
}

function expectBroken(result: Verified, id: number, reason: RegExp): void {
  expect(result.code).toBe(1);
  expect(result.json.ok).toBe(false);
  expect(result.json.brokenAt?.id).toBe(id);
  expect(result.json.brokenAt?.reason).toMatch(reason);
  expect(result.stderr).toBe(
    `error ERR_AUDIT_CHAIN_BROKEN: audit chain broken at event ${id}: ${result.json.brokenAt?.reason}\n`,
  );
}

// --- File store: the audit segments (audit/<first id>.log, one checksummed record per line) ------

/** The file store's per-line checksum: the first 16 hex characters of SHA-256 over the body. */
const lineChecksum = (body: string): string =>
  createHash('sha256').update(body, 'utf8').digest('hex').slice(0, 16);

/** Segment file name -> content. */
type Segments = ReadonlyMap<string, string>;

function readSegments(folder: string): Segments {
  const names = readdirSync(folder).sort();
  return new Map(names.map((name) => [name, readFileSync(join(folder, name), 'utf8')]));
}

/** Replaces every segment file in `folder` with `segments` (files not listed are removed). */
function writeSegments(folder: string, segments: Segments): void {
  for (const name of readdirSync(folder)) {
    if (!segments.has(name)) rmSync(join(folder, name));
  }
  for (const [name, text] of segments) writeFileSync(join(folder, name), text);
}

/**
 * Applies `tamper` to every audit record in the segments, in id order; checksums recomputed unless
 * `naive`. A removed record's line is dropped; file names stay (a segment is named by its first id).
 */
function tamperSegments(segments: Segments, tamper: Tamper, naive = false): Segments {
  const files = [...segments].map(([name, text]) => {
    const lines = text.split('\n').filter((line) => line !== '');
    const records = lines.map((line) => {
      const body = line.slice(17);
      expect(line.slice(0, 16), 'segment line checksum').toBe(lineChecksum(body));
      return JSON.parse(body) as AuditEvent;
    });
    return { name, lines, records };
  });
  const events = files.flatMap((f) => f.records);
  let index = 0;
  const out = files.map(({ name, lines, records }): [string, string] => {
    const kept = records.flatMap((record, i) => {
      const replaced = tamper(record, index, events);
      index += 1;
      if (replaced === null) return [];
      const body = JSON.stringify(replaced);
      if (body === JSON.stringify(record)) return [lines[i] as string];
      return [`${naive ? (lines[i] as string).slice(0, 16) : lineChecksum(body)} ${body}`];
    });
    return [name, kept.map((line) => `${line}\n`).join('')];
  });
  expect(index, 'audit records found in the segments').toBe(events.length);
  return new Map(out);
}

describe('audit verify catches an edited file store (audit segments edited while the broker is stopped)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedbroker-audit-file-'));
  let config: string;
  let journal: string;
  let segmentDir: string;
  let pristineJournal: string;
  let pristine: Segments;
  let events: AuditEvent[];
  let target: number;
  let child: ChildProcess | undefined;

  beforeAll(async () => {
    await buildCli();
    config = await initBroker('audit.test', dir);
    child = (await startServe(config)).child;
    await produceEvents(config, 'audit.test');
    events = await listEvents(config);
    expect(await stopServe(child)).toBe(0);
    child = undefined;
    const store = join(dir, 'state', 'store');
    // Audit events live in the segments only: never in the journal, nor in a snapshot.
    expect(existsSync(join(store, 'snapshot.json'))).toBe(false);
    journal = join(store, 'journal.log');
    expect(readFileSync(journal, 'utf8')).not.toContain('"op":"audit"');
    pristineJournal = `${journal}.pristine`;
    copyFileSync(journal, pristineJournal);
    segmentDir = join(store, 'audit');
    pristine = readSegments(segmentDir);
    expect([...pristine.keys()]).toEqual(['00000000000000000001.log']);
  }, 240_000);

  afterAll(async () => {
    if (child !== undefined) await stopServe(child);
  });

  /** Restores journal and segments, applies `edit`, runs verify on a broker started on them, stops it. */
  async function verifyEdited<T = Verified>(
    edit: (segments: Segments) => Segments,
    run: () => Promise<T> = () => verify(config) as Promise<T>,
  ): Promise<T> {
    copyFileSync(pristineJournal, journal);
    writeSegments(segmentDir, edit(pristine));
    child = (await startServe(config)).child;
    try {
      return await run();
    } finally {
      expect(await stopServe(child)).toBe(0);
      child = undefined;
    }
  }

  it('has a chain long enough to edit in the middle, and the untouched chain verifies', async () => {
    expect(events.length).toBeGreaterThanOrEqual(7);
    expect(events.map((e) => e.id)).toEqual(events.map((_, i) => i + 1));
    const types = events.map((e) => e.type);
    for (const type of [
      'entry.created',
      'invite.created',
      'svid.issued',
      'authority.prepared',
      'token.created',
    ]) {
      expect(types, type).toContain(type);
    }
    target = Math.floor(events.length / 2);
    expect(target).toBeGreaterThanOrEqual(2);
    expect(target).toBeLessThan(events.length - 1);
    const middle = events[target] as AuditEvent;
    const { result, plain, anchored, anchoredPlain, badAnchor } = await verifyEdited(
      (segments) => segments,
      async () => ({
        result: await verify(config),
        plain: await runBuilt(['audit', 'verify', '--config', config]),
        anchored: await verify(config, middle),
        anchoredPlain: await runBuilt([
          'audit',
          'verify',
          '--config',
          config,
          '--anchor',
          `${middle.id}:${middle.hash}`,
        ]),
        badAnchor: await runBuilt([
          'audit',
          'verify',
          '--config',
          config,
          '--anchor',
          `#${middle.id} ${middle.hash}`,
        ]),
      }),
    );
    expect(result.code, result.stderr).toBe(0);
    const last = events.at(-1) as AuditEvent;
    expect(result.json).toEqual({
      ok: true,
      checked: events.length,
      head: { id: last.id, hash: last.hash },
    });
    expect(plain).toEqual({
      code: 0,
      stdout: `audit chain intact: ${events.length} events, head ${last.id}:${last.hash}\n`,
      stderr: '',
    });
    // An anchor that still holds is echoed back; a malformed one is refused by the admin API.
    expect(anchored.code, anchored.stderr).toBe(0);
    expect(anchored.json).toEqual({
      ok: true,
      checked: events.length,
      head: { id: last.id, hash: last.hash },
      anchor: { id: middle.id, hash: middle.hash },
    });
    expect(anchoredPlain.stdout).toBe(
      `audit chain intact: ${events.length} events, head ${last.id}:${last.hash}, anchor ${middle.id} matches\n`,
    );
    expect(badAnchor.code).not.toBe(0);
    expect(badAnchor.stderr).toMatch(/^error ERR_API_VALIDATION: .*anchor must be ID:HASH/);
  });

  it.each(CASES)('$name: verify exits 1 and names the broken event', async (c) => {
    const index = indexAt(c.position, events.length);
    const result = await verifyEdited((segments) => tamperSegments(segments, c.tamper(index)));
    expectBroken(result, c.brokenAt(events[index] as AuditEvent), c.reason);
  });

  it('an edit that leaves the line checksum stale makes the store refuse to open (ERR_STORE_CORRUPT)', async () => {
    copyFileSync(pristineJournal, journal);
    writeSegments(
      segmentDir,
      tamperSegments(
        pristine,
        only(target, (e) => ({ ...e, data: editedData(e.data) })),
        true,
      ),
    );
    await expect(startServe(config)).rejects.toThrow(/ERR_STORE_CORRUPT/);
    writeSegments(segmentDir, pristine);
  });

  // Issue 15: a trim past the cap is itself an audit.trimmed event, so oldest events cut off with
  // no such record are a removal that verify alone names (at the first event left).
  it('the oldest event deleted: verify alone names it (no audit.trimmed event records a trim)', async () => {
    const { alone } = await verifyEdited(
      (segments) =>
        tamperSegments(
          segments,
          only(0, () => null),
        ),
      async () => ({ alone: await verify(config) }),
    );
    expectBroken(
      alone,
      2,
      /^events 1\.\.1 are gone and no audit\.trimmed event records their trim/,
    );
  });

  // What a hash chain with no outside anchor cannot see: nothing records the newest hash elsewhere,
  // so cutting events off the newest end, or re-hashing the newest one, goes unseen by verify alone
  // (exit 0). An anchor kept from an earlier verify (--anchor ID:HASH) sees each of them.
  it.each([
    {
      name: 'the newest event deleted',
      tamper: (e: AuditEvent, i: number, all: readonly AuditEvent[]) =>
        i === all.length - 1 ? null : e,
      checked: -1,
      headMoved: true,
      anchorAt: (all: readonly AuditEvent[]) => all.at(-1) as AuditEvent,
      reason:
        /^anchored event \d+ is missing: the log ends at event \d+ \(newest events removed\)$/,
    },
    {
      name: 'the newest event edited and re-hashed',
      tamper: (e: AuditEvent, i: number, all: readonly AuditEvent[]) => {
        if (i !== all.length - 1) return e;
        const { hash: _hash, ...rest } = { ...e, data: editedData(e.data) };
        return { ...rest, hash: hashEvent(rest) };
      },
      checked: 0,
      headMoved: true,
      anchorAt: (all: readonly AuditEvent[]) => all.at(-1) as AuditEvent,
      reason:
        /^anchored event \d+ has hash [0-9a-f]{64}, not the anchored [0-9a-f]{64} \(rewritten\)$/,
    },
  ])(
    'KNOWN LIMIT without an anchor: $name is not detected by verify alone, but verify --anchor names it',
    async ({ tamper, checked, headMoved, anchorAt, reason }) => {
      const anchor = anchorAt(events);
      const { alone, anchored } = await verifyEdited(
        (segments) => tamperSegments(segments, tamper),
        async () => ({ alone: await verify(config), anchored: await verify(config, anchor) }),
      );
      expect(alone.code).toBe(0);
      expect(alone.json).toMatchObject({ ok: true, checked: events.length + checked });
      const last = events.at(-1) as AuditEvent;
      const pristineHead = { id: last.id, hash: last.hash };
      if (headMoved) expect(alone.json.head).not.toEqual(pristineHead);
      else expect(alone.json.head).toEqual(pristineHead);
      expectBroken(anchored, anchor.id, reason);
    },
  );
});

// --- Redis store: the audit stream (one entry per event, field `r` = the record JSON) ------------

describe('audit verify catches an edited Redis audit stream (edited under a running broker)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedbroker-audit-redis-'));
  const key = 'tamper:audit';
  let redis: RedisServer;
  let client: Redis;
  let config: string;
  let child: ChildProcess | undefined;
  let pristine: [string, string[]][];
  let events: AuditEvent[];
  let target: number;

  beforeAll(async () => {
    await buildCli();
    redis = await startRedisServer();
    client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await client.connect();
    config = await initBroker('audit.test', dir);
    const text = readFileSync(config, 'utf8');
    expect(text).toContain('store:\n  kind: file\n');
    writeFileSync(
      config,
      text.replace(
        'store:\n  kind: file\n',
        `store:\n  kind: redis\n  url: ${redis.url}\n  keyPrefix: "tamper:"\n`,
      ),
    );
    child = (await startServe(config)).child;
    await produceEvents(config, 'audit.test');
    events = await listEvents(config);
    pristine = (await client.xrange(key, '-', '+')) as [string, string[]][];
    target = Math.floor(events.length / 2);
  }, 240_000);

  afterAll(async () => {
    if (child !== undefined) await stopServe(child);
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
    expect(events.length).toBeGreaterThanOrEqual(7);
    expect(pristine.map(([id]) => id)).toEqual(events.map((e) => `${e.id}-0`));
    await rewrite((e) => e);
    const result = await verify(config);
    expect(result.code, result.stderr).toBe(0);
    expect(result.json).toMatchObject({ ok: true, checked: events.length });
    expect(result.json.head?.id).toBe(events.at(-1)?.id);
  });

  it.each(CASES)('$name: verify exits 1 and names the broken event', async (c) => {
    try {
      const index = indexAt(c.position, events.length);
      await rewrite(c.tamper(index));
      expectBroken(await verify(config), c.brokenAt(events[index] as AuditEvent), c.reason);
    } finally {
      await rewrite((e) => e);
    }
  });

  it('XDEL of one entry in the middle (the Redis way to drop an event) is named too', async () => {
    try {
      expect(await client.xdel(key, `${target + 1}-0`)).toBe(1);
      expectBroken(await verify(config), target + 2, /follows/);
    } finally {
      await rewrite((e) => e);
    }
    expect((await verify(config)).code).toBe(0);
  });
});
