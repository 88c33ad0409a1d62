// The shared store for several replicas, on ioredis (the only file that imports it): standalone, Sentinel
// or Cluster. Atomic updates are Lua scripts; every ioredis failure becomes ERR_STORE_UNAVAILABLE, fast.
// Lists use SCAN (per master in a cluster), never KEYS; audit is a capped stream; notifications are pub/sub.
import { createHash } from 'node:crypto';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { StoreError } from '../errors.js';
import { createStoreKeys, type ScannedCollection } from './keys.js';
import {
  auditRecordFromDraft,
  auditTrimCount,
  bundleRecordFromInput,
  checkAuditQuery,
  checkStoredAuditRange,
  checkExpectedVersion,
  checkTime,
  checkTtlMs,
  conflictError,
  decodeAudit,
  decodeBundle,
  decodeLocalBundle,
  decodeObject,
  decodeToken,
  encodeObject,
  localBundleRecordFromInput,
  matchesAuditQuery,
  putBundleResult,
  staleBundleError,
  staleLocalBundleError,
  tokenRecordFromInput,
} from './records.js';
import {
  DEFAULT_AUDIT_MAX_LENGTH,
  DEFAULT_HISTORY_LIMIT,
  type AuditDraft,
  type AuditQuery,
  type AuditRecord,
  type AuditTrimBuilder,
  type StoredAuditPage,
  type BundleInput,
  type ExpectedVersion,
  type JsonObject,
  type LocalBundleInput,
  type NotificationHandler,
  type PutBundleOptions,
  type Store,
  type StoreLogger,
  type TokenInput,
  type Versioned,
} from './store.js';

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
  readonly historyLimit?: number;
  readonly auditMaxLength?: number;
}

export interface RedisStoreDeps {
  readonly logger?: StoreLogger;
  /** Clock used only to set Redis-side expiry of tokens (garbage collection). */
  readonly now?: () => number;
  /**
   * Records every trim past auditMaxLength as an `audit.trimmed` event, trimming exactly (XTRIM
   * MINID) in the same script as the append; without it the stream is capped silently (MAXLEN ~).
   */
  readonly auditTrimmed?: AuditTrimBuilder;
}

/** Lua helper: orders canonical decimal sequences without number conversion (lossless 64-bit). */
const SEQUENCE_LESS = `
local function seqLess(a, b)
  if #a ~= #b then return #a < #b end
  for i = 1, #a do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return false
end
`;

interface Script {
  readonly lua: string;
  readonly sha: string;
}

function script(lua: string): Script {
  return { lua, sha: createHash('sha1').update(lua).digest('hex') };
}

/**
 * KEYS: current hash, history list. ARGV: sequence ('' = none), digest, force, history limit,
 * record JSON. Field 'm' keeps the highest sequence ever accepted ('' = none; absent on old
 * records, whose 's' stands in): the same table as records.ts decideBundlePut/nextHighestSequence.
 * The stored record is ARGV[5] with `highestSequence` appended (canonical decimals need no escaping).
 * Returns {outcome, previous record or false, stored record or highest sequence when stale}.
 */
const PUT_BUNDLE = script(`${SEQUENCE_LESS}
local cur = redis.call('HMGET', KEYS[1], 's', 'h', 'r', 'm')
local s, h, r, m = cur[1], cur[2], cur[3], cur[4]
local force = ARGV[3] == '1'
local mark = ''
if r then
  if s == ARGV[1] and h == ARGV[2] then return {'unchanged', r, r} end
  if m then mark = m end
  if s ~= '' and (mark == '' or seqLess(mark, s)) then mark = s end
  if not force and mark ~= '' and ARGV[1] ~= '' and seqLess(ARGV[1], mark) then
    return {'stale', r, mark}
  end
end
local nextMark = ARGV[1]
if r and not force and (ARGV[1] == '' or seqLess(ARGV[1], mark)) then nextMark = mark end
local json = 'null'
if nextMark ~= '' then json = '"' .. nextMark .. '"' end
local rec = string.sub(ARGV[5], 1, -2) .. ',"highestSequence":' .. json .. '}'
redis.call('HSET', KEYS[1], 's', ARGV[1], 'h', ARGV[2], 'r', rec, 'm', nextMark)
redis.call('LPUSH', KEYS[2], rec)
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[4]) - 1)
if r then return {'replaced', r, rec} end
return {'created', false, rec}
`);

