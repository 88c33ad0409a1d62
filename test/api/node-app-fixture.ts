// Shared fixture of the node-app-*.test.ts files: a real broker on 127.0.0.1 (real mTLS) with node and
// workload entries (a node template with two enrolled nodes, a fixed node, a plain agent, one workload
// entry under each node), and the admin and node-route callers the tests use.
import { afterAll, beforeAll } from 'vitest';
import { newKeyAndCsr } from '../../src/agent/csr.js';
import type { Broker } from '../../src/main.js';
import {
  agentApi,
  anchorsOf,
  attest,
  type AgentTls,
  type IssuedSvid,
} from '../helpers/agent-api.js';
import { admin, startTestBroker } from '../helpers/broker.js';

export const TD = 'node.test';
export const PARTNER = 'partner.test';
export const SHA = 'c0ffee'.padEnd(64, '0');
export const INSTANCE_A = 'AAAAAAAAAAAAAAAAAAAAAA';
export const INSTANCE_B = 'BBBBBBBBBBBBBBBBBBBBBB';
export const WORKLOAD = { pid: 4242, uid: 1000, gid: 1000, startTime: '123456' };

// Set by the hooks useNodeAppWorld registers (live bindings: importers see the current values).
export let broker: Broker;
export let tls: AgentTls;
/** Two nodes enrolled through one node template, one fixed node, one plain agent. */
export let nodeA: IssuedSvid;
export let nodeB: IssuedSvid;
export let host: IssuedSvid;
export let plainAgent: IssuedSvid;
export let webEntryId: string;
export let dbEntryId: string;

export interface EntryJson {
  id: string;
  spiffeId: string;
  node: boolean;
  parentId: string | null;
  selectors: string[];
}

export async function createEntry(body: Record<string, unknown>): Promise<EntryJson> {
  const response = await admin<{ entry: EntryJson }>(broker, 'POST', '/v1/admin/entries', body);
  if (response.status !== 201) throw new Error(`entry: ${JSON.stringify(response.body)}`);
  return response.body.entry;
}

async function enrol(entryId: string): Promise<IssuedSvid> {
  const token = await admin<{ token: string }>(broker, 'POST', '/v1/admin/tokens', { entryId });
  return attest(broker.agentApiUrl, tls, token.body.token);
}

export function as(svid: IssuedSvid | undefined): AgentTls {
  return svid === undefined
    ? tls
    : { ...tls, client: { certPem: svid.certPem, keyPem: svid.keyPem } };
}

export function nodeCall(
  svid: IssuedSvid | undefined,
  method: string,
  path: string,
  body?: unknown,
) {
  return agentApi(broker.agentApiUrl, method, `/v1/agent/node${path}`, as(svid), body);
}

export function csrBase64(): { csr: string; keyPem: string } {
  const { privateKey, csrDer } = newKeyAndCsr();
  return {
    csr: csrDer.toString('base64'),
    keyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
  };
}

/** Registers the calling test file's hooks: the broker, its entries and enrolled agents before all, stopped after all. */
export function useNodeAppWorld(): void {
  beforeAll(async () => {
    broker = await startTestBroker({ trustDomain: TD });
    tls = {
      anchorsPem: anchorsOf(broker.ca.localBundle()),
      serverSpiffeId: broker.agentApiSpiffeId,
    };
    const nodes = await createEntry({ spiffeId: `spiffe://${TD}/nodes/{instance}`, node: true });
    const hosts = await createEntry({ spiffeId: `spiffe://${TD}/hosts/h1`, node: true });
    const agents = await createEntry({ spiffeId: `spiffe://${TD}/agents/{instance}` });
    webEntryId = (
      await createEntry({
        spiffeId: `spiffe://${TD}/web/{instance}`,
        parentId: `spiffe://${TD}/nodes/{instance}`,
        selectors: ['unix:uid:1000'],
      })
    ).id;
    dbEntryId = (
      await createEntry({
        spiffeId: `spiffe://${TD}/db`,
        parentId: `spiffe://${TD}/hosts/h1`,
        selectors: ['unix:uid:999', `unix:sha256:${SHA}`, 'unix:user:postgres'],
      })
    ).id;
    nodeA = await enrol(nodes.id);
    nodeB = await enrol(nodes.id);
    host = await enrol(hosts.id);
    plainAgent = await enrol(agents.id);
  });

  afterAll(async () => {
    await broker?.stop();
  });
}
