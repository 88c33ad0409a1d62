// The file store's audit segments: never in a snapshot, whole segments unlinked past auditMaxLength,
// torn tails dropped, damage refused, and format-1 directories (audit in snapshot + journal) migrated.
import { createHash } from 'node:crypto';
import { constants, existsSync } from 'node:fs';
import {
  appendFile,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFileStore, type AuditRecord, type Store } from '../../src/store/index.js';
import { openFlagsOf } from '../helpers/fd-flags.js';
import { canLimitFileSize, runWithFileSizeLimit } from '../helpers/fsize-child.js';
import { bundleInput, chained, checkChain, rejection, TD } from './contract.js';

let root = '';
let n = 0;
const nextDir = (): string => join(root, `a${n++}`);

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fedbroker-file-audit-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const lineChecksum = (body: string): string =>
  createHash('sha256').update(body, 'utf8').digest('hex').slice(0, 16);
const line = (body: string): string => `${lineChecksum(body)} ${body}\n`;
const segmentName = (firstId: number): string => `${String(firstId).padStart(20, '0')}.log`;

function quietLogger(warnings: string[] = []) {
  return { logger: { info: () => undefined, warn: (message: string) => warnings.push(message) } };
}

async function appendMany(store: Store, count: number, type = 'x'): Promise<AuditRecord[]> {
  const out: AuditRecord[] = [];
  for (let i = 0; i < count; i++) out.push(await store.appendAudit(chained(type)));
  return out;
}

/** Segment file names in `<dir>/audit` and the records each holds (checksums verified). */
async function segments(dir: string): Promise<{ name: string; ids: number[] }[]> {
  const folder = join(dir, 'audit');
  const names = (await readdir(folder)).sort();
  return Promise.all(
    names.map(async (name) => {
      const lines = (await readFile(join(folder, name), 'utf8')).split('\n').slice(0, -1);
      const ids = lines.map((l) => {
        expect(l.slice(0, 16)).toBe(lineChecksum(l.slice(17)));
        return (JSON.parse(l.slice(17)) as AuditRecord).id;
      });
      return { name, ids };
    }),
  );
}

