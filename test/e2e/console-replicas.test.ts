// Issue 19 across replicas: two brokers of one organisation on one real redis-server. An admin added
// on A signs in with their token on B; a console session made on A works on B (it lives in the
// store); removing the admin on B ends the session on A at once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { startBroker, type Broker } from '../../src/main.js';
import { admin, testConfig } from '../helpers/broker.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';

let redis: RedisServer;
let a: Broker;
let b: Broker;

beforeAll(async () => {
  redis = await startRedisServer();
  const store = { kind: 'redis', url: redis.url, keyPrefix: 'org:' };
  a = await startBroker(testConfig({ trustDomain: 'org.test', store }), {
    logger: silentLogger,
    replicaId: 'replica-a',
  });
  b = await startBroker(testConfig({ trustDomain: 'org.test', store }), {
    logger: silentLogger,
    replicaId: 'replica-b',
  });
}, 60_000);

afterAll(async () => {
  await a?.stop();
  await b?.stop();
  await redis?.cleanup();
});

async function signIn(broker: Broker, token: string): Promise<string> {
  const response = await fetch(`${broker.adminUrl}/console/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { origin: broker.adminUrl, 'content-type': 'application/x-www-form-urlencoded' },
    body: `token=${encodeURIComponent(token)}`,
  });
  expect(response.status).toBe(303);
  return (response.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
}

const page = (broker: Broker, cookie: string) =>
  fetch(`${broker.adminUrl}/console/federation`, { redirect: 'manual', headers: { cookie } });

describe('named admins and console sessions across replicas (Redis store)', () => {
  it('an admin added on A works on B; a session from A works on B; removal on B ends it on A', async () => {
    const added = await admin<{ token: string }>(a, 'POST', '/v1/admin/admins', { name: 'dana' });
    expect(added.status).toBe(201);
    const me = await admin<{ actor: string }>(
      b,
      'GET',
      '/v1/admin/whoami',
      undefined,
      added.body.token,
    );
    expect(me.body.actor).toBe('admin:dana');

    const cookie = await signIn(a, added.body.token);
    const onB = await page(b, cookie);
    expect(onB.status).toBe(200);
    expect(await onB.text()).toContain('dana (admin)');

    expect((await admin(b, 'DELETE', '/v1/admin/admins/dana')).status).toBe(200);
    const onA = await page(a, cookie);
    expect([onA.status, onA.headers.get('location')]).toEqual([303, '/console/login']);
    const refused = await admin<{ error: { code: string } }>(
      a,
      'GET',
      '/v1/admin/whoami',
      undefined,
      added.body.token,
    );
    expect(refused.body.error.code).toBe('ERR_API_UNAUTHENTICATED');
  });
});
