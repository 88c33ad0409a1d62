// Crash safety of the file store: a child process writing in a tight loop is SIGKILLed at random moments;
// after every kill the store opens, every record is readable, invariants hold and no acknowledged write is lost.
// The writer is bundled once with esbuild (tsx's and vite's own), so each of the 20 children starts in
// plain node instead of compiling TypeScript again.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFileStore } from '../../src/store/index.js';
import { checkChain, TD } from './contract.js';

const WRITER = fileURLToPath(new URL('./fixtures/file-writer.ts', import.meta.url));
const ROUNDS = 10;

let dir = '';
let writerJs = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fedbroker-crash-'));
  writerJs = join(dir, 'file-writer.mjs');
  await build({
    entryPoints: [WRITER],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile: writerJs,
    logLevel: 'error',
    // Bundled CommonJS dependencies (ioredis, through the store index) call require().
    banner: {
      js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
    },
  });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface Acks {
  readonly lines: string[];
  max(kind: string): number;
  has(line: string): boolean;
}

/** Runs the writer, kills it `killAfterMs` after it is ready, and returns its complete output lines. */
async function runAndKill(killAfterMs: number, target = dir, args: string[] = []): Promise<Acks> {
  const child = spawn(process.execPath, [writerJs, target, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString('utf8');
    if (out.startsWith('ready\n') && !child.killed) {
      setTimeout(() => child.kill('SIGKILL'), killAfterMs);
      out = out.replace(/^ready\n/, 'started\n');
    }
  });
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));
  // 'close', not 'exit': 'exit' can come before the last lines in the pipe are read, and a missed
  // "token N+1" line makes the consumed t{N} look lost (seen once under load).
  const exit = await new Promise<string>((resolve) =>
    child.once('close', (code, signal) => resolve(String(signal ?? code))),
  );
  if (exit !== 'SIGKILL') throw new Error(`writer exited with ${exit}: ${err}`);
  // A line cut by the kill has no newline yet: it was never acknowledged.
  const lines = out.split('\n').slice(0, -1);
  return {
    lines,
    max: (kind) =>
      Math.max(
        0,
        ...lines.filter((l) => l.startsWith(`${kind} `)).map((l) => Number(l.split(' ')[1])),
      ),
    has: (line) => lines.includes(line),
  };
}

