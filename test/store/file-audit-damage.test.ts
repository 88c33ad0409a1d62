// The file store reopening damaged audit segments: a torn or checksum-failing last line dropped with a
// warning, an unreadable line before readable ones, a missing segment or a torn non-last segment
// refused (ERR_STORE_CORRUPT), and a gap inside one segment loaded with a warning for audit verify.
import { appendFile, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createFileStore } from '../../src/store/index.js';
import { chained, checkChain, rejection } from './contract.js';
import {
  all,
  appendMany,
  nextDir,
  quietLogger,
  range,
  segmentName,
  useFileAuditWorld,
} from './file-audit-fixture.js';

useFileAuditWorld();

describe('file store audit segments', () => {
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
