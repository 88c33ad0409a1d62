// Issue 15 #2 against a real broker over real sockets: a burst of wrong admin tokens gets 401 up
// to the per-address limit, then 429 ERR_API_RATE_LIMITED with Retry-After; the audit log gains
// aggregated admin.login_failed events only (not one per attempt), and earlier real events survive.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_FAILED_AUTH_LIMIT } from '../../src/api/auth-limit.js';
import { silentLogger } from '../../src/log.js';
import { startBroker, type Broker } from '../../src/main.js';
import { admin, testConfig } from '../helpers/broker.js';

const ATTEMPTS = 200;
let broker: Broker;

beforeAll(async () => {
  broker = await startBroker(testConfig({ trustDomain: 'logistics.test' }), {
    logger: silentLogger,
    failedLoginWindowMs: 500,
  });
});

afterAll(async () => {
  await broker?.stop();
});

async function wrongToken(): Promise<Response> {
  return fetch(`${broker.adminUrl}/v1/admin/relationships`, {
    headers: { authorization: 'Bearer not-the-admin-token' },
  });
}

describe('failed admin logins (issue 15 #2)', () => {
  it('are limited per address (429 + Retry-After) and audited as aggregates only', async () => {
    const created = await admin<{ entry: { id: string } }>(broker, 'POST', '/v1/admin/entries', {
      spiffeId: 'spiffe://logistics.test/agents/billing',
    });
    expect(created.status).toBe(201);

    const statuses: number[] = [];
    const limited: Response[] = [];
    for (let i = 0; i < ATTEMPTS; i++) {
      const response = await wrongToken();
      statuses.push(response.status);
      if (response.status === 429) limited.push(response);
      else await response.text();
    }
    expect(statuses.slice(0, DEFAULT_FAILED_AUTH_LIMIT)).toEqual(
      Array(DEFAULT_FAILED_AUTH_LIMIT).fill(401),
    );
    expect(limited).toHaveLength(ATTEMPTS - DEFAULT_FAILED_AUTH_LIMIT);
    const first = limited[0] as Response;
    expect(Number(first.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(((await first.json()) as { error: { code: string } }).error.code).toBe(
      'ERR_API_RATE_LIMITED',
    );
    for (const response of limited.slice(1)) await response.text();

    // The right token still works from the same address while it is limited.
    expect((await admin(broker, 'GET', '/v1/admin/relationships')).status).toBe(200);

    // One aggregate per window (500 ms here): wait for the failures to be written.
    let failures: { data: Record<string, unknown> }[] = [];
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      failures = (
        await admin<{ events: { data: Record<string, unknown> }[] }>(
          broker,
          'GET',
          '/v1/admin/audit?type=admin.login_failed&limit=1000',
        )
      ).body.events;
      const total = failures.reduce((sum, e) => sum + Number(e.data['count']), 0);
      if (total >= ATTEMPTS) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(failures.length).toBeGreaterThanOrEqual(1);
    expect(failures.length).toBeLessThan(ATTEMPTS / 10);
    expect(failures.reduce((sum, e) => sum + Number(e.data['count']), 0)).toBe(ATTEMPTS);
    expect(failures.reduce((sum, e) => sum + Number(e.data['limited']), 0)).toBe(
      ATTEMPTS - DEFAULT_FAILED_AUTH_LIMIT,
    );
    for (const event of failures) {
      expect(event.data).toMatchObject({
        aggregated: true,
        listener: 'admin',
        windowStart: expect.any(String) as string,
        windowEnd: expect.any(String) as string,
      });
      const sources = event.data['sources'] as { address: string }[];
      expect(sources.map((s) => s.address.replace(/^::ffff:/, ''))).toEqual(['127.0.0.1']);
    }

    const all = (
      await admin<{ events: { type: string; data: Record<string, unknown> }[] }>(
        broker,
        'GET',
        '/v1/admin/audit?limit=1000',
      )
    ).body.events;
    expect(all.filter((e) => e.type === 'entry.created')).toHaveLength(1);
    expect(all.length).toBeLessThan(20);
    expect(JSON.stringify(all)).not.toContain('not-the-admin-token');
    expect((await admin<{ ok: boolean }>(broker, 'GET', '/v1/admin/audit/verify')).body.ok).toBe(
      true,
    );
  }, 60_000);
});
