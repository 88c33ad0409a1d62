// Builds the real `fedbroker` once per test process into .test-output/dist-<pid> and runs it as a
// child process.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..', '..');
// One directory per test process: vitest runs CLI test files in parallel forks, and a build
// rewriting files another fork is executing makes that fork's child fail at random.
const outDir = join(root, '.test-output', `dist-${process.pid}`);
export const BUILT_CLI = join(outDir, 'cli', 'main.js');
process.once('exit', () => rmSync(outDir, { recursive: true, force: true }));

/** Removes the builds of test processes that are gone (vitest may end a fork without 'exit'). */
function removeStaleBuilds(): void {
  const parent = join(root, '.test-output');
  for (const name of existsSync(parent) ? readdirSync(parent) : []) {
    const pid = Number(/^dist-(\d+)$/.exec(name)?.[1]);
    if (!Number.isSafeInteger(pid) || pid === process.pid) continue;
    try {
      process.kill(pid, 0);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ESRCH') {
        rmSync(join(parent, name), { recursive: true, force: true });
      }
    }
  }
}

/** `fedbroker init` arguments for a loopback broker: ephemeral bundle and agent ports, a fixed admin port. */
export function loopbackInitArgs(trustDomain: string, dir: string, adminPort: number): string[] {
  return [
    'init',
    '--trust-domain',
    trustDomain,
    '--dir',
    dir,
    '--host',
    '127.0.0.1',
    '--bundle-port',
    '0',
    '--agent-port',
    '0',
    '--admin-port',
    String(adminPort),
  ];
}

/** Polls `check` every 100 ms until it returns a value, at most `timeoutMs`. */
export async function eventually<T>(
  what: string,
  timeoutMs: number,
  check: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((done) => setTimeout(done, 100));
  }
}

let building: Promise<void> | undefined;

/** Compiles src/ with the production tsconfig into .test-output/dist-<pid> (once per test process). */
export function buildCli(): Promise<void> {
  building ??= new Promise((done, fail) => {
    removeStaleBuilds();
    execFile(
      process.execPath,
      [
        join(root, 'node_modules', 'typescript', 'bin', 'tsc'),
        '-p',
        join(root, 'src', 'tsconfig.build.json'),
        '--outDir',
        outDir,
      ],
      { cwd: root, timeout: 180_000 },
      (error, stdout, stderr) =>
        error
          ? fail(new Error(`build failed: ${stdout}${stderr}`))
          : existsSync(BUILT_CLI)
            ? done()
            : fail(new Error('no main.js')),
    );
  });
  return building;
}

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the built CLI to completion (asynchronously: brokers may run in this process). */
export function runBuilt(
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<RunResult> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [BUILT_CLI, ...args],
      {
        cwd: options.cwd ?? root,
        env: { PATH: process.env['PATH'], ...options.env },
        timeout: 60_000,
      },
      (error, stdout, stderr) =>
        done({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** Starts `fedbroker serve` and resolves once it printed its admin URL. */
export function startServe(
  configFile: string,
  env: NodeJS.ProcessEnv = {},
): Promise<{ child: ChildProcess; stdout: () => string; stderr: () => string }> {
  const child = spawn(process.execPath, [BUILT_CLI, 'serve', '--config', configFile], {
    env: { PATH: process.env['PATH'], ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr?.on('data', (chunk: Buffer) => (err += chunk.toString()));
  return new Promise((done, fail) => {
    const timer = setTimeout(() => fail(new Error(`serve did not start: ${err}`)), 60_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('admin API:')) {
        clearTimeout(timer);
        done({ child, stdout: () => out, stderr: () => err });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`serve exited with ${String(code)}: ${err}`));
    });
  });
}

/** Stops a served broker with SIGTERM and resolves with its exit code. */
export function stopServe(child: ChildProcess): Promise<number | null> {
  return new Promise((done) => {
    if (child.exitCode !== null) return done(child.exitCode);
    child.once('exit', (code) => done(code));
    child.kill('SIGTERM');
  });
}

/** A free loopback TCP port (for config files that need a fixed admin port). */
export function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => done(port));
    });
  });
}
