// The file store's audit segments as written: never in a snapshot or the journal, opened O_DSYNC +
// O_APPEND, a write cut short by a full disk, rolled at min(10000, auditMax) records with whole segments
// unlinked past auditMaxLength, group commits split across segments, and reads by id range.
import { constants } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createFileStore, type Store } from '../../src/store/index.js';
import { openFlagsOf } from '../helpers/fd-flags.js';
import { canLimitFileSize, runWithFileSizeLimit } from '../helpers/fsize-child.js';
import { bundleInput, chained, checkChain, TD } from './contract.js';
import {
  all,
  appendMany,
  nextDir,
  range,
  segmentName,
  segments,
  useFileAuditWorld,
} from './file-audit-fixture.js';

useFileAuditWorld();

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
});
