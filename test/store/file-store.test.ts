// File-store specifics the contract cannot see: torn journal tails, damaged files, snapshots, the LOCK.
import { spawn } from 'node:child_process';
import { appendFile, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { constants, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFileStore } from '../../src/store/index.js';
import { openFlagsOf } from '../helpers/fd-flags.js';
import { bundleInput, rejection, TD } from './contract.js';

let root = '';
let n = 0;
const nextDir = (): string => join(root, `s${n++}`);

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fedbroker-file-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function seeded(dir: string, count: number): Promise<void> {
  const store = await createFileStore({ dir });
  for (let i = 1; i <= count; i++) await store.putBundle(bundleInput(String(i)));
  await store.close();
}

describe('file store on disk', () => {
  it.runIf(process.platform === 'linux')(
    'writes the journal through an O_DSYNC + O_APPEND descriptor (each commit durable when its one write returns), new and reopened',
    async () => {
      const dir = nextDir();
      const journal = join(dir, 'journal.log');
      const expectDurableAppend = (): void => {
        const flags = openFlagsOf(journal);
        expect(flags).toHaveLength(1);
        expect((flags[0] as number) & constants.O_DSYNC).toBe(constants.O_DSYNC);
        expect((flags[0] as number) & constants.O_APPEND).toBe(constants.O_APPEND);
      };
      const store = await createFileStore({ dir });
      await store.putBundle(bundleInput('1'));
      expectDurableAppend();
      await store.close();
      expect(openFlagsOf(journal)).toEqual([]);
      const reopened = await createFileStore({ dir });
      await reopened.putBundle(bundleInput('2'));
      expectDurableAppend();
      expect((await reopened.getBundle(TD))?.sequence).toBe('2');
      await reopened.close();
    },
  );

  it('drops a torn journal tail (a crash mid-append) and keeps everything before it', async () => {
    const dir = nextDir();
    await seeded(dir, 3);
    const journal = join(dir, 'journal.log');
    const goodSize = (await stat(journal)).size;
    await appendFile(journal, '0123456789abcdef {"n":4,"c":[{"op":"bund');
    const warnings: string[] = [];
    const store = await createFileStore(
      { dir },
      { logger: { info: () => undefined, warn: (m) => warnings.push(m) } },
    );
    expect((await store.getBundle(TD))?.sequence).toBe('3');
    expect(warnings).toEqual(['store: dropped a torn journal tail']);
    expect((await stat(journal)).size).toBe(goodSize);
    await store.putBundle(bundleInput('4'));
    await store.close();
    const reopened = await createFileStore({ dir });
    expect((await reopened.bundleHistory(TD)).map((b) => b.sequence)).toEqual(['4', '3', '2', '1']);
    await reopened.close();
  });

  it('drops a complete last line whose checksum fails (zero-filled or half-flushed tail)', async () => {
    const dir = nextDir();
    await seeded(dir, 2);
    await appendFile(join(dir, 'journal.log'), `${'0'.repeat(16)} {"n":3,"c":[]}\n`);
    const store = await createFileStore({ dir });
    expect((await store.getBundle(TD))?.sequence).toBe('2');
    await store.close();
  });

  it('refuses a journal damaged in the middle with ERR_STORE_CORRUPT', async () => {
    const dir = nextDir();
    await seeded(dir, 3);
    const journal = join(dir, 'journal.log');
    const lines = (await readFile(journal, 'utf8')).split('\n');
    lines[1] = (lines[1] ?? '').replace('k1', 'kX');
    await writeFile(journal, lines.join('\n'));
    expect((await rejection(createFileStore({ dir }))).code).toBe('ERR_STORE_CORRUPT');
  });

  it('refuses a snapshot that fails its checksum with ERR_STORE_CORRUPT', async () => {
    const dir = nextDir();
    const store = await createFileStore({ dir, compactBytes: 1 });
    await store.putBundle(bundleInput('1'));
    await store.close();
    const snapshot = join(dir, 'snapshot.json');
    await writeFile(snapshot, (await readFile(snapshot, 'utf8')).replace('k1', 'k2'));
    expect((await rejection(createFileStore({ dir }))).code).toBe('ERR_STORE_CORRUPT');
  });

  it('snapshots when the journal grows, empties the journal and reloads from both', async () => {
    const dir = nextDir();
    const store = await createFileStore({ dir, compactBytes: 4096 });
    for (let i = 1; i <= 40; i++) await store.putBundle(bundleInput(String(i)));
    await store.appendAudit(() => ({
      time: 1,
      type: 'x',
      actor: 'a',
      trustDomain: null,
      data: {},
      previousHash: null,
      hash: 'h',
    }));
    await store.close();
    expect(existsSync(join(dir, 'snapshot.json'))).toBe(true);
    expect((await stat(join(dir, 'journal.log'))).size).toBeLessThan(4096);
    await writeFile(join(dir, 'snapshot.json.tmp'), 'half-written');
    const reopened = await createFileStore({ dir });
    expect((await reopened.getBundle(TD))?.sequence).toBe('40');
    expect(await reopened.bundleHistory(TD)).toHaveLength(10);
    expect((await reopened.lastAudit())?.id).toBe(1);
    expect(existsSync(join(dir, 'snapshot.json.tmp'))).toBe(false);
    await reopened.close();
  });

  it('refuses a directory already open in this process or held by a live process', async () => {
    const dir = nextDir();
    const store = await createFileStore({ dir });
    expect((await rejection(createFileStore({ dir }))).code).toBe('ERR_STORE_UNAVAILABLE');
    await store.close();

    const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], {
      stdio: 'ignore',
    });
    try {
      await writeFile(join(dir, 'LOCK'), `${holder.pid}\n`);
      expect((await rejection(createFileStore({ dir }))).code).toBe('ERR_STORE_LOCKED');
    } finally {
      const exited = new Promise((resolve) => holder.once('exit', resolve));
      holder.kill('SIGKILL');
      await exited;
    }
    // The holder died without cleaning up: its stale LOCK is taken over.
    const again = await createFileStore({ dir });
    await again.close();
    expect(existsSync(join(dir, 'LOCK'))).toBe(false);
  });

  it('hands out frozen records so a caller cannot change stored state by accident', async () => {
    const store = await createFileStore({ dir: nextDir() });
    await store.putRelationship(TD, { state: 'active', nested: { a: 1 } }, null);
    const got = await store.getRelationship(TD);
    expect(Object.isFrozen(got?.value)).toBe(true);
    expect(Object.isFrozen(got?.value['nested'])).toBe(true);
    await store.close();
  });
});