describe('file store under SIGKILL', () => {
  it(`reads a consistent state after each of ${ROUNDS} kills and loses nothing acknowledged`, async () => {
    let totalAcks = 0;
    const warnings: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const acks = await runAndKill(50 + Math.floor(Math.random() * 400));
      totalAcks += acks.lines.length - 1;

      const store = await createFileStore(
        { dir },
        { logger: { info: () => undefined, warn: (message) => warnings.push(message) } },
      );
      try {
        const bundle = await store.getBundle(TD);
        expect(Number(bundle?.sequence ?? 0)).toBeGreaterThanOrEqual(acks.max('bundle'));
        const history = await store.bundleHistory(TD);
        expect(history[0]).toEqual(bundle);
        expect(history.length).toBeLessThanOrEqual(10);
        history.forEach((h, i) => {
          expect(h.raw).toContain(`"k${h.sequence}"`);
          if (i > 0) expect(Number(h.sequence)).toBe(Number(history[i - 1]?.sequence) - 1);
        });

        const audit = await store.listAudit({ limit: 10_000 });
        expect(audit.map((r) => r.id)).toEqual(audit.map((_, i) => i + 1));
        checkChain(audit);
        expect(audit.length).toBeGreaterThanOrEqual(acks.max('audit'));

        const tokens = new Set((await store.listTokens(1)).map((t) => t.hash));
        for (const line of acks.lines.filter((l) => l.startsWith('consumed '))) {
          expect(tokens.has(`t${line.split(' ')[1]}`)).toBe(false);
        }
        const lastPut = acks.max('token');
        // Its consumption only starts after the next token is acknowledged.
        if (lastPut > 0 && !acks.has(`token ${lastPut + 1}`)) {
          expect(tokens.has(`t${lastPut}`)).toBe(true);
        }
        // A kill between a put and the next consume can strand at most one token per round.
        expect(tokens.size).toBeLessThanOrEqual(round + 2);

        const entry = await store.getEntry('e');
        expect(entry?.version ?? 0).toBeGreaterThanOrEqual(acks.max('entry'));
        const local = await store.getLocalBundle();
        expect(Number(local?.sequence ?? 0)).toBeGreaterThanOrEqual(acks.max('local'));
        expect(local?.raw ?? '{"keys":[],"n":0}').toBe(`{"keys":[],"n":${local?.sequence ?? 0}}`);
      } finally {
        await store.close();
      }
    }
    // The kills must have landed in the middle of real work, snapshots included.
    expect(existsSync(join(dir, 'snapshot.json'))).toBe(true);
    expect(totalAcks).toBeGreaterThan(ROUNDS * 10);
  }, 120_000);

  it(`group commits: after each of ${ROUNDS} kills every acknowledged put and consume holds, with 16 writes in flight`, async () => {
    const grouped = join(dir, 'grouped');
    const seen = { puts: 0, consumes: 0 };
    for (let round = 0; round < ROUNDS; round++) {
      const run = String(round);
      const acks = await runAndKill(30 + Math.floor(Math.random() * 200), grouped, ['groups', run]);
      const store = await createFileStore({ dir: grouped });
      try {
        const tokens = new Set((await store.listTokens(1)).map((t) => t.hash));
        const puts = acks.lines.filter((l) => l.startsWith('put ')).map((l) => l.slice(4));
        const consumed = new Set(
          acks.lines.filter((l) => l.startsWith('consumed ')).map((l) => l.slice(9)),
        );
        for (const n of puts) {
          // Odd tokens are never consumed; an even one is gone only if its consume may have landed.
          if (Number(n) % 2 === 1) expect(tokens.has(`g${run}-${n}`), `g${run}-${n}`).toBe(true);
        }
        for (const n of consumed) expect(tokens.has(`g${run}-${n}`), `g${run}-${n}`).toBe(false);
        seen.puts += puts.length;
        seen.consumes += consumed.size;
      } finally {
        await store.close();
      }
    }
    expect(seen.puts).toBeGreaterThan(ROUNDS * 16);
    expect(seen.consumes).toBeGreaterThan(0);
  }, 120_000);

  it(`keeps the audit chain across ${ROUNDS} kills while segments roll and unlink (auditMaxLength 5)`, async () => {
    const small = join(dir, 'small-audit');
    const max = 5;
    let lastId = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const acks = await runAndKill(50 + Math.floor(Math.random() * 400), small, [String(max)]);
      const store = await createFileStore(
        { dir: small, auditMaxLength: max },
        { logger: { info: () => undefined, warn: () => undefined } },
      );
      try {
        const audit = await store.listAudit({ limit: 100 });
        const last = audit.at(-1)?.id ?? 0;
        expect(last).toBeGreaterThanOrEqual(Math.max(lastId, acks.max('audit')));
        expect(audit.map((r) => r.id)).toEqual(
          Array.from({ length: Math.min(max, last) }, (_, i) => last - Math.min(max, last) + 1 + i),
        );
        checkChain(audit);
        lastId = last;
      } finally {
        await store.close();
      }
      // After an open, disk holds at most auditMax + one segment (segments of auditMax records),
      // contiguous up to the last id, the oldest file named by its first id.
      const folder = join(small, 'audit');
      const names = (await readdir(folder)).sort();
      const counts = await Promise.all(
        names.map(
          async (name) => (await readFile(join(folder, name), 'utf8')).split('\n').length - 1,
        ),
      );
      const onDisk = counts.reduce((a, b) => a + b, 0);
      expect(onDisk).toBeLessThan(2 * max);
      const oldest = lastId - onDisk + 1;
      expect(names.at(0)).toBe(`${String(oldest).padStart(20, '0')}.log`);
    }
    expect(lastId).toBeGreaterThan(ROUNDS * max);
  }, 120_000);
});