/** KEYS: local bundle hash. ARGV: sequence, digest, record. */
const PUT_LOCAL_BUNDLE = script(`${SEQUENCE_LESS}
local cur = redis.call('HMGET', KEYS[1], 's', 'h')
if cur[1] and not seqLess(cur[1], ARGV[1]) then
  if cur[1] == ARGV[1] and cur[2] == ARGV[2] then return {'unchanged'} end
  return {'stale', cur[1]}
end
redis.call('HSET', KEYS[1], 's', ARGV[1], 'h', ARGV[2], 'r', ARGV[3])
return {'written'}
`);

/** KEYS: record hash. ARGV: expected ('absent' | 'any' | version), JSON. Returns the new version or -1. */
const PUT_VERSIONED = script(`
local v = redis.call('HGET', KEYS[1], 'v')
if ARGV[1] == 'absent' then
  if v then return -1 end
elseif ARGV[1] ~= 'any' and v ~= ARGV[1] then
  return -1
end
local nv = (tonumber(v) or 0) + 1
redis.call('HSET', KEYS[1], 'v', tostring(nv), 'd', ARGV[2])
return nv
`);

/** KEYS: record hash. ARGV: expected ('any' | version). Returns 1 deleted, 0 absent, -1 conflict. */
const DELETE_VERSIONED = script(`
local v = redis.call('HGET', KEYS[1], 'v')
if not v then return 0 end
if ARGV[1] ~= 'any' and v ~= ARGV[1] then return -1 end
redis.call('DEL', KEYS[1])
return 1
`);

/** KEYS: token. One GET + DEL: only one caller can ever receive the value. */
const CONSUME_TOKEN = script(`
local v = redis.call('GET', KEYS[1])
if v then redis.call('DEL', KEYS[1]) end
return v
`);

/** KEYS: any key (routes to its node in a cluster). The server's clock in ms. */
const SERVER_TIME_MS = script(`
local t = redis.call('TIME')
return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`);

/**
 * KEYS: lock. ARGV: owner, ttl ms, deadline (server clock, ms). Takes a free lease or restarts the
 * owner's own. -1: the request reached Redis after its deadline (its caller has given up waiting, e.g.
 * it sat in a stalled server's socket buffer), so it never takes effect.
 */
const ACQUIRE_LOCK = script(`
local t = redis.call('TIME')
if tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) > tonumber(ARGV[3]) then return -1 end
local v = redis.call('GET', KEYS[1])
if not v then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if v == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
`);

const RENEW_LOCK = script(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
`);

const RELEASE_LOCK = script(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
`);

/**
 * KEYS: audit stream. ARGV: expected last id ('0' = empty), new id, max length, record, then
 * optionally the `audit.trimmed` record's id, the record, and the first id to keep. 1 ok, 0 lost race.
 */
const APPEND_AUDIT = script(`
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local lastId = '0'
if #last > 0 then lastId = string.match(last[1][1], '^(%d+)') end
if lastId ~= ARGV[1] then return 0 end
if ARGV[5] then
  redis.call('XADD', KEYS[1], ARGV[2] .. '-0', 'r', ARGV[4])
  redis.call('XADD', KEYS[1], ARGV[5] .. '-0', 'r', ARGV[6])
  redis.call('XTRIM', KEYS[1], 'MINID', ARGV[7] .. '-0')
elseif ARGV[3] == '0' then
  redis.call('XADD', KEYS[1], ARGV[2] .. '-0', 'r', ARGV[4])
else
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], ARGV[2] .. '-0', 'r', ARGV[4])
end
return 1
`);

