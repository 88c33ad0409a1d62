// The file store's LOCK (issue 15, finding 11): a LOCK left by a dead process (reaped or still a
// zombie) or naming a pid now reused by an unrelated live process never blocks; a live holder does.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createFileStore } from '../../src/store/index.js';
import { rejection } from './contract.js';

let root = '';
let n = 0;
const children: ChildProcess[] = [];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fedbroker-lock-'));
});
afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function freshDir(): Promise<string> {
  const dir = join(root, `s${n++}`);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  return dir;
}

/** A live process unrelated to any broker (what a reused pid points at). */
function startSleeper(): number {
  const child = spawn('sleep', ['60'], { stdio: 'ignore' });
  children.push(child);
  if (child.pid === undefined) throw new Error('sleep did not start');
  return child.pid;
}

function startTimeOf(pid: number): string {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return text.slice(text.lastIndexOf(')') + 2).split(' ')[19] ?? '';
}

function bootId(): string {
  return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
}

/**
 * A zombie: a child of a parent that never reaps it (as a broker killed with -9 stays until its
 * supervisor calls wait). Resolves with the zombie's pid once /proc shows it in state Z.
 */
async function startZombie(): Promise<number> {
  const parent = spawn(
    'python3',
    [
      '-c',
      'import os, sys, time\npid = os.fork()\nif pid == 0:\n    os._exit(0)\nprint(pid, flush=True)\ntime.sleep(60)',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  children.push(parent);
  const pid = await new Promise<number>((resolve, reject) => {
    parent.stdout?.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim())));
    parent.once('error', reject);
  });
  for (let i = 0; i < 200; i++) {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (text.slice(text.lastIndexOf(')') + 2).startsWith('Z')) return pid;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error('no zombie');
}

describe.runIf(process.platform === 'linux')('file store LOCK (issue 15 finding 11)', () => {
  it('takes over a LOCK whose pid is now an unrelated live process (other start time)', async () => {
    const dir = await freshDir();
    const pid = startSleeper();
    const stale = { pid, startTime: String(Number(startTimeOf(pid)) - 500), bootId: bootId() };
    await writeFile(join(dir, 'LOCK'), `${JSON.stringify(stale)}\n`);
    const store = await createFileStore({ dir });
    const lock = JSON.parse(await readFile(join(dir, 'LOCK'), 'utf8')) as Record<string, unknown>;
    expect(lock['pid']).toBe(process.pid);
    expect(lock['startTime']).toBe(startTimeOf(process.pid));
    await store.close();
  });

  it('takes over an old-format LOCK (pid only) written before its pid was started', async () => {
    const dir = await freshDir();
    const pid = startSleeper();
    await writeFile(join(dir, 'LOCK'), `${pid}\n`);
    const anHourAgo = new Date(Date.now() - 3600_000);
    await utimes(join(dir, 'LOCK'), anHourAgo, anHourAgo);
    const store = await createFileStore({ dir });
    await store.close();
  });

  it('takes over a LOCK from before the last boot', async () => {
    const dir = await freshDir();
    const pid = startSleeper();
    const stale = { pid, startTime: startTimeOf(pid), bootId: 'another-boot' };
    await writeFile(join(dir, 'LOCK'), `${JSON.stringify(stale)}\n`);
    const store = await createFileStore({ dir });
    await store.close();
  });

  it.each(['pid only', 'pid + start time'])(
    'takes over a LOCK (%s) whose holder was killed and is an unreaped zombie (restart at once)',
    async (format) => {
      const dir = await freshDir();
      const pid = await startZombie();
      const dead = { pid, startTime: startTimeOf(pid), bootId: bootId() };
      await writeFile(
        join(dir, 'LOCK'),
        format === 'pid only' ? `${pid}\n` : `${JSON.stringify(dead)}\n`,
      );
      const store = await createFileStore({ dir });
      await store.close();
    },
  );

  it('refuses with ERR_STORE_LOCKED while the LOCK names a live holder (pid and start time)', async () => {
    const dir = await freshDir();
    const pid = startSleeper();
    const live = { pid, startTime: startTimeOf(pid), bootId: bootId() };
    await writeFile(join(dir, 'LOCK'), `${JSON.stringify(live)}\n`);
    const error = await rejection(createFileStore({ dir }));
    expect(error.code).toBe('ERR_STORE_LOCKED');
    // The holder's LOCK is left alone.
    expect(JSON.parse(await readFile(join(dir, 'LOCK'), 'utf8'))).toEqual(live);
  });

  it('a torn (empty) LOCK is taken over', async () => {
    const dir = await freshDir();
    await writeFile(join(dir, 'LOCK'), '');
    const store = await createFileStore({ dir });
    await store.close();
  });
});
