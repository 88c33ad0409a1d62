// Issue 15 #3: no acknowledgement without its audit record. A real broker on a real redis-server,
// stalled with SIGSTOP: renewals (x509), JWT-SVIDs and admin changes answer 503
// ERR_STORE_UNAVAILABLE and hand nothing out; after SIGCONT every acknowledged SVID has its event.
import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { startBroker, type Broker } from '../../src/main.js';
import {
  agentApi,
  anchorsOf,
  attest,
  errorCode,
  renew,
  type AgentTls,
  type IssuedSvid,
} from '../helpers/agent-api.js';
import { admin, testConfig } from '../helpers/broker.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';

let redis: RedisServer;
let broker: Broker;
let tls: AgentTls;
let svid: IssuedSvid;
/** Serials (lowercase hex, no leading zeros) of every X509-SVID the broker answered 200 with. */
const acknowledged = new Set<string>();

const serialOf = (issued: IssuedSvid): string =>
  new X509Certificate(issued.chainDer[0] as Buffer).serialNumber.toLowerCase().replace(/^0+/, '');

beforeAll(async () => {
  redis = await startRedisServer();
  broker = await startBroker(
    testConfig({
      trustDomain: 'logistics.test',
      store: { kind: 'redis', url: redis.url, keyPrefix: 'failclosed:', commandTimeout: '1s' },
    }),
    { logger: silentLogger },
  );
  tls = {
    anchorsPem: anchorsOf(broker.ca.localBundle()),
    serverSpiffeId: broker.agentApiSpiffeId,
  };
  const entry = await broker.registration.createEntry(
    { spiffeId: 'spiffe://logistics.test/agents/planner' },
    'test',
  );
  const { token } = await broker.registration.createToken(entry.id, { actor: 'test' });
  svid = await attest(broker.agentApiUrl, tls, token);
  acknowledged.add(serialOf(svid));
}, 60_000);

afterAll(async () => {
  redis?.resume();
  await broker?.stop();
  await redis?.cleanup();
});

describe('audit appends fail closed (issue 15 #3)', () => {
  it('while Redis is stalled: renewal, JWT-SVID and admin changes answer 503 ERR_STORE_UNAVAILABLE', async () => {
    const before = await renew(broker.agentApiUrl, tls, svid);
    expect(before.response.status).toBe(200);
    acknowledged.add(serialOf(before.svid as IssuedSvid));

    redis.pause();
    try {
      const renewal = await renew(broker.agentApiUrl, tls, svid);
      expect(renewal.response.status).toBe(503);
      expect(errorCode(renewal.response)).toBe('ERR_STORE_UNAVAILABLE');
      expect(renewal.response.text).not.toContain('BEGIN CERTIFICATE');
      expect(renewal.response.json?.['x509Svid']).toBeUndefined();

      const jwt = await agentApi(
        broker.agentApiUrl,
        'POST',
        '/v1/agent/jwtsvid',
        { ...tls, client: { certPem: svid.certPem, keyPem: svid.keyPem } },
        { audience: ['spiffe://shipping.test/api'] },
      );
      expect(jwt.status).toBe(503);
      expect(errorCode(jwt)).toBe('ERR_STORE_UNAVAILABLE');
      expect(jwt.json?.['token']).toBeUndefined();

      const minted = await admin(broker, 'POST', '/v1/admin/svids/jwt', {
        spiffeId: 'spiffe://logistics.test/ops',
        audience: ['x'],
      });
      expect(minted.status).toBe(503);
      expect((minted.body as { error?: { code?: string } }).error?.code).toBe(
        'ERR_STORE_UNAVAILABLE',
      );
      expect(JSON.stringify(minted.body)).not.toContain('"token"');

      const prepared = await admin(broker, 'POST', '/v1/admin/authorities/x509/prepare');
      expect(prepared.status).toBe(503);
    } finally {
      redis.resume();
    }
  }, 60_000);

  it('after SIGCONT: renewals answer 200 again and every acknowledged SVID has its svid.issued event', async () => {
    let after: Awaited<ReturnType<typeof renew>> | undefined;
    for (let attempt = 0; attempt < 50; attempt++) {
      after = await renew(broker.agentApiUrl, tls, svid);
      if (after.response.status === 200) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(after?.response.status).toBe(200);
    acknowledged.add(serialOf(after?.svid as IssuedSvid));

    const events = await broker.store.listAudit({ limit: 1000, type: 'svid.issued' });
    const audited = new Set(
      events
        .filter((e) => e.data['kind'] === 'x509')
        .map((e) => String(e.data['serial']).toLowerCase().replace(/^0+/, '')),
    );
    expect(acknowledged.size).toBe(3);
    for (const serial of acknowledged) expect(audited.has(serial), serial).toBe(true);
    const verified = await admin<{ ok: boolean }>(broker, 'GET', '/v1/admin/audit/verify');
    expect(verified.body.ok).toBe(true);
  }, 60_000);
});
