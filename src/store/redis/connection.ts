// The Redis store's connection: connects once (bounded by connectTimeoutMs), logs outages once each,
// and runs every piece of Redis work through `call`, which maps ioredis failures to ERR_STORE_* codes
// and puts a hard deadline on the whole call, and `run`, which sends a Lua script by SHA.
import { Cluster } from 'ioredis';
import { StoreError } from '../../errors.js';
import type { StoreLogger } from '../store.js';
import type { Built, Client } from './client.js';
import type { Script } from './scripts.js';

export function unavailable(message: string, cause?: unknown): StoreError {
  return new StoreError('ERR_STORE_UNAVAILABLE', message, {
    ...(cause === undefined ? {} : { cause }),
  });
}

function mapError(what: string, error: unknown): Error {
  if (error instanceof StoreError) return error;
  const message = error instanceof Error ? error.message : String(error);
  if (message.startsWith('WRONGTYPE')) {
    return new StoreError('ERR_STORE_CORRUPT', `redis key of ${what} holds the wrong type`, {
      cause: error,
    });
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
