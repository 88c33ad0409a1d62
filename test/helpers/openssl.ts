// The openssl CLI as an async, bounded child process (never *Sync against servers running in the
// test process: that would block their event loop), for interop tests with s_client / s_server.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { within } from './agent.js';

/** Whether an `openssl` binary is on the PATH (tests skip without it). */
export const hasOpenssl = spawnSync('openssl', ['version'], { encoding: 'utf8' }).status === 0;

export interface OpensslRun {
  readonly child: ChildProcess;
  /** Everything written so far. */
  stdout: string;
  stderr: string;
  /** Exit code, or null when killed by a signal or when it could not start. */
  readonly exited: Promise<number | null>;
}

/** Starts `openssl ...args` with piped stdio. */
export function runOpenssl(args: readonly string[], options: { cwd?: string } = {}): OpensslRun {
  const child = spawn('openssl', [...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
  });
  const run: OpensslRun = {
    child,
    stdout: '',
    stderr: '',
    exited: new Promise((resolve) => {
      child.once('exit', (code) => resolve(code));
      child.once('error', () => resolve(null));
    }),
  };
  child.stdout?.on('data', (chunk: Buffer) => (run.stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (run.stderr += chunk.toString()));
  // A peer that closes first makes writes to stdin fail with EPIPE: not a test failure.
  child.stdin?.on('error', () => undefined);
  return run;
}

/** Polls `check` every 20 ms; rejects after `ms`. */
export async function waitUntil(check: () => boolean, label: string, ms: number): Promise<void> {
  await within(
    (async () => {
      while (!check()) await new Promise((resolve) => setTimeout(resolve, 20));
    })(),
    ms,
    label,
  );
}

/** Kills the process if it still runs and waits (bounded) for it to exit. */
export async function stopOpenssl(run: OpensslRun, ms = 10_000): Promise<void> {
  if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGKILL');
  await within(run.exited, ms, 'openssl exit').catch(() => undefined);
}
