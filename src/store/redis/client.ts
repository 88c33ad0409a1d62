// How the Redis store reaches Redis: the connection options (standalone URL, Sentinel or Cluster) turned
// into one ioredis client that fails fast while Redis is down, and the target named without credentials.
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { StoreError } from '../../errors.js';

export interface RedisStoreOptions {
  /** Standalone: `redis://[user:password@]host:port/db` or `rediss://` for TLS. */
  readonly url?: string;
  /** Sentinel: master group name and sentinel addresses (`host:port`). */
  readonly sentinel?: { readonly name: string; readonly nodes: readonly string[] };
  /** Cluster: seed nodes (`host:port`). */
  readonly cluster?: { readonly nodes: readonly string[] };
  /** Credentials for Sentinel-managed or cluster nodes (a URL carries its own). */
  readonly username?: string;
  readonly password?: string;
  readonly keyPrefix?: string;
  /** Per-command bound; a call never waits much longer than this. Default 2000. */
  readonly commandTimeoutMs?: number;
  /** TCP connect bound, and how long creation waits for the first connection. Default 5000. */
  readonly connectTimeoutMs?: number;
  /**
   * Commands sent and not yet answered on one connection past which a new call is refused at once
   * with ERR_STORE_UNAVAILABLE (a stalled Redis cannot make them pile up without bound). Default 10000.
   */
  readonly maxCommandsInFlight?: number;
  readonly historyLimit?: number;
  readonly auditMaxLength?: number;
}

export type Client = Redis | Cluster;

/** `host:port` or `[v6]:port`; the port defaults to `defaultPort`. */
export function parseHostPort(text: string, defaultPort: number): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+))(?::(\d{1,5}))?$/.exec(text);
  const host = match?.[1] ?? match?.[2];
  const port = match?.[3] === undefined ? defaultPort : Number(match[3]);
  if (host === undefined || port < 1 || port > 65535) {
    throw new StoreError('ERR_STORE_CONFIG', `"${text}" is not a host:port address`);
  }
  return { host, port };
}

/** The target without credentials, for logs. */
function describeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
  } catch {
    throw new StoreError('ERR_STORE_CONFIG', 'redis url is not a valid URL');
  }
}

function retryDelayMs(attempt: number): number {
  return Math.min(50 * 2 ** Math.min(attempt, 5), 1000);
}

export interface Built {
  readonly client: Client;
  readonly mode: 'standalone' | 'sentinel' | 'cluster';
  readonly target: string;
}

/**
 * ioredis (5.x) keeps a connection's socket-timeout timer when the connection closes for another
 * reason (a reset, a Redis restart): the timer then destroys the next, healthy connection, and
 * while it is set no timer watches that one. Cleared whenever a connection closes.
 */
function clearSocketTimerOnClose(redis: Redis): void {
  redis.on('close', () => {
    const held = redis as unknown as { socketTimeoutTimer?: NodeJS.Timeout | undefined };
    if (held.socketTimeoutTimer === undefined) return;
    clearTimeout(held.socketTimeoutTimer);
    held.socketTimeoutTimer = undefined;
  });
}

export function buildClient(
  options: RedisStoreOptions,
  commandTimeoutMs: number,
  connectTimeoutMs: number,
): Built {
  const chosen = [options.url, options.sentinel, options.cluster].filter((x) => x !== undefined);
  if (chosen.length !== 1) {
    throw new StoreError(
      'ERR_STORE_CONFIG',
      'redis store needs exactly one of url, sentinel or cluster',
    );
  }
  const credentials = {
    ...(options.username === undefined ? {} : { username: options.username }),
    ...(options.password === undefined ? {} : { password: options.password }),
  };
  // Fail fast while Redis is down: no offline queue, bounded commands, and a command in flight when
  // the connection drops fails at once instead of being re-sent later behind the caller's back. A
  // connection that hears nothing for two command timeouts while commands wait is dropped, so the
  // commands a stalled server holds are let go and later calls fail at once until it answers again.
  const common: RedisOptions = {
    lazyConnect: true,
    enableOfflineQueue: false,
    commandTimeout: commandTimeoutMs,
    socketTimeout: commandTimeoutMs * 2,
    connectTimeout: connectTimeoutMs,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    autoResubscribe: true,
    retryStrategy: retryDelayMs,
  };
  if (options.url !== undefined) {
    const target = describeUrl(options.url);
    const client = new Redis(options.url, common);
    clearSocketTimerOnClose(client);
    return { client, mode: 'standalone', target };
  }
  if (options.sentinel !== undefined) {
    const sentinels = options.sentinel.nodes.map((node) => parseHostPort(node, 26379));
    if (sentinels.length === 0 || options.sentinel.name === '') {
      throw new StoreError('ERR_STORE_CONFIG', 'sentinel needs a name and at least one node');
    }
    const client = new Redis({
      ...common,
      ...credentials,
      sentinels,
      name: options.sentinel.name,
      sentinelRetryStrategy: retryDelayMs,
    });
    clearSocketTimerOnClose(client);
    return {
      client,
      mode: 'sentinel',
      target: `${options.sentinel.name}@${options.sentinel.nodes.join(',')}`,
    };
  }
  const nodes = (options.cluster?.nodes ?? []).map((node) => parseHostPort(node, 6379));
  if (nodes.length === 0) {
    throw new StoreError('ERR_STORE_CONFIG', 'cluster needs at least one node');
  }
  const { retryStrategy: _retry, enableOfflineQueue: _queue, ...nodeOptions } = common;
  const clusterOptions: ClusterOptions = {
    lazyConnect: true,
    enableOfflineQueue: false,
    clusterRetryStrategy: retryDelayMs,
    slotsRefreshTimeout: connectTimeoutMs,
    redisOptions: { ...nodeOptions, ...credentials },
  };
  const cluster = new Cluster(nodes, clusterOptions);
  // Each node's connection is its own Redis instance, with its own socket-timeout timer.
  cluster.on('+node', (node: Redis) => clearSocketTimerOnClose(node));
  return {
    client: cluster,
    mode: 'cluster',
    target: (options.cluster?.nodes ?? []).join(','),
  };
}
