// The Redis store's connection: connects once (bounded by connectTimeoutMs), logs outages once each,
// and runs every piece of Redis work through `call`, which maps ioredis failures to ERR_STORE_* codes
// and puts a hard deadline on the whole call, and `run`, which sends a Lua script by SHA.
import { Cluster } from 'ioredis';
import { StoreError } from '../../errors.js';
import type { StoreLogger } from '../store.js';
import type { Built, Client } from './client.js';
import {
  CORRUPT_REPLY,
  LATE_REPLY,
  SERVER_TIME_MS,
  WRITE_COMMAND,
  type Script,
} from './scripts.js';

export function unavailable(message: string, cause?: unknown): StoreError {
  return new StoreError('ERR_STORE_UNAVAILABLE', message, {
    ...(cause === undefined ? {} : { cause }),
  });
}

/** A Lua error on stored data: a command in the script refused it (ERR ...) or Lua itself failed. */
const SCRIPT_DATA_ERROR = /^ERR\b[\s\S]*user_script/;

function mapError(what: string, error: unknown): Error {
  if (error instanceof StoreError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const corrupt = (text: string): StoreError =>
    new StoreError('ERR_STORE_CORRUPT', `${text} (${what})`, { cause: error });
  if (message.startsWith('WRONGTYPE')) return corrupt('redis key holds the wrong type');
  if (message.startsWith(`${CORRUPT_REPLY} `)) return corrupt('stored record is damaged');
  if (SCRIPT_DATA_ERROR.test(message)) return corrupt('redis script failed on the stored data');
  if (message.startsWith(`${LATE_REPLY} `)) {
    return unavailable(`redis refused a request that reached it after its deadline (${what})`);
  }
  return unavailable(`redis store unavailable (${what})`, error);
}

export function waitForReady(client: Client, timeoutMs: number): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onReady = (): void => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      client.off('ready', onReady);
      reject(unavailable(`redis did not become ready within ${timeoutMs} ms`));
    }, timeoutMs);
    client.once('ready', onReady);
  });
}

export interface ConnectionSettings {
  /** Per-command bound (ioredis `commandTimeout`). */
  readonly commandTimeoutMs: number;
  /** Unanswered commands on one connection past which a call is refused at once. */
  readonly maxCommandsInFlight: number;
  /** How long a new connection may take to become ready. */
  readonly connectTimeoutMs: number;
  readonly logger: StoreLogger | undefined;
}

/** The main client plus the store's closed flag; see `connectRedis`. */
export class RedisConnection {
  readonly client: Client;
  readonly mode: Built['mode'];
  readonly target: string;
  /** Set by the store's close(): every later call is refused. */
  closed = false;
  /** The last connection error, given as the cause when the first connection never comes up. */
  lastError: unknown;
  /** Bound on a whole store call, in case a retry path inside ioredis outlives `commandTimeout`. */
  private readonly hangGuardMs: number;

  constructor(
    built: Built,
    readonly settings: ConnectionSettings,
  ) {
    this.client = built.client;
    this.mode = built.mode;
    this.target = built.target;
    this.hangGuardMs = settings.commandTimeoutMs * 2 + 1000;
  }

  /** Logs the first error after each successful connection only: no log line per retry. */
  watch(connection: Client, role: 'main' | 'subscriber'): void {
    let reported = false;
    connection.on('ready', () => {
      reported = false;
    });
    connection.on('error', (error: unknown) => {
      this.lastError = error;
      if (reported) return;
      reported = true;
      this.settings.logger?.warn?.('store: redis error', { role, error: String(error) });
    });
    // Cluster reports per-node errors separately; the cluster-level events above are what matter.
    if (connection instanceof Cluster) connection.on('node error', () => undefined);
  }

  /** Commands sent and not answered yet, on the busiest connection (a cluster has one per node). */
  private commandsInFlight(): number {
    const client = this.client;
    if (!(client instanceof Cluster)) return client.commandQueue.length;
    return Math.max(0, ...client.nodes('all').map((node) => node.commandQueue.length));
  }

