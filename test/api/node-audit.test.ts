// Node issuance fails closed: when the audit append rejects, no SVID is handed out (503
// ERR_STORE_UNAVAILABLE). Through app.request() with a simulated TLS socket carrying a REAL chain.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newKeyAndCsr } from '../../src/agent/csr.js';
import { createAgentApp, type AgentDeps } from '../../src/api/agent-app.js';
import { StoreError } from '../../src/errors.js';
import type { Broker } from '../../src/main.js';
import { parseSpiffeId } from '../../src/spiffeid/index.js';
import { startTestBroker } from '../helpers/broker.js';
import { socketFor } from './agent-app-fixture.js';

const TD = 'audit-node.test';
let broker: Broker;
let controller: AbortController;
let nodeChain: Buffer[];
let entryId: string;

function deps(audit: AgentDeps['audit']): AgentDeps {
  return {
    ca: broker.ca,
    registration: broker.registration,
    federation: broker.federation,
    audit,
    logger: { info() {}, warn() {}, error() {} },
    now: () => Date.now(),
    serverSpiffeId: () => broker.agentApiSpiffeId,
    signal: controller.signal,
  };
}

async function issue(app: ReturnType<typeof createAgentApp>): Promise<Response> {
  const request = new Request('http://agent.test/v1/agent/node/x509svid', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      entryId,
      csr: newKeyAndCsr().csrDer.toString('base64'),
      workload: { pid: 10, uid: 1000, gid: 1000, startTime: '99' },
    }),
  });
  return app.request(request, undefined, { incoming: { socket: socketFor(nodeChain) } });
}

beforeAll(async () => {
  broker = await startTestBroker({ trustDomain: TD });
  controller = new AbortController();
  await broker.registration.createEntry(
    { spiffeId: `spiffe://${TD}/hosts/h1`, node: true },
    'test',
  );
  entryId = (
    await broker.registration.createEntry(
      {
        spiffeId: `spiffe://${TD}/svc`,
        parentId: `spiffe://${TD}/hosts/h1`,
        selectors: ['unix:uid:1000'],
      },
      'test',
    )
  ).id;
  const issued = await broker.ca.issueX509Svid({
    spiffeId: parseSpiffeId(`spiffe://${TD}/hosts/h1`),
    csr: newKeyAndCsr().csrDer,
  });
  nodeChain = [...issued.chainDer];
});

afterAll(async () => {
  controller.abort();
  await broker?.stop();
});

describe('node issuance and the audit log', () => {
  it('fails closed with 503 ERR_STORE_UNAVAILABLE when the audit append rejects', async () => {
    const app = createAgentApp(
      deps(async () => {
        throw new StoreError('ERR_STORE_UNAVAILABLE', 'redis did not answer');
      }),
    );
    const response = await issue(app);
    expect(response.status).toBe(503);
    const body = (await response.json()) as { error: { code: string }; x509Svid?: unknown };
    expect(body.error.code).toBe('ERR_STORE_UNAVAILABLE');
    expect(body.x509Svid).toBeUndefined();
  });

  it('any other audit failure is also a 503, never a 200', async () => {
    const app = createAgentApp(
      deps(async () => {
        throw new Error('disk full');
      }),
    );
    const response = await issue(app);
    expect(response.status).toBe(503);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe(
      'ERR_STORE_UNAVAILABLE',
    );
  });

  it('issues when the audit append succeeds (the event carries the workload facts)', async () => {
    const events: Record<string, unknown>[] = [];
    const app = createAgentApp(
      deps(async (event) => {
        events.push({ type: event.type, actor: event.actor, ...event.details });
      }),
    );
    const response = await issue(app);
    expect(response.status).toBe(200);
    expect(events).toEqual([
      expect.objectContaining({
        type: 'svid.issued',
        actor: `spiffe://${TD}/hosts/h1`,
        node: `spiffe://${TD}/hosts/h1`,
        entryId,
        pid: 10,
        uid: 1000,
        sha256: null,
      }),
    ]);
  });
});
