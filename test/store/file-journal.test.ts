// The file store's journal group commit: writes staged together share one durable write, each write
// decides on the changes staged before it, readers see a change only once it is durable, and a failed
// write refuses its group and every group that decided on top of it.
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openJournal, type Journal } from '../../src/store/file/journal.js';
import type { Change } from '../../src/store/file/state.js';
import { createFileStore, type TokenRecord } from '../../src/store/index.js';
import { canLimitFileSize, runWithFileSizeLimit } from '../helpers/fsize-child.js';

let root = '';
let n = 0;
const nextDir = (): string => join(root, `j${n++}`);

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fedbroker-journal-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const open = async (dir: string): Promise<Journal> => {
  await mkdir(dir, { recursive: true });
  return openJournal(dir, {
    compactBytes: 8 * 1024 * 1024,
    nowMs: () => 0,
    logger: undefined,
    checkOpen: () => undefined,
  });
};
const token = (hash: string): TokenRecord => ({ hash, expiresAt: 9e12, data: {} });
const putToken = (hash: string): Change => ({
  op: 'put',
  coll: 'token',
  id: hash,
  value: token(hash),
});
/** The sequence numbers of the journal's lines, in file order. */
async function journalSeqs(dir: string): Promise<number[]> {
  const text = await readFile(join(dir, 'journal.log'), 'utf8');
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => (JSON.parse(line.slice(17)) as { n: number }).n);
}

describe('file store journal: group commit', () => {
  it('writes staged while another is in flight share the next durable write, in order', async () => {
    const dir = nextDir();
    const journal = await open(dir);
    const written = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        journal.write(() => ({ changes: [putToken(`t${i}`)], result: i })),
      ),
    );
    expect(written).toEqual(Array.from({ length: 50 }, (_, i) => i));
    // The first write went alone (the journal was idle); the other 49 were staged during it.
    expect(journal.writes()).toBe(2);
    expect(journal.records()).toBe(50);
    expect(await journalSeqs(dir)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    await journal.close();
    const reopened = await open(dir);
    expect([...reopened.state.token.keys()].sort()).toEqual(
      Array.from({ length: 50 }, (_, i) => `t${i}`).sort(),
    );
    await reopened.close();
  });

  it('a decision sees the changes staged before it; memory shows them only once durable', async () => {
    const journal = await open(nextDir());
    const order: string[] = [];
    const put = journal.write(() => ({ changes: [putToken('a')], result: 'put' }));
    const put2 = journal.write(() => ({ changes: [putToken('b')], result: 'put' }));
    // Staged behind the put of b (not yet durable): it sees b and consumes it.
    const consumed = journal.write((view) => {
      const found = view.get('token', 'b');
      return {
        changes: found === undefined ? [] : [{ op: 'del', coll: 'token', id: 'b' }],
        result: found,
      };
    });
    // Changes nothing, but its answer rests on the staged put of a: it waits for that write.
    const seen = journal.write((view) => ({ changes: [], result: view.has('token', 'a') }));
    for (const [name, p] of [
      ['put', put],
      ['put2', put2],
      ['consumed', consumed],
      ['seen', seen],
    ] as const) {
      void p.then(() => order.push(name));
    }
    // Nothing is durable yet, so nothing is in memory.
    expect(journal.state.token.size).toBe(0);
    expect(await consumed).toEqual(token('b'));
    expect(await seen).toBe(true);
    await journal.idle();
    expect(order.indexOf('seen')).toBeGreaterThan(order.indexOf('put'));
    expect([...journal.state.token.keys()]).toEqual(['a']);
    await journal.close();
  });

  it('a decision that throws stages nothing and fails alone', async () => {
    const dir = nextDir();
    const journal = await open(dir);
    const results = await Promise.allSettled([
      journal.write(() => ({ changes: [putToken('x')], result: 1 })),
      journal.write(() => {
        throw new Error('conflict');
      }),
      journal.write(() => ({ changes: [putToken('y')], result: 3 })),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(await journalSeqs(dir)).toEqual([1, 2]);
    await journal.close();
  });

  it('store contract on top: one of many concurrent consumers of a token staged in the same group wins', async () => {
    const store = await createFileStore({ dir: nextDir() });
    const put = store.putToken(token('once'));
    const consumers = await Promise.all(
      Array.from({ length: 10 }, () => store.consumeToken('once', 1)),
    );
    await put;
    expect(consumers.filter((c) => c !== undefined)).toHaveLength(1);
    expect(await store.listTokens(1)).toEqual([]);
    await store.close();
  });

  // A full disk, made real with RLIMIT_FSIZE on a child process.
  it.runIf(canLimitFileSize)(
    'a failed group write refuses that group and the one that decided on it, applies neither, and the next write succeeds',
    async () => {
      const dir = nextDir();
      const { code, out, err } = await runWithFileSizeLimit(
        fileURLToPath(new URL('./fixtures/journal-fsize.ts', import.meta.url)),
        16384,
        [dir, String(32 * 1024)],
      );
      expect(err).toBe('');
      expect(code).toBe(0);
      const result = JSON.parse(out) as Record<string, unknown>;
      expect(result['first']).toEqual({ ok: true, value: null });
      expect(result['big']).toEqual({ ok: false, code: 'ERR_STORE_UNAVAILABLE' });
      expect(result['second']).toEqual({ ok: false, code: 'ERR_STORE_UNAVAILABLE' });
      // It saw the staged token, but the write it rested on failed: refused, not a false success.
      expect(result['dependent']).toEqual({ ok: false, code: 'ERR_STORE_UNAVAILABLE' });
      expect(result['after']).toEqual({ ok: true, value: null });
      expect(result['inMemory']).toEqual(['after', 'first']);
      // The failed write was cut off: the journal holds records 1 and 2 only.
      expect(await journalSeqs(dir)).toEqual([1, 2]);
      const reopened = await createFileStore({ dir });
      expect((await reopened.listTokens(1)).map((t) => t.hash).sort()).toEqual(['after', 'first']);
      await reopened.close();
    },
  );
});
