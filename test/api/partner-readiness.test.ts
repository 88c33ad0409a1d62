// GET /readyz/bundle-endpoint and /readyz/agent-api on real brokers (FED-23, FED-52): what comes
// from an authority partners have not had one refresh hint to fetch is not ready (503 with
// Retry-After); ready when that time has passed, at once after a restart of an old broker; https_web
// endpoints are always ready. Open like /readyz: no admin token needed.
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { startBroker, type Broker } from '../../src/main.js';
import { testClock, type TestClock } from '../helpers/clock.js';
import { startTestBroker, testConfig } from '../helpers/broker.js';
import { createWebPki } from '../helpers/web-pki.js';

/** The refresh hint of testConfig. */
const HINT = 30;
const brokers: Broker[] = [];
afterEach(async () => {
  await Promise.all(brokers.splice(0).map((b) => b.stop()));
});

/** The real time, moved forward by hand (the brokers' TLS and timers still read the real clock). */
function clock(): TestClock {
  return testClock(Date.now(), { followWallClock: true });
}

async function readiness(
  broker: Broker,
  path = '/readyz/bundle-endpoint',
): Promise<{
  status: number;
  retryAfter: string | null;
  body: { status: string; checks: Record<string, string>; readyInSeconds?: number };
}> {
  // Deliberately without the admin token.
  const response = await fetch(`${broker.adminUrl}${path}`);
  return {
    status: response.status,
    retryAfter: response.headers.get('retry-after'),
    body: (await response.json()) as {
      status: string;
      checks: Record<string, string>;
      readyInSeconds?: number;
    },
  };
}

describe('GET /readyz/bundle-endpoint', () => {
  it('https_spiffe: not ready until the authority behind the endpoint SVID was served for one refresh hint', async () => {
    const time = clock();
    const broker = await startTestBroker({ trustDomain: 'ready.example', now: time.nowMs });
    brokers.push(broker);

    const before = await readiness(broker);
    expect(before.status).toBe(503);
    expect(before.body.status).toBe('not ready');
    expect(before.body.checks['bundleEndpoint']).toMatch(
      new RegExp(
        `^x509 authority [0-9a-f]+ has been in the served bundle for \\d+ s; partners refresh every ${HINT} s, ready in \\d+ s$`,
      ),
    );
    const wait = before.body.readyInSeconds as number;
    expect(wait).toBeGreaterThan(0);
    expect(wait).toBeLessThanOrEqual(HINT);
    expect(before.retryAfter).toBe(String(wait));
    // The general readiness is not held back by it.
    expect((await fetch(`${broker.adminUrl}/readyz`)).status).toBe(200);

    time.advance(wait);
    const after = await readiness(broker);
    expect(after.status).toBe(200);
    expect(after.body).toEqual({ status: 'ready', checks: { bundleEndpoint: 'ok' } });
    expect(after.retryAfter).toBeNull();
  });

  it('https_spiffe: ready at once when a broker restarts with an authority published a refresh hint ago', async () => {
    const time = clock();
    const loaded = testConfig({ trustDomain: 'restart.example' });
    const first = await startBroker(loaded, { logger: silentLogger, now: time.nowMs });
    const fresh = await readiness(first);
    await first.stop();
    expect(fresh.status).toBe(503);

    time.advance(HINT + 1);
    const again = await startBroker(loaded, { logger: silentLogger, now: time.nowMs });
    brokers.push(again);
    expect((await readiness(again)).status).toBe(200);
    expect((await readiness(again, '/readyz/agent-api')).status).toBe(200);
  });

  it('agent API: not ready until both active authorities (x509, JWT) were served for one refresh hint', async () => {
    const time = clock();
    const broker = await startTestBroker({
      trustDomain: 'agents.example',
      profile: 'https_web',
      webPki: createWebPki(),
      now: time.nowMs,
    });
    brokers.push(broker);
    const before = await readiness(broker, '/readyz/agent-api');
    expect(before.status).toBe(503);
    const detail = before.body.checks['agentApi'] as string;
    expect(detail).toMatch(
      /^x509 authority [0-9a-f]+ has been in the served bundle .*; jwt authority \S+ has been in the served bundle .*ready in \d+ s$/,
    );
    const wait = before.body.readyInSeconds as number;
    expect(wait).toBeGreaterThan(0);
    expect(before.retryAfter).toBe(String(wait));
    time.advance(wait);
    const after = await readiness(broker, '/readyz/agent-api');
    expect(after.status).toBe(200);
    expect(after.body).toEqual({ status: 'ready', checks: { agentApi: 'ok' } });
  });

  it('https_web: always ready (partners check a Web PKI certificate against their own roots)', async () => {
    const broker = await startTestBroker({
      trustDomain: 'web.example',
      profile: 'https_web',
      webPki: createWebPki(),
    });
    brokers.push(broker);
    const answer = await readiness(broker);
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ status: 'ready', checks: { bundleEndpoint: 'ok' } });
  });
});
