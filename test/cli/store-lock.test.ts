// Issue 15 finding 11 against real `fedbroker serve` processes: a second live broker on the same data
// directory is refused (ERR_STORE_LOCKED); a broker killed with -9 is replaced at once, even while
// its supervisor has not reaped it yet (its pid is still a zombie).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BUILT_CLI,
  buildCli,
  freePort,
  loopbackInitArgs,
  runBuilt,
  startServe,
  stopServe,
} from '../helpers/built-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'fedbroker-lock-cli-'));
const config = join(dir, 'broker.yaml');
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  await buildCli();
  const init = await runBuilt(loopbackInitArgs('lock.example', dir, await freePort()));
  expect(init.code, init.stderr).toBe(0);
}, 240_000);

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
});

function kill(child: ChildProcess): Promise<unknown> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  return exited;
}

/**
 * `fedbroker serve` as the child of a supervisor that never reaps it, so that after kill -9 its pid
 * stays (a zombie) as it does until a real supervisor gets round to wait(). Resolves with the pid.
 */
async function serveUnderLazySupervisor(): Promise<number> {
  const supervisor = spawn(
    'python3',
    [
      '-c',
      'import os, sys, time\npid = os.fork()\nif pid == 0:\n    os.execv(sys.argv[1], sys.argv[1:])\nprint("child", pid, flush=True)\ntime.sleep(300)',
      process.execPath,
      BUILT_CLI,
      'serve',
      '--config',
      config,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env['PATH'] } },
  );
  cleanups.push(() => kill(supervisor));
  let out = '';
  let err = '';
  supervisor.stderr?.on('data', (chunk: Buffer) => (err += chunk.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${err}`)), 60_000);
    supervisor.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const pid = /child (\d+)/.exec(out)?.[1];
      if (pid !== undefined && out.includes('admin API:')) {
        clearTimeout(timer);
        resolve(Number(pid));
      }
    });
    supervisor.once('exit', () => reject(new Error(`supervisor exited: ${err}`)));
  });
}

function stateOf(pid: number): string {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return text.slice(text.lastIndexOf(')') + 2).charAt(0);
}

describe.runIf(process.platform === 'linux')('store LOCK across real brokers', () => {
  it('refuses a second live broker (ERR_STORE_LOCKED), then starts at once after kill -9 of the first', async () => {
    const first = await serveUnderLazySupervisor();
    cleanups.push(async () => process.kill(first, 'SIGKILL'));

    const second = await runBuilt(['serve', '--config', config]);
    expect(second.code).not.toBe(0);
    expect(second.stderr).toContain('ERR_STORE_LOCKED');

    process.kill(first, 'SIGKILL');
    for (let i = 0; i < 500 && stateOf(first) !== 'Z'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(stateOf(first)).toBe('Z');

    const restarted = await startServe(config);
    cleanups.push(() => kill(restarted.child));
    const adminUrl = /admin API:\s+(\S+)/.exec(restarted.stdout())?.[1];
    expect((await fetch(`${String(adminUrl)}/healthz`)).status).toBe(200);
    expect(await stopServe(restarted.child)).toBe(0);
  }, 120_000);
});
