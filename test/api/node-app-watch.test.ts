// The node agent's watch stream on a real broker over real mTLS on 127.0.0.1 (issue 17, contract17):
// it sends a new complete state on entry and bundle changes and on an authority activation; only a
// node may watch, and a node's open streams are capped (issue 15 finding 7).
import { describe, expect, it } from 'vitest';
import { agentApi, bundleFromJson, errorCode } from '../helpers/agent-api.js';
import { admin, approvePartner } from '../helpers/broker.js';
import { openNodeWatch } from '../helpers/node-watch.js';
import { bundleOf, createCa } from '../helpers/pki.js';
import {
  PARTNER,
  TD,
  broker,
  createEntry,
  dbEntryId,
  host,
  nodeCall,
  plainAgent,
  tls,
  useNodeAppWorld,
} from './node-app-fixture.js';

useNodeAppWorld();

interface StateJson {
  revision: string;
  entries: { id: string; spiffeId: string }[];
  bundles: Record<string, unknown>;
  activeX509Authority?: string;
}

describe('GET /v1/agent/node/watch', () => {
  it('sends the complete state on connect, and again on entry added/deleted, partner and own bundle change', async () => {
    const watch = await openNodeWatch(broker.agentApiUrl, tls, host);
    try {
      expect(watch.status).toBe(200);
      const first = await watch.next();
      expect(first.event).toBe('state');
      const initial = JSON.parse(first.data) as StateJson;
      expect(initial.entries.map((e) => e.id)).toEqual([dbEntryId]);
      expect(Object.keys(initial.bundles)).toEqual([TD]);
      const ownAtStart = bundleFromJson(JSON.stringify(initial.bundles[TD]), TD);

      // A partner the new entry federates with: its bundle joins the state with the entry.
      const partnerCa = await createCa({ trustDomain: PARTNER });
      await approvePartner(broker, PARTNER, bundleOf(PARTNER, [partnerCa]));
      const added = await createEntry({
        spiffeId: `spiffe://${TD}/cache`,
        parentId: `spiffe://${TD}/hosts/h1`,
        selectors: ['unix:uid:70'],
        federatesWith: [PARTNER],
      });
      let state = JSON.parse((await watch.next()).data) as StateJson;
      while (!state.entries.some((e) => e.id === added.id)) {
        state = JSON.parse((await watch.next()).data) as StateJson;
      }
      expect(state.entries.map((e) => e.id).sort()).toEqual([dbEntryId, added.id].sort());
      expect(Object.keys(state.bundles).sort()).toEqual([PARTNER, TD].sort());
      expect(state.revision).not.toBe(initial.revision);

      const deleted = await admin(broker, 'DELETE', `/v1/admin/entries/${added.id}`);
      expect(deleted.status).toBe(200);
      state = JSON.parse((await watch.next()).data) as StateJson;
      expect(state.entries.map((e) => e.id)).toEqual([dbEntryId]);
      expect(Object.keys(state.bundles)).toEqual([TD]);
      expect(state.revision).toBe(initial.revision);

      // Our own bundle changes (a new authority prepared): a new state carries it.
      await broker.ca.prepare('x509');
      state = JSON.parse((await watch.next()).data) as StateJson;
      const own = bundleFromJson(JSON.stringify(state.bundles[TD]), TD);
      expect(own.x509Authorities.length).toBe(ownAtStart.x509Authorities.length + 1);

      // Issue 17 activation gap: the state names the active X.509 authority; an activation (no
      // bundle change) sends a new state naming the new one.
      const activeId = (): string | undefined =>
        broker.ca.authorities('x509').find((a) => a.state === 'active')?.id;
      expect(initial.activeX509Authority).toBe(activeId());
      expect(state.activeX509Authority).toBe(initial.activeX509Authority);
      const prepared = broker.ca.authorities('x509').find((a) => a.state === 'prepared');
      await broker.ca.activate('x509', prepared?.id, { force: true });
      state = JSON.parse((await watch.next()).data) as StateJson;
      while (state.activeX509Authority === initial.activeX509Authority) {
        state = JSON.parse((await watch.next()).data) as StateJson;
      }
      expect(state.activeX509Authority).toBe(prepared?.id);
      expect(activeId()).toBe(prepared?.id);
    } finally {
      watch.close();
    }
  });

  it('a non-node SVID cannot watch (403 ERR_API_NOT_NODE)', async () => {
    const response = await nodeCall(plainAgent, 'GET', '/watch');
    expect([response.status, errorCode(response)]).toEqual([403, 'ERR_API_NOT_NODE']);
  });
});

describe('GET /v1/agent/node/watch: stream caps (issue 15 finding 7)', () => {
  it('the 5th open stream of one node gets 429 ERR_API_TOO_MANY_STREAMS (default cap 4)', async () => {
    const open = [];
    try {
      for (let i = 0; i < 4; i++) open.push(await openNodeWatch(broker.agentApiUrl, tls, host));
      expect(open.map((w) => w.status)).toEqual([200, 200, 200, 200]);
      const refused = await agentApi(broker.agentApiUrl, 'GET', '/v1/agent/node/watch', {
        ...tls,
        client: { certPem: host.certPem, keyPem: host.keyPem },
      });
      expect([refused.status, errorCode(refused)]).toEqual([429, 'ERR_API_TOO_MANY_STREAMS']);
    } finally {
      for (const watch of open) watch.close();
    }
  });
});
