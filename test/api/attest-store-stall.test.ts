// Review 12 F3 through a real broker on a real redis-server stalled with SIGSTOP: attest calls with a
// bogus join token that the store cannot answer (503) count against their source address like a
// refused token, so one address cannot keep a stalled store's connection busy without being limited.
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Broker } from '../../src/main.js';
import { agentApi, anchorsOf, keyAndCsr, type AgentTls } from '../helpers/agent-api.js';
import { startTestBroker } from '../helpers/broker.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';

let redis: RedisServer;
let broker: Broker;
let tls: AgentTls;

beforeAll(async () => {
  redis = await startRedisServer();
  broker = await startTestBroker({
    trustDomain: 'stall.example',
    store: { kind: 'redis', url: redis.url, keyPrefix: 'attest-stall:', commandTimeout: '1s' },
  });
  tls = { anchorsPem: anchorsOf(broker.ca.localBundle()), serverSpiffeId: broker.agentApiSpiffeId };
}, 60_000);

afterAll(async () => {
  redis?.resume();
  await broker?.stop();
  await redis?.cleanup();
});

it('attests with a bogus token answered 503 during a stall are counted: the address gets 429', async () => {
  const { csr } = keyAndCsr();
  const entry = await broker.registration.createEntry(
    { spiffeId: 'spiffe://stall.example/agents/x' },
    'test',
  );
  const { token } = await broker.registration.createToken(entry.id, { actor: 'test' });
  // Well-formed, so the broker looks it up in the store, but not a token it issued.
  const bogus = token.slice(0, -4) + (token.endsWith('AAAA') ? 'BBBB' : 'AAAA');
  const statuses: Record<number, number> = {};
  redis.pause();
  try {
    let sent = 0;
    const worker = async (): Promise<void> => {
      while (sent < 40) {
        sent++;
        const response = await agentApi(broker.agentApiUrl, 'POST', '/v1/agent/attest', tls, {
          joinToken: bogus,
          csr,
        });
        statuses[response.status] = (statuses[response.status] ?? 0) + 1;
      }
    };
    await Promise.all(Array.from({ length: 10 }, worker));
  } finally {
    redis.resume();
  }
  // Before: {"503": 40}. The limit is 10 failures per address and window.
  expect(statuses[503] ?? 0).toBeLessThanOrEqual(20);
  expect(statuses[429] ?? 0).toBeGreaterThanOrEqual(20);
}, 60_000);