const all = (store: Store): Promise<AuditRecord[]> => store.listAudit({ limit: 10_000 });
const range = (from: number, to: number): number[] =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('file store audit segments', () => {
  it('never writes audit records into snapshot.json or the journal, even when compacting on every write', async () => {
    const dir = nextDir();
    const store = await createFileStore({ dir, compactBytes: 1 });
    for (let i = 1; i <= 20; i++) {
      await store.putBundle(bundleInput(String(i)));
      await store.appendAudit(chained('bundle.fetched'));
    }
    const records = await all(store);
    await store.close();
    const text = await readFile(join(dir, 'snapshot.json'), 'utf8');
    const snapshot = JSON.parse(text.slice(text.indexOf('\n') + 1)) as Record<string, unknown>;
    expect(snapshot['format']).toBe(2);
    expect(snapshot).not.toHaveProperty('audit');
    expect(snapshot).not.toHaveProperty('lastAuditId');
    for (const record of records) expect(text).not.toContain(record.hash);
    expect(await readFile(join(dir, 'journal.log'), 'utf8')).not.toContain('"op":"audit"');
    expect(await segments(dir)).toEqual([{ name: segmentName(1), ids: range(1, 20) }]);

    const reopened = await createFileStore({ dir });
    expect(await all(reopened)).toEqual(records);
    expect((await reopened.getBundle(TD))?.sequence).toBe('20');
    await reopened.close();
  });

  it.runIf(process.platform === 'linux')(
    'writes segments through O_DSYNC + O_APPEND descriptors, new and reopened (durable when each write returns; never at a stale offset)',
    async () => {
      const dir = nextDir();
      const store = await createFileStore({ dir });
      await appendMany(store, 2);
      const path = join(dir, 'audit', segmentName(1));
      const created = openFlagsOf(path);
      expect(created).toHaveLength(1);
      expect((created[0] as number) & constants.O_DSYNC).toBe(constants.O_DSYNC);
      expect((created[0] as number) & constants.O_APPEND).toBe(constants.O_APPEND);
      await store.close();
      expect(openFlagsOf(path)).toEqual([]);

      const reopened = await createFileStore({ dir });
      await appendMany(reopened, 1);
      const appending = openFlagsOf(path);
      expect(appending).toHaveLength(1);
      expect((appending[0] as number) & constants.O_DSYNC).toBe(constants.O_DSYNC);
      expect((appending[0] as number) & constants.O_APPEND).toBe(constants.O_APPEND);
      expect((await segments(dir))[0]?.ids).toEqual([1, 2, 3]);
      await reopened.close();
    },
  );

  // A full disk, made real with RLIMIT_FSIZE on a child process.
  it.runIf(canLimitFileSize)(
    'a write that fails half-way through a group commit spanning two segments: the first part is acknowledged, the rest refused and cut off, later appends and a reopen see an intact chain',
    async () => {
      const dir = nextDir();
      const { code, out, err } = await runWithFileSizeLimit(
        fileURLToPath(new URL('./fixtures/audit-fsize.ts', import.meta.url)),
        256 * 1024,
        [dir, String(200 * 1024)],
      );
      expect(err).toBe('');
      expect(code).toBe(0);
      const result = JSON.parse(out) as {
        before: { ok: boolean; id?: number }[];
        batch: { ok: boolean; id?: number; code?: string }[];
        after: { ok: boolean; id?: number };
      };
      expect(result.before).toEqual([
        { ok: true, id: 1 },
        { ok: true, id: 2 },
      ]);
      expect(result.batch.slice(0, 2)).toEqual([
        { ok: true, id: 3 },
        { ok: true, id: 4 },
      ]);
      for (const refused of result.batch.slice(2)) {
        expect(refused).toMatchObject({ ok: false, code: 'ERR_STORE_UNAVAILABLE' });
      }
      // The refused records never happened: the next append takes id 5, in the second segment.
      expect(result.after).toEqual({ ok: true, id: 5 });

      const onDisk = await segments(dir);
      expect(onDisk).toEqual([
        { name: segmentName(1), ids: [1, 2, 3, 4] },
        { name: segmentName(5), ids: [5] },
      ]);
      const reopened = await createFileStore({ dir, auditMaxLength: 4 });
      const kept = await reopened.listAudit({ limit: 10 });
      expect(kept.map((r) => [r.id, r.type])).toEqual([
        [2, 'small'],
        [3, 'small'],
        [4, 'small'],
        [5, 'after'],
      ]);
      checkChain(kept);
      await reopened.close();
    },
  );

  it('a directory that never audits gets no segment file', async () => {
    const dir = nextDir();
    const store = await createFileStore({ dir });
    await store.putBundle(bundleInput('1'));
    await store.close();
    expect(await readdir(join(dir, 'audit'))).toEqual([]);
  });

  it('rolls segments at min(10000, auditMax) records and unlinks whole segments past auditMax', async () => {
    const dir = nextDir();
    const max = 25;
    const store = await createFileStore({ dir, auditMaxLength: max });
    const written = await appendMany(store, 260);
    // Memory: exactly the newest auditMax.
    const kept = await all(store);
    expect(kept).toEqual(written.slice(-max));
    checkChain(kept);
    // Unlinking runs after the appenders are answered; close() waits for it.
    await store.close();
    // Disk: at most auditMax + one segment, segments contiguous and full except the newest.
    const onDisk = await segments(dir);
    const ids = onDisk.flatMap((s) => s.ids);
    expect(ids.length).toBeLessThan(2 * max);
    expect(ids.length).toBeGreaterThanOrEqual(max);
    expect(ids).toEqual(range(ids[0] as number, 260));
    for (const s of onDisk) {
      expect(s.name).toBe(segmentName(s.ids[0] as number));
      expect(s.ids.length).toBeLessThanOrEqual(max);
    }
    expect(onDisk.at(0)?.name).not.toBe(segmentName(1));

    const reopened = await createFileStore({ dir, auditMaxLength: max });
    expect(await all(reopened)).toEqual(written.slice(-max));
    expect((await reopened.lastAudit())?.id).toBe(260);
    const next = await reopened.appendAudit(chained('x'));
    expect(next.id).toBe(261);
    expect(next.previousHash).toBe(written.at(-1)?.hash);
    await reopened.close();
  });

  it('a group commit that crosses a segment boundary splits it, chain intact, across reopen', async () => {
    const dir = nextDir();
    const store = await createFileStore({ dir, auditMaxLength: 7 });
    await appendMany(store, 3);
    const burst = await Promise.all(
      Array.from({ length: 40 }, () => store.appendAudit(chained('y'))),
    );
    expect(burst.map((r) => r.id)).toEqual(range(4, 43));
    const kept = await all(store);
    expect(kept.map((r) => r.id)).toEqual(range(37, 43));
    checkChain(kept);
    await store.close();
    const onDisk = await segments(dir);
    for (const s of onDisk) expect(s.ids.length).toBeLessThanOrEqual(7);
    expect(onDisk.flatMap((s) => s.ids).length).toBeLessThan(14);
    const reopened = await createFileStore({ dir, auditMaxLength: 7 });
    expect(await all(reopened)).toEqual(kept);
    await reopened.close();
  });

  it('a lower auditMaxLength on reopen trims memory and unlinks the segments it no longer needs', async () => {
    const dir = nextDir();
    const store = await createFileStore({ dir, auditMaxLength: 10 });
    const written = await appendMany(store, 40);
    await store.close();
    const reopened = await createFileStore({ dir, auditMaxLength: 3 });
    expect(await all(reopened)).toEqual(written.slice(-3));
    // The newest segment (ids 31..40) is still needed; older ones are gone.
    expect((await segments(dir)).map((s) => s.name)).toEqual([segmentName(31)]);
    expect((await reopened.appendAudit(chained('z'))).id).toBe(41);
    await reopened.close();
  });

  it('reads by id range and direction over a trimmed log', async () => {
    const dir = nextDir();
    const store = await createFileStore({ dir, auditMaxLength: 5 });
    await appendMany(store, 12);
    const ids = async (query: Parameters<Store['listAudit']>[0]): Promise<number[]> =>
      (await store.listAudit(query)).map((r) => r.id);
    expect(await ids({ limit: 10 })).toEqual([8, 9, 10, 11, 12]);
    expect(await ids({ fromId: 2, limit: 2 })).toEqual([8, 9]);
    expect(await ids({ fromId: 10, limit: 10 })).toEqual([10, 11, 12]);
    expect(await ids({ fromId: 10, limit: 10, direction: 'backward' })).toEqual([10, 9, 8]);
    expect(await ids({ fromId: 3, limit: 10, direction: 'backward' })).toEqual([]);
    expect(await ids({ fromId: 99, limit: 2, direction: 'backward' })).toEqual([12, 11]);
    expect(await ids({ fromId: 13, limit: 10 })).toEqual([]);
    await store.close();
  });

  it('drops a torn last line (a crash mid-append) with a warning and appends after the good part', async () => {
    const dir = nextDir();
    const store = await createFileStore({ dir });
    const written = await appendMany(store, 5);
    await store.close();
    const file = join(dir, 'audit', segmentName(1));
    const goodSize = (await stat(file)).size;
    await appendFile(file, '0123456789abcdef {"id":6,"time":1,"ty');
    const warnings: string[] = [];
    const reopened = await createFileStore({ dir }, quietLogger(warnings));
    expect(warnings).toEqual(['store: dropped a torn audit segment tail']);
    expect((await stat(file)).size).toBe(goodSize);
    expect(await all(reopened)).toEqual(written);
    const next = await reopened.appendAudit(chained('x'));
    expect(next.id).toBe(6);
    await reopened.close();
    const again = await createFileStore({ dir });
    checkChain(await all(again));
    expect((await all(again)).map((r) => r.id)).toEqual(range(1, 6));
    await again.close();
  });

  it('drops a complete last line whose checksum fails (zero-filled or half-flushed tail)', async () => {
    const dir = nextDir();
    const store = await createFileStore({ dir });
    await appendMany(store, 3);
    await store.close();
    await appendFile(join(dir, 'audit', segmentName(1)), `${'0'.repeat(16)} {"id":4}\n`);
    const reopened = await createFileStore({ dir }, quietLogger());
    expect((await reopened.lastAudit())?.id).toBe(3);
    await reopened.close();
  });

  it('refuses a segment with an unreadable line followed by readable ones (ERR_STORE_CORRUPT)', async () => {
    const dir = nextDir();
    const store = await createFileStore({ dir });
    await appendMany(store, 5);
    await store.close();
    const file = join(dir, 'audit', segmentName(1));
    const lines = (await readFile(file, 'utf8')).split('\n');
    lines[2] = (lines[2] ?? '').replace('"type":"x"', '"type":"y"');
    await writeFile(file, lines.join('\n'));
    const error = await rejection(createFileStore({ dir }));
    expect(error.code).toBe('ERR_STORE_CORRUPT');
    expect(String((error as Error).message)).toContain(segmentName(1));
  });

  it('refuses a gap between segments (a segment file missing) with ERR_STORE_CORRUPT', async () => {
    const dir = nextDir();
    const store = await createFileStore({ dir, auditMaxLength: 100 });
    await appendMany(store, 10);
    await store.close();
    // Rebuild the same records as three segments of 4, 3, 3 and remove the middle one.
    const text = await readFile(join(dir, 'audit', segmentName(1)), 'utf8');
    const lines = text.split('\n').slice(0, -1);
    await unlink(join(dir, 'audit', segmentName(1)));
    await writeFile(join(dir, 'audit', segmentName(1)), `${lines.slice(0, 4).join('\n')}\n`);
    await writeFile(join(dir, 'audit', segmentName(5)), `${lines.slice(4, 7).join('\n')}\n`);
    await writeFile(join(dir, 'audit', segmentName(8)), `${lines.slice(7).join('\n')}\n`);
    const whole = await createFileStore({ dir, auditMaxLength: 100 });
    expect((await all(whole)).map((r) => r.id)).toEqual(range(1, 10));
    await whole.close();

    await unlink(join(dir, 'audit', segmentName(5)));
    const error = await rejection(createFileStore({ dir, auditMaxLength: 100 }));
    expect(error.code).toBe('ERR_STORE_CORRUPT');
    expect(String((error as Error).message)).toContain(segmentName(8));
  });

  it('refuses an unreadable tail in a segment that is not the last one (ERR_STORE_CORRUPT)', async () => {
    const dir = nextDir();
    const store = await createFileStore({ dir, auditMaxLength: 4 });
    await appendMany(store, 6);
    await store.close();
    await appendFile(join(dir, 'audit', segmentName(1)), '0123456789abcdef {"id":5');
    expect((await rejection(createFileStore({ dir, auditMaxLength: 4 }))).code).toBe(
      'ERR_STORE_CORRUPT',
    );
  });

  it('loads a gap inside one segment (an edit with checksums fixed) with a warning, for audit verify to name', async () => {
    const dir = nextDir();
    const store = await createFileStore({ dir });
    await appendMany(store, 5);
    await store.close();
    const file = join(dir, 'audit', segmentName(1));
    const lines = (await readFile(file, 'utf8')).split('\n');
    lines.splice(2, 1);
    await writeFile(file, lines.join('\n'));
    const warnings: string[] = [];
    const reopened = await createFileStore({ dir }, quietLogger(warnings));
    expect(warnings).toEqual(['store: audit segment has an id gap (run audit verify)']);
    expect((await all(reopened)).map((r) => r.id)).toEqual([1, 2, 4, 5]);
    expect((await reopened.listAudit({ fromId: 3, limit: 1 })).map((r) => r.id)).toEqual([4]);
    expect(
      (await reopened.listAudit({ fromId: 3, limit: 1, direction: 'backward' })).map((r) => r.id),
    ).toEqual([2]);
    expect((await reopened.appendAudit(chained('x'))).id).toBe(6);
    await reopened.close();
  });
});

