// Node and workload entries in the registration service (issue 17), on the file store and a real
// redis-server: no join token for a workload entry, workload SVIDs never authenticate as agents,
// overlap rules, and a node gets exactly its children.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRegistration, entryView, type Registration } from '../../src/registration/index.js';
import { parseSpiffeId, parseTrustDomain } from '../../src/spiffeid/index.js';
import { createStore, type Store } from '../../src/store/index.js';
import { requireRedisServer, startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { codeOf } from '../helpers/error-code.js';

const td = parseTrustDomain('td.example');
const logger = { info() {}, warn() {}, error() {}, debug() {} };
const clock = { now: Date.parse('2026-12-01T10:00:00Z') };

function contract(name: string, open: () => Promise<{ store: Store; close: () => Promise<void> }>) {
  describe(`node and workload entries on ${name}`, () => {
    let store: Store;
    let close: () => Promise<void>;
    let reg: Registration;

    beforeAll(async () => {
      ({ store, close } = await open());
      reg = createRegistration({
        store,
        ownTrustDomain: td,
        reserved: [],
        now: () => clock.now,
        randomBytes,
        logger,
        replicaId: 'r1',
      });
    });
    afterAll(async () => close());

    it('a node gets only its children; workload SVIDs are no agent credential; no workload token', async () => {
      const nodes = await reg.createEntry(
        { spiffeId: 'spiffe://td.example/nodes/{instance}', node: true },
        'admin',
      );
      const host = await reg.createEntry(
        { spiffeId: 'spiffe://td.example/hosts/h1', node: true },
        'admin',
      );
      const agent = await reg.createEntry({ spiffeId: 'spiffe://td.example/agents/a' }, 'admin');
      const onAllNodes = await reg.createEntry(
        {
          spiffeId: 'spiffe://td.example/web/{instance}',
          parentId: 'spiffe://td.example/nodes/{instance}',
          selectors: ['unix:uid:1000'],
          federatesWith: ['partner.example'],
        },
        'admin',
      );
      const onH1 = await reg.createEntry(
        {
          spiffeId: 'spiffe://td.example/db',
          parentId: 'spiffe://td.example/hosts/h1',
          selectors: ['unix:user:postgres'],
        },
        'admin',
      );
      // The same workload ID on a second node is allowed (entries are chosen by id) ...
      const onH2 = await reg.createEntry(
        {
          spiffeId: 'spiffe://td.example/db',
          parentId: 'spiffe://td.example/hosts/h2',
          selectors: ['unix:user:postgres'],
        },
        'admin',
      );
      // ... but never an ID an agent or node entry grants (its SVID would authenticate as them).
      expect(
        await codeOf(
          reg.createEntry(
            {
              spiffeId: 'spiffe://td.example/agents/a',
              parentId: 'spiffe://td.example/hosts/h1',
              selectors: ['unix:uid:1'],
            },
            'admin',
          ),
        ),
      ).toBe('ERR_REGISTRATION_ENTRY_EXISTS');
      expect(await codeOf(reg.createEntry({ spiffeId: 'spiffe://td.example/db' }, 'admin'))).toBe(
        'ERR_REGISTRATION_ENTRY_EXISTS',
      );

      const node1 = parseSpiffeId(`spiffe://td.example/nodes/${'n'.repeat(22)}`);
      const h1 = parseSpiffeId('spiffe://td.example/hosts/h1');
      expect((await reg.childEntries(node1, nodes)).map((e) => e.id)).toEqual([onAllNodes.id]);
      expect((await reg.childEntries(h1, host)).map((e) => e.id)).toEqual([onH1.id]);
      expect(await reg.childEntries(parseSpiffeId('spiffe://td.example/agents/a'), agent)).toEqual(
        [],
      );

      // entryFor answers agent and node entries only.
      expect((await reg.entryFor(h1))?.entry.id).toBe(host.id);
      expect(await reg.entryFor(parseSpiffeId('spiffe://td.example/db'))).toBeUndefined();
      expect(
        await reg.entryFor(parseSpiffeId(`spiffe://td.example/web/${'w'.repeat(22)}`)),
      ).toBeUndefined();

      expect(await codeOf(reg.createToken(onH2.id, { actor: 'admin' }))).toBe(
        'ERR_REGISTRATION_WORKLOAD_TOKEN',
      );
      const token = await reg.createToken(nodes.id, { actor: 'admin' });
      const enrolled = await reg.enrol(token.token);
      expect(enrolled.entry.node).toBe(true);

      // Read back from the store (fresh service, nothing cached): the fields survive.
      const shown = await reg.getEntry(onAllNodes.id);
      expect(entryView(shown)).toMatchObject({
        node: false,
        parentId: 'spiffe://td.example/nodes/{instance}',
        selectors: ['unix:uid:1000'],
        federatesWith: ['partner.example'],
      });
      expect(entryView(await reg.getEntry(nodes.id))).toMatchObject({
        node: true,
        parentId: null,
        selectors: [],
      });
    });

    it('an entry deleted disappears from the node children at once (change announced)', async () => {
      const host = await reg.createEntry(
        { spiffeId: 'spiffe://td.example/hosts/h9', node: true },
        'admin',
      );
      const child = await reg.createEntry(
        {
          spiffeId: 'spiffe://td.example/svc9',
          parentId: 'spiffe://td.example/hosts/h9',
          selectors: ['unix:uid:9'],
        },
        'admin',
      );
      const h9 = parseSpiffeId('spiffe://td.example/hosts/h9');
      expect((await reg.childEntries(h9, host)).map((e) => e.id)).toEqual([child.id]);
      let changes = 0;
      const off = reg.onChange(() => (changes += 1));
      await reg.deleteEntry(child.id);
      off();
      expect(changes).toBeGreaterThan(0);
      expect(await reg.childEntries(h9, host)).toEqual([]);
    });
  });
}

contract('the file store', async () => {
  const root = mkdtempSync(join(tmpdir(), 'fedbroker-node-entries-'));
  const store = await createStore({ kind: 'file', dir: root }, { logger, now: () => clock.now });
  return {
    store,
    close: async () => {
      await store.close();
      rmSync(root, { recursive: true, force: true });
    },
  };
});

contract('a real redis-server', async () => {
  requireRedisServer();
  const server: RedisServer = await startRedisServer();
  const store = await createStore(
    { kind: 'redis', url: `redis://127.0.0.1:${server.port}/0`, keyPrefix: 'node-entries:' },
    { logger, now: () => clock.now },
  );
  return {
    store,
    close: async () => {
      await store.close();
      await server.stop();
    },
  };
});
