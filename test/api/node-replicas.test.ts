// Node watch across replicas (issue 17): two brokers of one organisation on one real redis-server;
// a node watching on replica A sees workload entries created and deleted on replica B (pub/sub),
// and B signs for the node enrolled on A.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newKeyAndCsr } from '../../src/agent/csr.js';
import { silentLogger } from '../../src/log.js';
import { startBroker, type Broker } from '../../src/main.js';
import {
  agentApi,
  anchorsOf,
  attest,
  type AgentTls,
  type IssuedSvid,
} from '../helpers/agent-api.js';
import { admin, testConfig } from '../helpers/broker.js';
import { openNodeWatch } from '../helpers/node-watch.js';
import { requireRedisServer, startRedisServer, type RedisServer } from '../helpers/redis-server.js';

const ORG = 'nodes-org.test';
const AGENT_API_ID = `spiffe://${ORG}/fedbroker/agent-api`;

let redis: RedisServer;
let a: Broker;
let b: Broker;
let node: IssuedSvid;

const tlsFor = (replica: Broker): AgentTls => ({
  anchorsPem: anchorsOf(replica.ca.localBundle()),
  serverSpiffeId: AGENT_API_ID,
});

beforeAll(async () => {
  requireRedisServer();
  redis = await startRedisServer();
  const store = { kind: 'redis', url: redis.url, keyPrefix: 'nodes:' };
  a = await startBroker(testConfig({ trustDomain: ORG, store }), {
    logger: silentLogger,
    replicaId: 'replica-a',
  });
  b = await startBroker(testConfig({ trustDomain: ORG, store }), {
    logger: silentLogger,
    replicaId: 'replica-b',
  });
  const nodes = await admin<{ entry: { id: string } }>(a, 'POST', '/v1/admin/entries', {
    spiffeId: `spiffe://${ORG}/nodes/{instance}`,
    node: true,
  });
  const token = await admin<{ token: string }>(a, 'POST', '/v1/admin/tokens', {
    entryId: nodes.body.entry.id,
  });
  node = await attest(a.agentApiUrl, tlsFor(a), token.body.token);
}, 60_000);

afterAll(async () => {
  await a?.stop();
  await b?.stop();
  await redis?.cleanup();
});

interface StateJson {
  revision: string;
  entries: { id: string }[];
}

describe('node watch across replicas', () => {
  it('entries created and deleted on B reach a watch open on A; B signs for the node enrolled on A', async () => {
    const watch = await openNodeWatch(a.agentApiUrl, tlsFor(a), node);
    try {
      expect(watch.status).toBe(200);
      const first = JSON.parse((await watch.next()).data) as StateJson;
      expect(first.entries).toEqual([]);
      const created = await admin<{ entry: { id: string } }>(b, 'POST', '/v1/admin/entries', {
        spiffeId: `spiffe://${ORG}/svc/{instance}`,
        parentId: `spiffe://${ORG}/nodes/{instance}`,
        selectors: ['unix:uid:1000'],
      });
      expect(created.status).toBe(201);
      let added = JSON.parse((await watch.next()).data) as StateJson;
      while (added.entries.length === 0) added = JSON.parse((await watch.next()).data) as StateJson;
      expect(added.entries.map((e) => e.id)).toEqual([created.body.entry.id]);

      // The node renews nothing on B, yet B signs for it: the entries live in the shared store.
      const issued = await agentApi(
        b.agentApiUrl,
        'POST',
        '/v1/agent/node/x509svid',
        { ...tlsFor(b), client: { certPem: node.certPem, keyPem: node.keyPem } },
        {
          entryId: created.body.entry.id,
          instance: 'IIIIIIIIIIIIIIIIIIIIII',
          csr: newKeyAndCsr().csrDer.toString('base64'),
          workload: { pid: 5, uid: 1000, gid: 1000, startTime: '1' },
        },
      );
      expect(issued.status).toBe(200);
      expect(issued.json?.['spiffeId']).toBe(`spiffe://${ORG}/svc/IIIIIIIIIIIIIIIIIIIIII`);

      const deleted = await admin(b, 'DELETE', `/v1/admin/entries/${created.body.entry.id}`);
      expect(deleted.status).toBe(200);
      let state = JSON.parse((await watch.next()).data) as StateJson;
      // A bundle change (B's CA joining the shared bundle) may come first; wait for the deletion.
      while (state.entries.length > 0) state = JSON.parse((await watch.next()).data) as StateJson;
      expect(state.entries).toEqual([]);
      expect(state.revision).toBe(first.revision);
    } finally {
      watch.close();
    }
  });
});
