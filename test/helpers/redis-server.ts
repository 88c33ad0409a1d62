// Starts real redis-server processes (from PATH) on free loopback ports for the store tests:
// a standalone server that can be stopped and restarted on the same port, a Sentinel and a small cluster.
import { freePort } from './free-port.js';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const HOST = '127.0.0.1';
const STARTUP_TIMEOUT_MS = 15_000;
const live = new Set<ChildProcess>();

// Never leave a server behind, even when a test file ends without its afterAll: vitest stops its
// workers with SIGTERM, which skips 'exit' handlers, so kill ours and then re-raise the signal.
function killAll(): void {
  for (const child of live) child.kill('SIGKILL');
}
process.once('exit', killAll);
process.once('SIGTERM', () => {
  killAll();
  process.kill(process.pid, 'SIGTERM');
});

/** Throws with a clear message when redis-server is not installed (the tests need the real thing). */
export function requireRedisServer(): void {
  const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (probe.error !== undefined || probe.status !== 0) {
    throw new Error(
      'redis-server is not on PATH: the store tests need a real Redis (bash .ci/run installs it)',
    );
  }
}

export { freePort } from './free-port.js';

/** Sends one inline command and returns the first reply line (no client library involved). */
export function rawCommand(port: number, command: string, timeoutMs = 1000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: HOST, port });
    let data = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no reply from ${HOST}:${port}`));
    }, timeoutMs);
    socket.on('connect', () => socket.write(`${command}\r\n`));
    socket.on('data', (chunk) => {
      data += chunk.toString('utf8');
      if (data.includes('\r\n')) {
        clearTimeout(timer);
        socket.end();
        resolve(data);
      }
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

async function waitUntil(
  what: string,
  check: () => Promise<boolean>,
  exited: () => string | undefined,
): Promise<void> {
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  for (;;) {
    const failure = exited();
    if (failure !== undefined) throw new Error(`${what}: ${failure}`);
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what}: not ready after ${STARTUP_TIMEOUT_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export interface RedisServer {
  readonly host: string;
  readonly port: number;
  readonly url: string;
  readonly dir: string;
  readonly running: boolean;
  /** Starts it again on the same port with the same data directory (after `stop`). */
  start(): Promise<void>;
  /** Signals the server (SIGTERM by default: Redis flushes its AOF on the way out) and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** SIGSTOP / SIGCONT: the port stays open but nothing answers (a hung server). */
  pause(): void;
  resume(): void;
  /** Stops the server and removes its directory. */
  cleanup(): Promise<void>;
}

export interface RedisServerOptions {
  /** `appendonly yes` with `appendfsync always`, so data survives a restart. Default false. */
  readonly appendOnly?: boolean;
  readonly extraArgs?: readonly string[];
  /** A config file given as the first argument (cluster and Sentinel need one). */
  readonly configText?: (port: number, dir: string) => string;
  readonly sentinel?: boolean;
}

export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  requireRedisServer();
  const dir = await mkdtemp(join(tmpdir(), 'fedbroker-redis-'));
  const port = await freePort(HOST);
  let child: ChildProcess | undefined;
  let exitInfo: string | undefined;
  let output = '';

  async function start(): Promise<void> {
    if (child !== undefined) return;
    const args: string[] = [];
    if (options.configText !== undefined) {
      const file = join(dir, 'redis.conf');
      await writeFile(file, options.configText(port, dir));
      args.push(file);
    }
    if (options.sentinel === true) args.push('--sentinel');
    args.push('--port', String(port), '--bind', HOST, '--dir', dir, '--daemonize', 'no');
    args.push('--loglevel', 'warning');
    if (options.sentinel !== true) {
      args.push('--save', '', '--appendonly', options.appendOnly === true ? 'yes' : 'no');
      if (options.appendOnly === true) args.push('--appendfsync', 'always');
    }
    args.push(...(options.extraArgs ?? []));
    exitInfo = undefined;
    output = '';
    const spawned = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child = spawned;
    live.add(spawned);
    spawned.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    spawned.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    spawned.once('exit', (code, signal) => {
      live.delete(spawned);
      exitInfo = `redis-server exited (${String(code ?? signal)}): ${output.slice(-2000)}`;
      if (child === spawned) child = undefined;
    });
    spawned.once('error', (error) => {
      exitInfo = `cannot start redis-server: ${error.message}`;
    });
    try {
      await waitUntil(
        `redis-server on port ${port}`,
        async () => /^(\+PONG|-NOAUTH)/.test(await rawCommand(port, 'PING')),
        () => exitInfo,
      );
    } catch (error) {
      await stop('SIGKILL');
      throw error;
    }
  }

  async function stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const running = child;
    if (running === undefined) return;
    const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
    running.kill('SIGCONT');
    running.kill(signal);
    const timer = setTimeout(() => running.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
    child = undefined;
  }

  try {
    await start();
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    host: HOST,
    port,
    url: `redis://${HOST}:${port}`,
    dir,
    get running() {
      return child !== undefined;
    },
    start,
    stop,
    pause: () => child?.kill('SIGSTOP'),
    resume: () => child?.kill('SIGCONT'),
    cleanup: async () => {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface RedisCluster {
  readonly nodes: readonly string[];
  cleanup(): Promise<void>;
}

/** Three masters, no replicas, all slots assigned: enough to prove hash tags and per-node SCAN. */
export async function startRedisCluster(size = 3): Promise<RedisCluster> {
  const servers: RedisServer[] = [];
  try {
    for (let i = 0; i < size; i++) {
      servers.push(
        await startRedisServer({
          extraArgs: [
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            'nodes.conf',
            '--cluster-node-timeout',
            '5000',
          ],
        }),
      );
    }
    const nodes = servers.map((s) => `${HOST}:${s.port}`);
    const created = spawnSync(
      'redis-cli',
      ['--cluster', 'create', ...nodes, '--cluster-replicas', '0', '--cluster-yes'],
      { encoding: 'utf8', timeout: 30_000 },
    );
    if (created.status !== 0) {
      throw new Error(`redis-cli --cluster create failed: ${created.stdout}${created.stderr}`);
    }
    for (const server of servers) {
      await waitUntil(
        `cluster node ${server.port}`,
        async () => {
          const info = spawnSync('redis-cli', ['-p', String(server.port), 'cluster', 'info'], {
            encoding: 'utf8',
          });
          return info.stdout.includes('cluster_state:ok');
        },
        () => undefined,
      );
    }
    return {
      nodes,
      cleanup: async () => {
        await Promise.all(servers.map((s) => s.cleanup()));
      },
    };
  } catch (error) {
    await Promise.all(servers.map((s) => s.cleanup()));
    throw error;
  }
}

export interface RedisSentinel {
  readonly master: RedisServer;
  readonly name: string;
  readonly nodes: readonly string[];
  cleanup(): Promise<void>;
}

/** One master watched by one Sentinel (quorum 1). */
export async function startRedisSentinel(name = 'fedbroker'): Promise<RedisSentinel> {
  const master = await startRedisServer();
  try {
    const sentinel = await startRedisServer({
      sentinel: true,
      configText: (port, dir) =>
        [
          `port ${port}`,
          `bind ${HOST}`,
          `dir ${dir}`,
          `sentinel monitor ${name} ${HOST} ${master.port} 1`,
          '',
        ].join('\n'),
    });
    await waitUntil(
      `sentinel on port ${sentinel.port}`,
      async () =>
        spawnSync(
          'redis-cli',
          ['-p', String(sentinel.port), 'SENTINEL', 'get-master-addr-by-name', name],
          { encoding: 'utf8' },
        ).stdout.includes(String(master.port)),
      () => undefined,
    );
    return {
      master,
      name,
      nodes: [`${HOST}:${sentinel.port}`],
      cleanup: async () => {
        await sentinel.cleanup();
        await master.cleanup();
      },
    };
  } catch (error) {
    await master.cleanup();
    throw error;
  }
}