// --- Migration from format 1: audit records in snapshot.json (`audit`, `lastAuditId`) and journal --

/** Builds `count` chained records starting at id `from` (ids before `from` trimmed away). */
function chainOf(count: number, from = 1): AuditRecord[] {
  const out: AuditRecord[] = [];
  let previous: AuditRecord | undefined;
  for (let id = 1; id < from + count; id++) {
    const record = { id, ...chained(`t${id}`)(previous, id) } as AuditRecord;
    previous = record;
    if (id >= from) out.push(record);
  }
  return out;
}

/**
 * Writes a format-1 directory as the previous file store did: a snapshot at `seq` holding
 * `snapshotAudit`, then journal records each holding some audit changes (and a bundle in one).
 */
async function writeLegacy(
  dir: string,
  snapshotAudit: AuditRecord[],
  journalAudit: AuditRecord[][],
  max = 100_000,
): Promise<void> {
  await mkdir(dir, { recursive: true });
  const bundle = {
    ...bundleInput('1'),
    digest: createHash('sha256').update(bundleInput('1').raw).digest('hex'),
  };
  const snapshot = {
    format: 1,
    seq: 2,
    bundles: [[TD, { current: bundle, history: [bundle] }]],
    relationship: [],
    entry: [],
    token: [],
    refresh: [],
    replica: [],
    local: null,
    audit: snapshotAudit,
    lastAuditId: snapshotAudit.at(-1)?.id ?? 0,
  };
  const body = JSON.stringify(snapshot);
  await writeFile(join(dir, 'snapshot.json'), `${lineChecksum(body)}\n${body}`);
  let seq = 2;
  const journal = journalAudit.map((records, i) => {
    seq += 1;
    const changes: unknown[] = records.map((record) => ({ op: 'audit', record, max }));
    if (i === 0) {
      changes.unshift({
        op: 'put',
        coll: 'entry',
        id: 'e1',
        value: { value: { a: 1 }, version: 1 },
      });
    }
    return line(JSON.stringify({ n: seq, c: changes }));
  });
  await writeFile(join(dir, 'journal.log'), journal.join(''));
}

