// A new replica joining an organisation on one redis-server: its own new authorities reach partners
// only through the merged bundle, so its /readyz/agent-api and /readyz/bundle-endpoint (https_spiffe)
// hold it back for one refresh hint, while the replica that was already serving stays ready
// (FED-23, FED-52). One injected clock for both replicas.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Bundle } from '../../src/bundle/index.js';
import { silentLogger } from '../../src/log.js';
import { startBroker, type Broker } from '../../src/main.js';
import { testConfig } from '../helpers/broker.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';

const ORG = 'grow.test';
/** The refresh hint of testConfig. */
const HINT = 30;

let offsetMs = 0;
const nowMs = (): number => Date.now() + offsetMs;

async function status(broker: Broker, path: string): Promise<number> {
  return (await fetch(`${broker.adminUrl}${path}`)).status;
}

async function within(timeoutMs: number, check: () => boolean): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await new Promise((done) => setTimeout(done, 10));
  }
  return true;
}

const anchors = (bundle: Bundle): number => bundle.x509Authorities.length;

describe('a new replica waits one refresh hint before partners are sent to it', () => {
  let redis: RedisServer;
  let a: Broker;
  let b: Broker | undefined;

  beforeAll(async () => {
    redis = await startRedisServer();
    a = await startBroker(
      testConfig({ trustDomain: ORG, store: { kind: 'redis', url: redis.url, keyPrefix: 'g:' } }),
      { logger: silentLogger, now: nowMs, replicaId: 'replica-a' },
    );
  }, 60_000);

  afterAll(async () => {
    await b?.stop();
    await a?.stop();
    await redis?.cleanup();
  });

  it('the first replica is ready once its authorities were served for one refresh hint', async () => {
    expect(await status(a, '/readyz/agent-api')).toBe(503);
    expect(await status(a, '/readyz/bundle-endpoint')).toBe(503);
    offsetMs += (HINT + 1) * 1000;
    expect(await status(a, '/readyz/agent-api')).toBe(200);
    expect(await status(a, '/readyz/bundle-endpoint')).toBe(200);
  });

  it('a second replica starts unready; the first stays ready; both serve both authorities', async () => {
    b = await startBroker(
      testConfig({ trustDomain: ORG, store: { kind: 'redis', url: redis.url, keyPrefix: 'g:' } }),
      { logger: silentLogger, now: nowMs, replicaId: 'replica-b' },
    );
    const second = b;
    // B's authority reaches A through the store.
    expect(await within(5000, () => anchors(a.ca.localBundle()) === 2)).toBe(true);
    expect(anchors(second.ca.localBundle())).toBe(2);

    expect(await status(second, '/readyz/agent-api')).toBe(503);
    expect(await status(second, '/readyz/bundle-endpoint')).toBe(503);
    expect(await status(a, '/readyz/agent-api')).toBe(200);
    expect(await status(a, '/readyz/bundle-endpoint')).toBe(200);
    // The general readiness does not wait.
    expect(await status(second, '/readyz')).toBe(200);

    offsetMs += (HINT + 1) * 1000;
    expect(await status(second, '/readyz/agent-api')).toBe(200);
    expect(await status(second, '/readyz/bundle-endpoint')).toBe(200);
  });
});
