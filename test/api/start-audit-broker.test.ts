// startBroker audits the CA's start-up steps before they apply (actor `broker`, as the rotator's
// steps): a real broker on a real redis-server. While Redis refuses writes (maxmemory reached,
// noeviction: reads still answer) the first start fails on the first audit append, nothing is
// served and the CA's directory holds no state and no key; once Redis takes writes, the next start
// records the bootstrap of each kind and applies it.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger, type Logger } from '../../src/log.js';
import { startBroker, type Broker } from '../../src/main.js';
import { testConfig } from '../helpers/broker.js';
import { rawCommand, startRedisServer, type RedisServer } from '../helpers/redis-server.js';

let redis: RedisServer;
let broker: Broker | undefined;

beforeAll(async () => {
  redis = await startRedisServer();
});

afterAll(async () => {
  await broker?.stop();
  await redis?.cleanup();
});

async function redisSet(command: string): Promise<void> {
  expect(await rawCommand(redis.port, command)).toBe('+OK\r\n');
}

describe('the CA steps at start are audited before they apply (startBroker)', () => {
  it('an audit log that refuses writes fails the first start with nothing applied; the next start records and applies', async () => {
    const loaded = testConfig({
      trustDomain: 'start-audit.test',
      store: { kind: 'redis', url: redis.url, keyPrefix: 'start-audit:', commandTimeout: '2s' },
    });
    const errors: { message: string; fields: Record<string, unknown> | undefined }[] = [];
    const logger: Logger = {
      ...silentLogger,
      error: (message, fields) => errors.push({ message, fields }),
    };

    await redisSet('CONFIG SET maxmemory-policy noeviction');
    await redisSet('CONFIG SET maxmemory 1');
    try {
      await expect(startBroker(loaded, { logger })).rejects.toMatchObject({
        code: 'ERR_STORE_UNAVAILABLE',
      });
    } finally {
      await redisSet('CONFIG SET maxmemory 0');
    }
    // It failed on the first event of the bootstrap, before the CA wrote anything.
    expect(errors.map((e) => [e.message, e.fields?.['type']])).toContainEqual([
      'audit append failed',
      'authority.prepared',
    ]);
    const caDir = join(loaded.dataDir, 'ca');
    expect(existsSync(caDir) ? readdirSync(caDir) : []).toEqual([]);

    broker = await startBroker(loaded, { logger: silentLogger });
    const { records } = await broker.store.readStoredAudit(1, 100);
    const started = records.filter((e) => e.type.startsWith('authority.'));
    expect(started.map((e) => [e.type, e.actor, e.data['kind'], e.data['reason']])).toEqual([
      ['authority.prepared', 'broker', 'x509', 'bootstrap'],
      ['authority.activated', 'broker', 'x509', 'bootstrap'],
      ['authority.prepared', 'broker', 'jwt', 'bootstrap'],
      ['authority.activated', 'broker', 'jwt', 'bootstrap'],
    ]);
    // The events came first in the log, and name the authorities that sign.
    expect(records.slice(0, 4)).toEqual(started);
    const active = broker.ca.authorities().filter((a) => a.state === 'active');
    expect(started.map((e) => e.data['id'])).toEqual(active.flatMap((a) => [a.id, a.id]));
    expect(readdirSync(caDir).filter((n) => n.endsWith('.key.pem'))).toHaveLength(2);
  }, 60_000);
});
