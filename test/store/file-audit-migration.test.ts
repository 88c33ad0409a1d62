// The file store's migration of format-1 directories (audit records in snapshot.json and the journal)
// to audit segments: every event moved in order and chained, crashes half-way and after the segments
// recovered without loss or duplicates, a trimmed log kept at its oldest id, and a mismatch refused.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createFileStore, type AuditRecord } from '../../src/store/index.js';
import { lineChecksum } from '../helpers/audit-tamper.js';
import { bundleInput, chained, checkChain, rejection, TD } from './contract.js';
import {
  all,
  line,
  nextDir,
  quietLogger,
  range,
  segmentName,
  segments,
  useFileAuditWorld,
} from './file-audit-fixture.js';

useFileAuditWorld();

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
