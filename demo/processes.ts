// The processes the demo runs (the brokers, each `fedbroker` CLI call) and everything it must clean
// up when it ends, however it ends: child processes, SDK agents, Workload API sources, servers and
// the working directory.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Agent, WorkloadApiSource } from '../src/agent/index.js';
import { expect } from './report.js';
import { CLI, CLI_TIMEOUT_MS, READY_TIMEOUT_MS, STOP_GRACE_MS } from './settings.js';
import { within } from './wait.js';

// ---- everything to clean up ----------------------------------------------------------------------

export const children = new Set<ChildProcess>();
export const agents: Agent[] = [];
export const workloadSources: WorkloadApiSource[] = [];
export const servers: Server[] = [];
export const tempDir = mkdtempSync(join(tmpdir(), 'fedbroker-demo-'));

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((done) => {
    if (child.exitCode !== null || child.signalCode !== null) return done();
    const kill = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    child.once('exit', () => {
      clearTimeout(kill);
      done();
    });
    child.kill('SIGTERM');
  });
}

let cleaning: Promise<void> | undefined;
export function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    await Promise.allSettled([
      ...agents.map((agent) => within(agent.close(), STOP_GRACE_MS, 'agent close')),
      ...workloadSources.map((source) => within(source.close(), STOP_GRACE_MS, 'source close')),
    ]);
    for (const server of servers) {
      server.closeAllConnections();
      server.close();
    }
    await Promise.allSettled([...children].map(stopChild));
    rmSync(tempDir, { recursive: true, force: true });
  })();
  return cleaning;
}

// ---- the CLI -------------------------------------------------------------------------------------

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the built `fedbroker` as a child process with only the environment it needs. */
function runCli(args: readonly string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((done) => {
    const child = execFile(
      process.execPath,
      [CLI, ...args],
      {
        cwd: tempDir,
        env: { PATH: process.env['PATH'] ?? '', ...env },
        timeout: CLI_TIMEOUT_MS,
        killSignal: 'SIGKILL',
      },
      (error, stdout, stderr) => {
        children.delete(child);
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
        done({ code, stdout, stderr });
      },
    );
    children.add(child);
  });
}

// ---- brokers -------------------------------------------------------------------------------------

export interface BrokerProcess {
  readonly td: string;
  readonly dir: string;
  readonly config: string;
  readonly token: string;
  readonly ports: { bundle: number; agent: number; admin: number };
  child?: ChildProcess;
  readonly log: string[];
}

/** Every broker the demo set up, in order: a failed run prints their last log lines. */
export const allBrokers: BrokerProcess[] = [];

export function brokerOf(td: string, ports: number[]): BrokerProcess {
  const [bundle = 0, agent = 0, admin = 0] = ports;
  const dir = join(tempDir, td);
  const broker: BrokerProcess = {
    td,
    dir,
    config: join(dir, 'broker.yaml'),
    token: `fbat_demo_${randomBytes(24).toString('base64url')}`,
    ports: { bundle, agent, admin },
    log: [],
  };
  allBrokers.push(broker);
  return broker;
}

/** `fedbroker <args> --config <broker>` with the broker's admin token; throws on a non-zero exit. */
export async function fed(broker: BrokerProcess, args: readonly string[]): Promise<string> {
  const result = await fedRaw(broker, args);
  expect(
    result.code === 0,
    `${broker.td}: fedbroker ${args.join(' ')} exited ${result.code}: ${result.stderr.trim()}`,
  );
  return result.stdout;
}

export function fedRaw(broker: BrokerProcess, args: readonly string[]): Promise<CliResult> {
  return runCli([...args, '--config', broker.config], { FEDBROKER_ADMIN_TOKEN: broker.token });
}

export async function fedJson<T>(broker: BrokerProcess, args: readonly string[]): Promise<T> {
  return JSON.parse(await fed(broker, [...args, '--json'])) as T;
}

export async function startBroker(broker: BrokerProcess): Promise<void> {
  const init = await runCli([
    'init',
    '--trust-domain',
    broker.td,
    '--dir',
    broker.dir,
    '--host',
    '127.0.0.1',
    '--bundle-port',
    String(broker.ports.bundle),
    '--agent-port',
    String(broker.ports.agent),
    '--admin-port',
    String(broker.ports.admin),
  ]);
  expect(init.code === 0, `${broker.td}: fedbroker init failed: ${init.stderr.trim()}`);
  const child = spawn(process.execPath, [CLI, 'serve', '--config', broker.config], {
    cwd: tempDir,
    env: { PATH: process.env['PATH'] ?? '', FEDBROKER_ADMIN_TOKEN: broker.token },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  broker.child = child;
  const keep = (chunk: Buffer): void => {
    broker.log.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    broker.log.splice(0, Math.max(0, broker.log.length - 40));
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  child.once('exit', () => children.delete(child));
  const readyz = `http://127.0.0.1:${broker.ports.admin}/readyz`;
  const start = Date.now();
  for (;;) {
    expect(child.exitCode === null, `${broker.td}: fedbroker serve exited (${child.exitCode})`);
    try {
      const response = await fetch(readyz, { signal: AbortSignal.timeout(1000) });
      if (response.status === 200) return;
    } catch {
      // not listening yet
    }
    expect(
      Date.now() - start < READY_TIMEOUT_MS,
      `${broker.td}: ${readyz} not ready after ${READY_TIMEOUT_MS} ms`,
    );
    await new Promise((done) => setTimeout(done, 100));
  }
}
