// Runs the example workloads of other languages as child processes against a node agent's socket:
// examples/python/spiffe_workload.py (grpcio, ssl, PyJWT) and examples/go (grpc-go, crypto/x509,
// crypto/tls), each with stubs generated from the published workload.proto. Debian's packages,
// installed by .ci/run: python3-grpcio python3-grpc-tools python3-cryptography python3-jwt, and
// golang-go protobuf-compiler golang-goprotobuf-dev protoc-gen-go-grpc golang-google-grpc-dev
// golang-google-protobuf-dev (Go builds offline in GOPATH mode against /usr/share/gocode).
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WORKLOAD_PROTO } from './workload-client.js';

/** Debian's python3 (the apt packages install there), unless FEDBROKER_TEST_PYTHON names another. */
export const PYTHON = process.env['FEDBROKER_TEST_PYTHON'] ?? '/usr/bin/python3';
const PYTHON_SCRIPT = fileURLToPath(
  new URL('../../examples/python/spiffe_workload.py', import.meta.url),
);
const GO_SOURCES = fileURLToPath(new URL('../../examples/go/', import.meta.url));
const PROTO_DIR = join(WORKLOAD_PROTO, '..');

/** A program to run: the command, its arguments before the mode (check, serve, dial) and after. */
export interface WorkloadProgram {
  readonly command: string;
  readonly args: readonly string[];
  readonly afterMode: readonly string[];
}

function runOk(command: string, args: readonly string[], env?: NodeJS.ProcessEnv): void {
  const result = spawnSync(command, args, { encoding: 'utf8', env: env ?? process.env });
  if (result.status !== 0) {
    const why = result.error?.message ?? result.stderr;
    throw new Error(`${command} ${args.join(' ')} failed: ${why}`);
  }
}

/** The Python example, with workload_pb2*.py generated from the published proto into `dir`. */
export function pythonWorkload(dir: string): WorkloadProgram {
  mkdirSync(dir, { recursive: true });
  runOk(PYTHON, [
    '-m',
    'grpc_tools.protoc',
    `-I${PROTO_DIR}`,
    `--python_out=${dir}`,
    `--grpc_python_out=${dir}`,
    'workload.proto',
  ]);
  return { command: PYTHON, args: [PYTHON_SCRIPT], afterMode: ['--stubs', dir] };
}

/**
 * The Go example built in `dir` (GOPATH mode, nothing downloaded): stubs from the published proto
 * with protoc-gen-go and protoc-gen-go-grpc, then `go build`. The build cache is kept in the
 * system's temporary directory across runs (a cold build takes about 20 s on 2 cores).
 */
export function goWorkload(dir: string): WorkloadProgram {
  const pkg = join(dir, 'src', 'spiffeworkload');
  mkdirSync(join(pkg, 'workload'), { recursive: true });
  for (const file of readdirSync(GO_SOURCES).filter((name) => name.endsWith('.go'))) {
    copyFileSync(join(GO_SOURCES, file), join(pkg, file));
  }
  // Debian's protoc-gen-go is the legacy one (github.com/golang/protobuf 1.3, what grpc-go 1.33
  // marshals with): its own google.protobuf.Struct, not google.golang.org/protobuf's.
  const mapping =
    'Mworkload.proto=spiffeworkload/workload,' +
    'Mgoogle/protobuf/struct.proto=github.com/golang/protobuf/ptypes/struct';
  runOk('protoc', [
    `-I${PROTO_DIR}`,
    '-I/usr/include',
    `--go_out=${join(pkg, 'workload')}`,
    '--go_opt=paths=source_relative',
    `--go_opt=${mapping}`,
    `--go-grpc_out=${join(pkg, 'workload')}`,
    '--go-grpc_opt=paths=source_relative',
    `--go-grpc_opt=${mapping}`,
    'workload.proto',
  ]);
  const binary = join(dir, 'spiffe-workload');
  runOk('go', ['build', '-o', binary, 'spiffeworkload'], {
    PATH: process.env['PATH'] ?? '',
    HOME: dir,
    GOPATH: `${dir}:/usr/share/gocode`,
    GO111MODULE: 'off',
    GOPROXY: 'off',
    GOFLAGS: '',
    GOCACHE: join(tmpdir(), 'fedbroker-test-gocache'),
  });
  if (!existsSync(binary)) throw new Error('go build made no binary');
  return { command: binary, args: [], afterMode: [] };
}

export interface ProgramRun {
  readonly code: number | null;
  readonly lines: Record<string, unknown>[];
  readonly stderr: string;
}

function parseLines(out: string): Record<string, unknown>[] {
  return out
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/**
 * Starts `program mode ...args` with SPIFFE_ENDPOINT_SOCKET set to `socket` (killed after 30 s);
 * `firstLine` resolves with its first JSON line (serve prints its port), `done` when it exits.
 */
export function startProgram(
  program: WorkloadProgram,
  socket: string,
  mode: 'check' | 'serve' | 'dial',
  args: readonly string[],
): { firstLine: Promise<Record<string, unknown>>; done: Promise<ProgramRun> } {
  const child = spawn(program.command, [...program.args, mode, ...program.afterMode, ...args], {
    env: { PATH: process.env['PATH'] ?? '', SPIFFE_ENDPOINT_SOCKET: `unix://${socket}` },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const done = new Promise<ProgramRun>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      try {
        resolve({ code, lines: parseLines(out), stderr: err });
      } catch (error) {
        reject(new Error(`${program.command} printed no JSON (${String(error)}): ${out} ${err}`));
      }
    });
  });
  const firstLine = new Promise<Record<string, unknown>>((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const end = out.indexOf('\n');
      if (end >= 0) resolve(JSON.parse(out.slice(0, end)) as Record<string, unknown>);
    });
    void done.then((run) => reject(new Error(`exited ${String(run.code)}: ${run.stderr}`)));
  });
  // runProgram never reads the first line: its rejection at exit must not count as unhandled.
  firstLine.catch(() => undefined);
  child.stderr?.on('data', (chunk: Buffer) => (err += chunk.toString()));
  return { firstLine, done };
}

/** Runs `program mode ...args` to its end. */
export function runProgram(
  program: WorkloadProgram,
  socket: string,
  mode: 'check' | 'serve' | 'dial',
  args: readonly string[],
): Promise<ProgramRun> {
  return startProgram(program, socket, mode, args).done;
}