describe('file store audit migration from format 1', () => {
  it('moves every event, in order and chained, to segments; snapshot and journal no longer hold them', async () => {
    const dir = nextDir();
    const events = chainOf(9);
    await writeLegacy(dir, events.slice(0, 4), [events.slice(4, 5), events.slice(5, 9)]);
    const infos: string[] = [];
    const store = await createFileStore(
      { dir },
      { logger: { info: (m) => infos.push(m), warn: () => undefined } },
    );
    expect(infos).toContain('store: moved audit records to segments');
    expect(await all(store)).toEqual(events);
    expect((await store.getEntry('e1'))?.value).toEqual({ a: 1 });
    expect((await store.getBundle(TD))?.sequence).toBe('1');
    const next = await store.appendAudit(chained('after'));
    expect(next.id).toBe(10);
    checkChain(await all(store));
    await store.close();

    const text = await readFile(join(dir, 'snapshot.json'), 'utf8');
    expect(JSON.parse(text.slice(text.indexOf('\n') + 1))).not.toHaveProperty('audit');
    expect((await stat(join(dir, 'journal.log'))).size).toBe(0);
    expect(await segments(dir)).toEqual([{ name: segmentName(1), ids: range(1, 10) }]);

    const again = await createFileStore({ dir }, quietLogger());
    const reread = await all(again);
    expect(reread.map((r) => r.id)).toEqual(range(1, 10));
    expect(reread.slice(0, 9)).toEqual(events);
    checkChain(reread);
    await again.close();
  });

  it('a crash half-way (some events already in segments, snapshot still old) neither loses nor duplicates', async () => {
    const dir = nextDir();
    const events = chainOf(8);
    await writeLegacy(dir, events.slice(0, 5), [events.slice(5)]);
    await mkdir(join(dir, 'audit'));
    // As if the previous open wrote ids 1..6 and was killed before snapshotting.
    await writeFile(
      join(dir, 'audit', segmentName(1)),
      events
        .slice(0, 6)
        .map((r) => line(JSON.stringify(r)))
        .join(''),
    );
    const store = await createFileStore({ dir }, quietLogger());
    expect(await all(store)).toEqual(events);
    await store.close();
    expect(await segments(dir)).toEqual([{ name: segmentName(1), ids: range(1, 8) }]);
  });

  it('a crash after the segments were complete (snapshot still old) only snapshots', async () => {
    const dir = nextDir();
    const events = chainOf(4);
    await writeLegacy(dir, events, []);
    await mkdir(join(dir, 'audit'));
    await writeFile(
      join(dir, 'audit', segmentName(1)),
      events.map((r) => line(JSON.stringify(r))).join(''),
    );
    const store = await createFileStore({ dir }, quietLogger());
    expect(await all(store)).toEqual(events);
    await store.close();
    expect(await segments(dir)).toEqual([{ name: segmentName(1), ids: range(1, 4) }]);
    const text = await readFile(join(dir, 'snapshot.json'), 'utf8');
    expect(JSON.parse(text.slice(text.indexOf('\n') + 1))).toMatchObject({ format: 2 });
  });

  it('a log already trimmed by auditMaxLength starts its first segment at its oldest id', async () => {
    const dir = nextDir();
    const events = chainOf(6, 95);
    await writeLegacy(dir, events.slice(0, 3), [events.slice(3)]);
    const store = await createFileStore({ dir }, quietLogger());
    expect(await all(store)).toEqual(events);
    expect((await store.appendAudit(chained('x'))).id).toBe(101);
    await store.close();
    expect((await segments(dir)).map((s) => s.name)).toEqual([segmentName(95)]);
  });

  it('refuses legacy events that do not follow the existing segments (ERR_STORE_CORRUPT)', async () => {
    const dir = nextDir();
    const events = chainOf(8);
    await writeLegacy(dir, events.slice(5), []);
    await mkdir(join(dir, 'audit'));
    await writeFile(
      join(dir, 'audit', segmentName(1)),
      events
        .slice(0, 3)
        .map((r) => line(JSON.stringify(r)))
        .join(''),
    );
    expect((await rejection(createFileStore({ dir }, quietLogger()))).code).toBe(
      'ERR_STORE_CORRUPT',
    );
    // Nothing was changed: the directory still opens once the missing events are back.
    expect(existsSync(join(dir, 'journal.log'))).toBe(true);
  });
});
