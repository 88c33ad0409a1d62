// Builds the real `fedbroker` once per vitest run into .test-output/dist-<run> and runs it as a
// child process. The first test process that needs it builds; the others wait for that build.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..', '..');
const parent = join(root, '.test-output');
// One build per vitest run (FEDBROKER_TEST_RUN is the vitest process id, set in vitest.config.ts),
// shared by its test processes: a build per test file cost ~8 s each. Outside vitest, one per process.
// A build never rewrites a directory a test process is executing: it goes to a temporary directory
// renamed into place when complete.
const run = /^\d+$/.test(process.env['FEDBROKER_TEST_RUN'] ?? '')
  ? String(process.env['FEDBROKER_TEST_RUN'])
  : String(process.pid);
const outDir = join(parent, `dist-${run}`);
const lockDir = `${outDir}.lock`;
/** The directory of the run's build (tsc with src/tsconfig.build.json): what `npm run build` writes to dist/. */
export const BUILT_DIR = outDir;
export const BUILT_CLI = join(outDir, 'cli', 'main.js');
if (run === String(process.pid)) {
  process.once('exit', () => rmSync(outDir, { recursive: true, force: true }));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/** Removes the builds, locks and partial builds of runs or builders that are gone. */
function removeStaleBuilds(): void {
  for (const name of existsSync(parent) ? readdirSync(parent) : []) {
    const match = /^dist-(\d+)(?:\.tmp-(\d+))?(?:\.lock)?$/.exec(name);
    if (!match) continue;
    const owners = [Number(match[1]), ...(match[2] === undefined ? [] : [Number(match[2])])];
    if (owners.some((pid) => pid !== process.pid && !alive(pid))) {
      rmSync(join(parent, name), { recursive: true, force: true });
    }
  }
}

/** Takes the build lock; false when a live process holds it (a dead holder's lock is taken over). */
function takeLock(): boolean {
  try {
    mkdirSync(lockDir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    const holder = Number(readFileSafe(join(lockDir, 'pid')));
    if (!Number.isSafeInteger(holder) || holder <= 0 || alive(holder)) return false;
    rmSync(lockDir, { recursive: true, force: true });
    return takeLock();
  }
  writeFileSync(join(lockDir, 'pid'), String(process.pid));
  return true;
}

function readFileSafe(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return 'unknown';
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

/** Compiles src/ with the production tsconfig into `tmpDir` (node_modules/typescript's tsc). */
function compile(tmpDir: string): Promise<void> {
  return new Promise((done, fail) => {
    execFile(
      process.execPath,
      [
        join(root, 'node_modules', 'typescript', 'bin', 'tsc'),
        '-p',
        join(root, 'src', 'tsconfig.build.json'),
        '--outDir',
        tmpDir,
      ],
      { cwd: root, timeout: BUILD_TIMEOUT_MS },
      (error, stdout, stderr) =>
        error
          ? fail(new Error(`build failed: ${stdout}${stderr}`))
          : existsSync(join(tmpDir, 'cli', 'main.js'))
            ? done()
            : fail(new Error('no main.js')),
    );
  });
}

const BUILD_TIMEOUT_MS = 180_000;

/** Builds (holding the lock) or waits for the build another test process of this run is making. */
async function buildOnce(): Promise<void> {
  mkdirSync(parent, { recursive: true });
  removeStaleBuilds();
  const deadline = Date.now() + 2 * BUILD_TIMEOUT_MS;
  while (!existsSync(BUILT_CLI)) {
    if (takeLock()) {
      try {
        if (existsSync(BUILT_CLI)) return;
        const tmpDir = `${outDir}.tmp-${process.pid}`;
        rmSync(tmpDir, { recursive: true, force: true });
        await compile(tmpDir);
        renameSync(tmpDir, outDir);
        return;
      } finally {
        rmSync(lockDir, { recursive: true, force: true });
      }
    }
    if (Date.now() > deadline)
      throw new Error(`no build in ${outDir} within ${2 * BUILD_TIMEOUT_MS} ms`);
    await new Promise((done) => setTimeout(done, 100));
  }
}

let building: Promise<void> | undefined;

/** Builds src/ with the production tsconfig into .test-output/dist-<run> (once per vitest run). */
export function buildCli(): Promise<void> {
  building ??= buildOnce();
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
export { freePort } from './free-port.js';