const DEFAULT_COMMAND_TIMEOUT_MS = 2000;
const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
/** Redis keeps a token this long after it expired (GC only; consumption checks `expiresAt`). */
const TOKEN_GC_GRACE_MS = 3600_000;
const AUDIT_APPEND_ATTEMPTS = 100;
const SCAN_COUNT = 500;

type Client = Redis | Cluster;

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

function unavailable(message: string, cause?: unknown): StoreError {
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

function waitForReady(client: Client, timeoutMs: number): Promise<void> {
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

interface Built {
  readonly client: Client;
  readonly mode: 'standalone' | 'sentinel' | 'cluster';
  readonly target: string;
}

function buildClient(
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
  // the connection drops fails at once instead of being re-sent later behind the caller's back.
  const common: RedisOptions = {
    lazyConnect: true,
    enableOfflineQueue: false,
    commandTimeout: commandTimeoutMs,
    connectTimeout: connectTimeoutMs,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    autoResubscribe: true,
    retryStrategy: retryDelayMs,
  };
  if (options.url !== undefined) {
    const target = describeUrl(options.url);
    return { client: new Redis(options.url, common), mode: 'standalone', target };
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
  return {
    client: new Cluster(nodes, clusterOptions),
    mode: 'cluster',
    target: (options.cluster?.nodes ?? []).join(','),
  };
}

/**
 * Connects to Redis and returns the store. Waits up to `connectTimeoutMs` for the first connection
 * (`ERR_STORE_UNAVAILABLE` after that); later outages are survived by reconnecting in the background.
 */
export async function createRedisStore(
  options: RedisStoreOptions,
  deps: RedisStoreDeps = {},
): Promise<Store> {
  const keys = createStoreKeys(options.keyPrefix);
  const commandTimeoutMs = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
  const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const historyLimit = options.historyLimit ?? DEFAULT_HISTORY_LIMIT;
  const auditMax = options.auditMaxLength ?? DEFAULT_AUDIT_MAX_LENGTH;
  for (const [name, value] of Object.entries({
    commandTimeoutMs,
    connectTimeoutMs,
    historyLimit,
    auditMaxLength: auditMax,
  })) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new StoreError('ERR_STORE_CONFIG', `${name} must be a positive integer`);
    }
  }
  const logger = deps.logger;
  const now = deps.now ?? Date.now;
  const { client, mode, target } = buildClient(options, commandTimeoutMs, connectTimeoutMs);
  /** Bound on a whole store call, in case a retry path inside ioredis outlives `commandTimeout`. */
  const hangGuardMs = commandTimeoutMs * 2 + 1000;

  let connected = false;
  /** The last connection error, given as the cause when the first connection never comes up. */
  let lastError: unknown;
  /** Logs the first error after each successful connection only: no log line per retry. */
  function watch(connection: Client, role: 'main' | 'subscriber'): void {
    let reported = false;
    connection.on('ready', () => {
      reported = false;
    });
    connection.on('error', (error: unknown) => {
      lastError = error;
      if (reported) return;
      reported = true;
      logger?.warn?.('store: redis error', { role, error: String(error) });
    });
    // Cluster reports per-node errors separately; the cluster-level events above are what matter.
    if (connection instanceof Cluster) connection.on('node error', () => undefined);
  }
  watch(client, 'main');
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
    await waitForReady(client, connectTimeoutMs);
  } catch {
    client.disconnect();
    throw unavailable(`redis (${mode} ${target}) is not reachable`, lastError);
  }
  logger?.info('store: redis', { mode, target, keyPrefix: keys.prefix });

  let closed = false;

  /** Runs Redis work with errors mapped and a hard deadline: a caller never sees ioredis errors. */
  async function call<T>(what: string, work: () => Promise<T>): Promise<T> {
    if (closed) throw unavailable('store is closed');
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(unavailable(`redis call timed out after ${hangGuardMs} ms (${what})`)),
        hangGuardMs,
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

  async function run(s: Script, scriptKeys: string[], args: (string | number)[]): Promise<unknown> {
    try {
      return await client.evalsha(s.sha, scriptKeys.length, ...scriptKeys, ...args);
    } catch (error) {
      if (error instanceof Error && error.message.startsWith('NOSCRIPT')) {
        return client.eval(s.lua, scriptKeys.length, ...scriptKeys, ...args);
      }
      throw error;
    }
  }

  /** Best effort, in the background: queued behind the failed acquire on the same connection. */
  function releaseAfterFailedAcquire(key: string, owner: string): void {
    if (closed) return;
    call('release lock', () => run(RELEASE_LOCK, [key], [owner])).catch((error: unknown) => {
      logger?.warn?.('store: could not release a lock after a failed acquire', {
        error: String(error),
      });
    });
  }

  /** SCAN on every master (one for standalone and Sentinel); never KEYS. */
  async function scan(collection: ScannedCollection): Promise<{ key: string; id: string }[]> {
    const pattern = keys.scanPattern(collection);
    const nodes = client instanceof Cluster ? client.nodes('master') : [client];
    const found = new Map<string, string>();
    for (const node of nodes) {
      let cursor = '0';
      do {
        const [next, batch] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT);
        cursor = next;
        for (const key of batch) {
          const id = keys.idFromKey(collection, key);
          if (id !== undefined) found.set(key, id);
        }
      } while (cursor !== '0');
    }
    return [...found].map(([key, id]) => ({ key, id }));
  }

  /** Every plain JSON object of a scanned collection, by id. */
  async function listObjects(
    what: string,
    collection: 'refreshStatus' | 'replicaAuthorities',
  ): Promise<{ id: string; value: JsonObject }[]> {
    const found = await scan(collection);
    const texts = await Promise.all(found.map(({ key }) => client.get(key)));
    const out: { id: string; value: JsonObject }[] = [];
    texts.forEach((text, i) => {
      const id = found[i]?.id;
      if (text !== null && id !== undefined) out.push({ id, value: decodeObject(what, text) });
    });
    return out;
  }

  function decodeVersioned(
    what: string,
    version: string | null,
    data: string | null,
  ): Versioned | undefined {
    if (version === null || data === null) return undefined;
    const parsed = Number(version);
    if (!Number.isSafeInteger(parsed) || parsed < 1) {
      throw new StoreError('ERR_STORE_CORRUPT', `stored ${what} has an invalid version`);
    }
    return { value: decodeObject(what, data), version: parsed };
  }

  async function getVersioned(what: string, key: string): Promise<Versioned | undefined> {
    const [version, data] = await client.hmget(key, 'v', 'd');
    return decodeVersioned(what, version ?? null, data ?? null);
  }

  async function listVersioned(
    what: string,
    collection: 'relationship' | 'entry',
  ): Promise<(Versioned & { id: string })[]> {
    const found = await scan(collection);
    const values = await Promise.all(found.map(({ key }) => getVersioned(what, key)));
    const out: (Versioned & { id: string })[] = [];
    values.forEach((value, i) => {
      const id = found[i]?.id;
      if (value !== undefined && id !== undefined) out.push({ id, ...value });
    });
    return out;
  }

  async function putVersioned(
    what: string,
    key: string,
    id: string,
    value: object,
    expected: ExpectedVersion,
  ): Promise<number> {
    checkExpectedVersion(expected, true);
    const json = encodeObject(what, value);
    const arg = expected === null ? 'absent' : String(expected);
    const version = await call(`put ${what}`, () => run(PUT_VERSIONED, [key], [arg, json]));
    if (version === -1) throw conflictError(what, id, expected);
    return Number(version);
  }

  async function deleteVersioned(
    what: string,
    key: string,
    id: string,
    expected: number | 'any',
  ): Promise<boolean> {
    checkExpectedVersion(expected, false);
    const result = await call(`delete ${what}`, () =>
      run(DELETE_VERSIONED, [key], [String(expected)]),
    );
    if (result === -1) throw conflictError(what, id, expected);
    return result === 1;
  }

  function decodeStreamEntry(entry: [string, string[]]): AuditRecord {
    const fields = entry[1];
    const index = fields.indexOf('r');
    const text = index >= 0 ? fields[index + 1] : undefined;
    if (text === undefined) {
      throw new StoreError('ERR_STORE_CORRUPT', `audit entry ${entry[0]} has no record`);
    }
    return decodeAudit(text);
  }

  /**
   * With a trim builder: the `audit.trimmed` record to append after `record` when the stream would
   * pass auditMax, and the first id to keep. Counted by XLEN and read by XRANGE, so a gap left by
   * an XDEL does not throw the range off; the append script's last-id check makes it atomic.
   */
  async function trimmedRecord(
    record: AuditRecord,
  ): Promise<{ record: AuditRecord; keepFromId: number } | 'raced' | undefined> {
    const build = deps.auditTrimmed;
    if (build === undefined) return undefined;
    const visible = await client.xlen(keys.audit);
    const count = Math.min(visible, auditTrimCount(visible, 1, auditMax));
    if (count === 0) return undefined;
    const entries = await client.xrange(keys.audit, '-', '+', 'COUNT', count);
    const first = entries[0];
    const lastEntry = entries.at(-1);
    // Emptied meanwhile by another appender, whose append then also makes ours lose the race.
    if (first === undefined || lastEntry === undefined) return 'raced';
    const last = decodeStreamEntry(lastEntry);
    const trim = {
      count: entries.length,
      fromId: Number.parseInt(first[0], 10),
      toId: last.id,
      lastTrimmedHash: last.hash,
    };
    return {
      record: auditRecordFromDraft(record.id + 1, build(record, record.id + 1, trim)),
      keepFromId: last.id + 1,
    };
  }

  async function lastAuditRecord(): Promise<AuditRecord | undefined> {
    const last = (await client.xrevrange(keys.audit, '+', '-', 'COUNT', 1))[0];
    return last === undefined ? undefined : decodeStreamEntry(last);
  }

  // Subscriptions share one dedicated connection; ioredis re-subscribes after a reconnect.
  let subscriber: Promise<Client> | undefined;
  const channels = new Map<
    string,
    { handlers: Set<NotificationHandler>; ready: Promise<unknown> }
  >();

  function subscriberConnection(): Promise<Client> {
    subscriber ??= (async () => {
      const connection = client.duplicate();
      watch(connection, 'subscriber');
      connection.on('message', (channel: string, message: string) => {
        for (const handler of channels.get(channel)?.handlers ?? []) {
          try {
            handler(message);
          } catch (error) {
            logger?.warn?.('store: notification handler failed', { error: String(error) });
          }
        }
      });
      connection.connect().catch(() => undefined);
      try {
        await waitForReady(connection, connectTimeoutMs);
      } catch (error) {
        connection.disconnect();
        subscriber = undefined;
        throw error;
      }
      return connection;
    })();
    return subscriber;
  }

  const store: Store = {
    kind: 'redis',

    getBundle: async (td) => {
      const key = keys.bundleCurrent(td);
      const raw = await call('get bundle', () => client.hget(key, 'r'));
      return raw === null ? undefined : decodeBundle(raw);
    },

    putBundle: async (input: BundleInput, putOptions: PutBundleOptions = {}) => {
      const record = bundleRecordFromInput(input);
      const td = record.trustDomain;
      const reply = (await call('put bundle', () =>
        run(
          PUT_BUNDLE,
          [keys.bundleCurrent(td), keys.bundleHistory(td)],
          [
            record.sequence ?? '',
            record.digest,
            putOptions.force === true ? '1' : '0',
            historyLimit,
            JSON.stringify(record),
          ],
        ),
      )) as [string, (string | null)?, string?];
      const [outcome, previousText, third] = reply;
      const previous =
        previousText === undefined || previousText === null
          ? undefined
          : decodeBundle(previousText);
      if (outcome === 'stale') {
        throw staleBundleError(td, record.sequence, third ?? null);
      }
      if (
        (outcome !== 'created' && outcome !== 'replaced' && outcome !== 'unchanged') ||
        third === undefined
      ) {
        throw new StoreError('ERR_STORE_CORRUPT', 'unexpected reply from the bundle script');
      }
      return putBundleResult(outcome, decodeBundle(third), previous);
    },

    deleteBundle: async (td) => {
      const current = keys.bundleCurrent(td);
      const history = keys.bundleHistory(td);
      return (await call('delete bundle', () => client.del(current, history))) > 0;
    },

    listBundles: async () =>
      call('list bundles', async () => {
        const found = await scan('bundle');
        const raws = await Promise.all(found.map(({ key }) => client.hget(key, 'r')));
        return raws.filter((raw): raw is string => raw !== null).map(decodeBundle);
      }),

    bundleHistory: async (td) => {
      const key = keys.bundleHistory(td);
      const items = await call('bundle history', () => client.lrange(key, 0, -1));
      return items.map(decodeBundle);
    },

    getRelationship: async (td) => {
      const key = keys.relationship(td);
      return call('get relationship', () => getVersioned('relationship', key));
    },
    listRelationships: async () =>
      (await call('list relationships', () => listVersioned('relationship', 'relationship'))).map(
        ({ value, version }) => ({ value, version }),
      ),
    putRelationship: async (td, value, expected) =>
      putVersioned('relationship', keys.relationship(td), td, value, expected),
    deleteRelationship: async (td, expected) =>
      deleteVersioned('relationship', keys.relationship(td), td, expected),

    getLocalBundle: async () => {
      const raw = await call('get local bundle', () => client.hget(keys.localBundle, 'r'));
      return raw === null ? undefined : decodeLocalBundle(raw);
    },
    putLocalBundle: async (input: LocalBundleInput) => {
      const record = localBundleRecordFromInput(input);
      const reply = (await call('put local bundle', () =>
        run(
          PUT_LOCAL_BUNDLE,
          [keys.localBundle],
          [record.sequence, record.digest, JSON.stringify(record)],
        ),
      )) as [string, string?];
      if (reply[0] === 'stale') throw staleLocalBundleError(record.sequence, reply[1] ?? '');
      return reply[0] === 'unchanged' ? 'unchanged' : 'written';
    },

    getEntry: async (id) => {
      const key = keys.entry(id);
      return call('get entry', () => getVersioned('entry', key));
    },
    listEntries: async () => call('list entries', () => listVersioned('entry', 'entry')),
    putEntry: async (id, value, expected) =>
      putVersioned('entry', keys.entry(id), id, value, expected),
    deleteEntry: async (id, expected) => deleteVersioned('entry', keys.entry(id), id, expected),

    putToken: async (input: TokenInput) => {
      const record = tokenRecordFromInput(input);
      const key = keys.token(record.hash);
      const ttlMs = Math.max(1, record.expiresAt - now()) + TOKEN_GC_GRACE_MS;
      const reply = await call('put token', () =>
        client.set(key, JSON.stringify(record), 'PX', ttlMs, 'NX'),
      );
      if (reply !== 'OK') {
        throw new StoreError('ERR_STORE_CONFLICT', 'a token with this hash already exists');
      }
    },
    consumeToken: async (hash, at) => {
      const key = keys.token(hash);
      checkTime('now', at);
      const text = await call('consume token', () => run(CONSUME_TOKEN, [key], []));
      if (typeof text !== 'string') return undefined;
      const token = decodeToken(text);
      return token.expiresAt > at ? token : undefined;
    },
    deleteToken: async (hash) => {
      const key = keys.token(hash);
      return (await call('delete token', () => client.del(key))) > 0;
    },
    listTokens: async (at) => {
      checkTime('now', at);
      return call('list tokens', async () => {
        const found = await scan('token');
        const texts = await Promise.all(found.map(({ key }) => client.get(key)));
        return texts
          .filter((text): text is string => text !== null)
          .map(decodeToken)
          .filter((token) => token.expiresAt > at);
      });
    },

    appendAudit: async (build: (previous: AuditRecord | undefined, id: number) => AuditDraft) => {
      for (let attempt = 0; attempt < AUDIT_APPEND_ATTEMPTS; attempt++) {
        const previous = await call('read audit', lastAuditRecord);
        const id = (previous?.id ?? 0) + 1;
        // The builder runs outside `call`: its own errors reach the caller unchanged.
        const record = auditRecordFromDraft(id, build(previous, id));
        const trim = await call('read audit', () => trimmedRecord(record));
        const won =
          trim === 'raced'
            ? 0
            : await call('append audit', () =>
                run(
                  APPEND_AUDIT,
                  [keys.audit],
                  [
                    String(previous?.id ?? 0),
                    String(id),
                    // '0': no MAXLEN (explicit trims only, with a trim builder).
                    deps.auditTrimmed === undefined ? auditMax : 0,
                    JSON.stringify(record),
                    ...(trim === undefined
                      ? []
                      : [
                          String(trim.record.id),
                          JSON.stringify(trim.record),
                          String(trim.keepFromId),
                        ]),
                  ],
                ),
              );
        if (won === 1) return record;
        // Another appender won; back off a little so a crowd spreads out.
        await new Promise((resolve) =>
          setTimeout(resolve, Math.random() * 5 * Math.min(attempt + 1, 10)),
        );
      }
      throw new StoreError('ERR_STORE_CONFLICT', 'audit append lost the race too many times');
    },
    lastAudit: async () => call('read audit', lastAuditRecord),
    readStoredAudit: async (fromId: number, limit: number) => {
      checkStoredAuditRange(fromId, limit);
      return call('read audit', async (): Promise<StoredAuditPage> => {
        const entries = await client.xrange(keys.audit, `${fromId}-0`, '+', 'COUNT', limit);
        const records: AuditRecord[] = [];
        for (const entry of entries) {
          try {
            records.push(decodeStreamEntry(entry));
          } catch {
            const afterId = records.at(-1)?.id ?? fromId - 1;
            return { records, unreadable: { afterId, where: `stream entry ${entry[0]}` } };
          }
        }
        return { records };
      });
    },
    listAudit: async (query: AuditQuery) => {
      checkAuditQuery(query);
      const backward = query.direction === 'backward';
      const page = Math.min(Math.max(query.limit * 2, 100), 1000);
      return call('list audit', async () => {
        const out: AuditRecord[] = [];
        let bound = query.fromId === undefined ? (backward ? '+' : '-') : `${query.fromId}-0`;
        while (out.length < query.limit) {
          const batch = backward
            ? await client.xrevrange(keys.audit, bound, '-', 'COUNT', page)
            : await client.xrange(keys.audit, bound, '+', 'COUNT', page);
          for (const entry of batch) {
            const record = decodeStreamEntry(entry);
            if (matchesAuditQuery(record, query)) out.push(record);
            if (out.length >= query.limit) break;
          }
          const last = batch.at(-1);
          if (batch.length < page || last === undefined) break;
          const lastId = Number.parseInt(last[0], 10);
          if (backward && lastId <= 1) break;
          bound = `${backward ? lastId - 1 : lastId + 1}-0`;
        }
        return out;
      });
    },

    getRefreshStatus: async (td) => {
      const key = keys.refreshStatus(td);
      const text = await call('get refresh status', () => client.get(key));
      return text === null ? undefined : decodeObject('refresh status', text);
    },
    putRefreshStatus: async (td, status) => {
      const key = keys.refreshStatus(td);
      const json = encodeObject('refresh status', status);
      await call('put refresh status', () => client.set(key, json));
    },
    deleteRefreshStatus: async (td) => {
      const key = keys.refreshStatus(td);
      return (await call('delete refresh status', () => client.del(key))) > 0;
    },
    listRefreshStatuses: async () =>
      call('list refresh statuses', async () =>
        (await listObjects('refresh status', 'refreshStatus')).map(({ id, value }) => ({
          trustDomain: id,
          status: value,
        })),
      ),

    putReplicaAuthorities: async (replicaId, authorities) => {
      const key = keys.replicaAuthorities(replicaId);
      const json = encodeObject('replica authorities', authorities);
      await call('put replica authorities', () => client.set(key, json));
    },
    deleteReplicaAuthorities: async (replicaId) => {
      const key = keys.replicaAuthorities(replicaId);
      return (await call('delete replica authorities', () => client.del(key))) > 0;
    },
    listReplicaAuthorities: async () =>
      call('list replica authorities', async () =>
        (await listObjects('replica authorities', 'replicaAuthorities')).map(({ id, value }) => ({
          replicaId: id,
          value,
        })),
      ),

    acquireLock: async (name, owner, ttlMs) => {
      const key = keys.lock(name);
      checkTtlMs(ttlMs);
      // A lock can never outlive its request: the acquire carries a deadline on the server's own
      // clock (no skew), no later than the moment this call times out, and the script refuses to
      // run after it; a failed call also releases, in case the answer was only lost on the way back.
      try {
        const answer = await call('acquire lock', async () => {
          const serverNowMs = Number(await run(SERVER_TIME_MS, [key], []));
          return run(ACQUIRE_LOCK, [key], [owner, ttlMs, serverNowMs + commandTimeoutMs]);
        });
        if (answer === -1) throw unavailable('lock request reached redis after its deadline');
        return answer === 1;
      } catch (error) {
        releaseAfterFailedAcquire(key, owner);
        throw error;
      }
    },
    renewLock: async (name, owner, ttlMs) => {
      const key = keys.lock(name);
      checkTtlMs(ttlMs);
      return (await call('renew lock', () => run(RENEW_LOCK, [key], [owner, ttlMs]))) === 1;
    },
    releaseLock: async (name, owner) => {
      const key = keys.lock(name);
      return (await call('release lock', () => run(RELEASE_LOCK, [key], [owner]))) === 1;
    },
    lockHolder: async (name) => {
      const key = keys.lock(name);
      return (await call('read lock', () => client.get(key))) ?? undefined;
    },

    publish: async (channel, message) => {
      const full = keys.channel(channel);
      await call('publish', () => client.publish(full, message));
    },
    subscribe: async (channel, handler) => {
      const full = keys.channel(channel);
      const entry: NotificationHandler = (message) => handler(message);
      await call('subscribe', async () => {
        const connection = await subscriberConnection();
        let subscription = channels.get(full);
        if (subscription === undefined) {
          const created = {
            handlers: new Set<NotificationHandler>(),
            ready: connection.subscribe(full),
          };
          subscription = created;
          channels.set(full, created);
          created.ready.catch(() => {
            if (channels.get(full) === created) channels.delete(full);
          });
        }
        await subscription.ready;
        subscription.handlers.add(entry);
      });
      return async () => {
        const subscription = channels.get(full);
        if (subscription === undefined || !subscription.handlers.delete(entry)) return;
        if (subscription.handlers.size > 0) return;
        channels.delete(full);
        const connection = await subscriber;
        // If Redis is down the channel stays subscribed on the connection; messages find no handler.
        await connection?.unsubscribe(full).catch(() => undefined);
      };
    },

    ping: async () => {
      await call('ping', () => client.ping());
    },

    close: async () => {
      if (closed) return;
      closed = true;
      const connections: Client[] = [client];
      const sub = await subscriber?.catch(() => undefined);
      if (sub !== undefined) connections.push(sub);
      await Promise.all(
        connections.map(async (connection) => {
          try {
            await Promise.race([
              connection.quit(),
              new Promise((_, reject) => setTimeout(reject, commandTimeoutMs).unref()),
            ]);
          } catch {
            connection.disconnect();
          }
        }),
      );
    },
  };
  return store;
}
