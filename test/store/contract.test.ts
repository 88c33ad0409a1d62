// Runs the store contract against the file store and real Redis servers (standalone, Sentinel, Cluster).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { createFileStore, createRedisStore } from '../../src/store/index.js';
import {
  startRedisCluster,
  startRedisSentinel,
  startRedisServer,
  type RedisCluster,
  type RedisSentinel,
  type RedisServer,
} from '../helpers/redis-server.js';
import { describeAuditContract } from './audit-contract.js';
import { describeStoreContract, type StoreFixture } from './contract.js';

let root = '';
let server: RedisServer | undefined;
let sentinel: RedisSentinel | undefined;
let cluster: RedisCluster | undefined;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fedbroker-store-'));
  // allSettled: when one fails to start, the others are still assigned and cleaned up in afterAll.
  const started = await Promise.allSettled([
    startRedisServer().then((s) => (server = s)),
    startRedisSentinel().then((s) => (sentinel = s)),
    startRedisCluster().then((c) => (cluster = c)),
  ]);
  for (const result of started) if (result.status === 'rejected') throw result.reason;
});

afterAll(async () => {
  await Promise.all([server?.cleanup(), sentinel?.cleanup(), cluster?.cleanup()]);
  await rm(root, { recursive: true, force: true });
});

function required<T>(value: T | undefined): T {
  if (value === undefined) throw new Error('fixture not started');
  return value;
}

const fileFixture = (): StoreFixture => ({
  open: (scope, audit) =>
    createFileStore(
      {
        dir: join(root, scope),
        ...(audit?.auditMaxLength === undefined ? {} : { auditMaxLength: audit.auditMaxLength }),
      },
      audit?.auditTrimmed === undefined ? {} : { auditTrimmed: audit.auditTrimmed },
    ),
});
describeStoreContract('file', fileFixture);
describeAuditContract('file', fileFixture);

const redisFixture = (): StoreFixture => ({
  open: (scope, audit) =>
    createRedisStore(
      {
        url: required(server).url,
        keyPrefix: `t:${scope}:`,
        commandTimeoutMs: 2000,
        ...(audit?.auditMaxLength === undefined ? {} : { auditMaxLength: audit.auditMaxLength }),
      },
      audit?.auditTrimmed === undefined ? {} : { auditTrimmed: audit.auditTrimmed },
    ),
});
describeStoreContract('redis standalone', redisFixture);
describeAuditContract('redis standalone', redisFixture);

describeStoreContract('redis sentinel', () => ({
  open: (scope) =>
    createRedisStore({
      sentinel: { name: required(sentinel).name, nodes: required(sentinel).nodes },
      keyPrefix: `t:${scope}:`,
    }),
}));

describeStoreContract('redis cluster', () => ({
  open: (scope) =>
    createRedisStore({ cluster: { nodes: required(cluster).nodes }, keyPrefix: `t:${scope}:` }),
}));
