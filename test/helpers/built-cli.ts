// Builds the real `fedbroker` once into .test-output/dist and runs it as a child process.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..', '..');
const outDir = join(root, '.test-output', 'dist');
export const BUILT_CLI = join(outDir, 'cli', 'main.js');

let building: Promise<void> | undefined;

/** Compiles src/ with the production tsconfig into .test-output/dist (once per test process). */
export function buildCli(): Promise<void> {
  building ??= new Promise((done, fail) => {
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