  /** Runs Redis work with errors mapped and a hard deadline: a caller never sees ioredis errors. */
  async call<T>(what: string, work: () => Promise<T>): Promise<T> {
    if (this.closed) throw unavailable('store is closed');
    if (this.commandsInFlight() >= this.settings.maxCommandsInFlight) {
      throw unavailable(
        `redis has ${this.settings.maxCommandsInFlight} commands unanswered; refused (${what})`,
      );
    }
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(unavailable(`redis call timed out after ${this.hangGuardMs} ms (${what})`)),
        this.hangGuardMs,
      );
    });
    try {
      return await Promise.race([work(), deadline]);
    } catch (error) {
      throw mapError(what, error);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Runs a write script (./scripts.ts DEADLINE) with a deadline on the server's own clock (no skew):
   * its time now, plus the command timeout less a margin for the answer's way back. The script refuses
   * to run after it, so a write its caller gave up on (ERR_STORE_UNAVAILABLE) never takes effect later.
   */
  async runBeforeDeadline(
    s: Script,
    scriptKeys: string[],
    args: (string | number)[],
  ): Promise<unknown> {
    const timeoutMs = this.settings.commandTimeoutMs;
    const serverNowMs = Number(await this.run(SERVER_TIME_MS, scriptKeys.slice(0, 1), []));
    const deadlineMs = serverNowMs + timeoutMs - Math.min(250, Math.floor(timeoutMs / 4));
    return this.run(s, scriptKeys, [deadlineMs, ...args]);
  }

  /** A plain write command (SET, DEL) on `commandKeys`, under the same deadline as a write script. */
  async writeBeforeDeadline(
    command: 'SET' | 'DEL',
    commandKeys: string[],
    args: (string | number)[] = [],
  ): Promise<unknown> {
    return this.runBeforeDeadline(WRITE_COMMAND, commandKeys, [command, ...args]);
  }

  /** DEL of `commandKeys` as a call named `what`, under a write deadline; true when one existed. */
  async deleteKeys(what: string, commandKeys: string[]): Promise<boolean> {
    return Number(await this.call(what, () => this.writeBeforeDeadline('DEL', commandKeys))) > 0;
  }

  async run(s: Script, scriptKeys: string[], args: (string | number)[]): Promise<unknown> {
    const client = this.client;
    try {
      return await client.evalsha(s.sha, scriptKeys.length, ...scriptKeys, ...args);
    } catch (error) {
      if (error instanceof Error && error.message.startsWith('NOSCRIPT')) {
        return client.eval(s.lua, scriptKeys.length, ...scriptKeys, ...args);
      }
      throw error;
    }
  }

  /** Quits each connection, or drops it when quitting takes longer than a command may. */
  async quit(connections: readonly Client[]): Promise<void> {
    const timeoutMs = this.settings.commandTimeoutMs;
    await Promise.all(
      connections.map(async (connection) => {
        try {
          await Promise.race([
            connection.quit(),
            new Promise((_, reject) => setTimeout(reject, timeoutMs).unref()),
          ]);
        } catch {
          connection.disconnect();
        }
      }),
    );
  }
}

/**
 * Connects the built client and waits up to `connectTimeoutMs` for it (`ERR_STORE_UNAVAILABLE` after
 * that); later outages are logged once and survived by reconnecting in the background.
 */
export async function connectRedis(
  built: Built,
  settings: ConnectionSettings,
): Promise<RedisConnection> {
  const connection = new RedisConnection(built, settings);
  const { client, mode, target } = connection;
  const logger = settings.logger;
  connection.watch(client, 'main');
  let connected = false;
  let everConnected = false;
  client.on('ready', () => {
    if (everConnected && !connected) logger?.info('store: redis reconnected', { mode, target });
    connected = true;
    everConnected = true;
  });
  client.on('close', () => {
    if (connected) logger?.warn?.('store: redis connection lost', { mode, target });
    connected = false;
  });

  client.connect().catch(() => undefined);
  try {
    await waitForReady(client, settings.connectTimeoutMs);
  } catch {
    client.disconnect();
    throw unavailable(`redis (${mode} ${target}) is not reachable`, connection.lastError);
  }
  return connection;
}
