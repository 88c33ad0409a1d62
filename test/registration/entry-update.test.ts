// Registration.updateEntry (issue 18 #6, `entry update`): what may change in place, what is refused
// (identity fields, invalid values, with create's codes), compare-and-set across two replicas on a
// real redis-server, and the change announced over pub/sub.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createRegistration,
  type EntryInput,
  type EntryPatch,
  type Registration,
} from '../../src/registration/index.js';
import { parseSpiffeId, parseTrustDomain } from '../../src/spiffeid/index.js';
import { createStore, type Store } from '../../src/store/index.js';
import { testClock } from '../helpers/clock.js';
import { requireRedisServer, startRedisServer, type RedisServer } from '../helpers/redis-server.js';

const TD = 'logistics.example';
const td = parseTrustDomain(TD);
const reserved = [parseSpiffeId(`spiffe://${TD}/spiffe/bundle-endpoint`)];
import { silentLogger as logger } from '../../src/log.js';
import { codeOf } from '../helpers/error-code.js';
const clock = testClock(Date.parse('2026-12-07T10:00:00Z'));

function registration(store: Store, replicaId: string): Registration {
  return createRegistration({
    store,
    ownTrustDomain: td,
    reserved,
    now: clock.nowMs,
    randomBytes,
    logger,
    replicaId,
  });
}

let counter = 0;
const agentInput = (): EntryInput => ({
  spiffeId: `spiffe://${TD}/agents/a${++counter}/{instance}`,
  federatesWith: ['shipping.example'],
  ttlSeconds: 600,
  dnsNames: ['a.internal'],
  description: 'agent',
});
const workloadInput = (): EntryInput => ({
  spiffeId: `spiffe://${TD}/workloads/w${++counter}`,
  parentId: `spiffe://${TD}/nodes/n1`,
  selectors: ['unix:uid:1000'],
});

describe('updateEntry on the file store', () => {
  let root: string;
  let store: Store;
  let reg: Registration;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'fedbroker-entry-update-'));
    store = await createStore({ kind: 'file', dir: root }, { logger, now: clock.nowMs });
    reg = registration(store, 'r1');
  });
  afterAll(async () => {
    await store.close();
    rmSync(root, { recursive: true, force: true });
  });

  // [name, entry kind, patch, changed fields, what the stored entry then says]
  const accepted: [string, 'agent' | 'workload', EntryPatch, string[], Record<string, unknown>][] =
    [
      [
        'federatesWith replaced (deduplicated, sorted)',
        'agent',
        { federatesWith: ['transit.example', 'shipping.example', 'transit.example'] },
        ['federatesWith'],
        { federatesWith: ['shipping.example', 'transit.example'] },
      ],
      ['federatesWith cleared', 'agent', { federatesWith: [] }, ['federatesWith'], {}],
      ['ttl changed', 'agent', { ttlSeconds: 3600 }, ['ttlSeconds'], { ttlSeconds: 3600 }],
      [
        'ttl back to the CA default',
        'agent',
        { ttlSeconds: null },
        ['ttlSeconds'],
        { ttlSeconds: undefined },
      ],
      [
        'dns names lower-cased',
        'agent',
        { dnsNames: ['B.Internal'] },
        ['dnsNames'],
        { dnsNames: ['b.internal'] },
      ],
      [
        'description and dns together',
        'agent',
        { description: 'renamed', dnsNames: [] },
        ['dnsNames', 'description'],
        { description: 'renamed', dnsNames: [] },
      ],
      [
        'same values: nothing changed',
        'agent',
        { federatesWith: ['shipping.example'], ttlSeconds: 600 },
        [],
        { federatesWith: ['shipping.example'], ttlSeconds: 600 },
      ],
      [
        'workload selectors replaced (canonical, sorted)',
        'workload',
        { selectors: ['unix:uid:2000', 'unix:gid:50'] },
        ['selectors'],
        { selectors: ['unix:gid:50', 'unix:uid:2000'] },
      ],
    ];

  it.each(accepted)('accepts: %s', async (_name, kind, patch, changed, expected) => {
    const created = await reg.createEntry(
      kind === 'agent' ? agentInput() : workloadInput(),
      'admin:alice',
    );
    const result = await reg.updateEntry(created.id, patch);
    expect(result.changed).toEqual(changed);
    expect(result.before).toEqual(created);
    const stored = await reg.getEntry(created.id);
    expect(stored).toEqual(result.entry);
    // What defines the identity and the creation facts are kept.
    expect([stored.id, stored.pattern, stored.node, stored.parentId]).toEqual([
      created.id,
      created.pattern,
      created.node,
      created.parentId,
    ]);
    expect([stored.createdAtMs, stored.createdBy]).toEqual([created.createdAtMs, 'admin:alice']);
    for (const [field, value] of Object.entries(expected)) {
      expect(stored[field as keyof typeof stored]).toEqual(value);
    }
    if (patch.federatesWith?.length === 0) expect(stored.federatesWith).toEqual([]);
  });

  // [name, entry kind, patch, code]: identity refused; every value checked as create checks it.
  const refused: [string, 'agent' | 'workload', Record<string, unknown>, string][] = [
    [
      'spiffeId (identity)',
      'agent',
      { spiffeId: `spiffe://${TD}/other` },
      'ERR_REGISTRATION_ENTRY_IMMUTABLE',
    ],
    ['node (identity)', 'agent', { node: true }, 'ERR_REGISTRATION_ENTRY_IMMUTABLE'],
    [
      'parentId (identity)',
      'workload',
      { parentId: `spiffe://${TD}/nodes/n2` },
      'ERR_REGISTRATION_ENTRY_IMMUTABLE',
    ],
    [
      'identity beside a valid change',
      'agent',
      { spiffeId: 'x', description: 'd' },
      'ERR_REGISTRATION_ENTRY_IMMUTABLE',
    ],
    ['nothing to change', 'agent', {}, 'ERR_REGISTRATION_ENTRY_INVALID'],
    [
      'own trust domain in federatesWith',
      'agent',
      { federatesWith: [TD] },
      'ERR_REGISTRATION_ENTRY_INVALID',
    ],
    [
      'upper-case trust domain (ID-4)',
      'agent',
      { federatesWith: ['Transit.Example'] },
      'ERR_REGISTRATION_ENTRY_INVALID',
    ],
    [
      'malformed trust domain (ID-4)',
      'agent',
      { federatesWith: ['Bad Domain!'] },
      'ERR_REGISTRATION_ENTRY_INVALID',
    ],
    ['ttl below minimum', 'agent', { ttlSeconds: 59 }, 'ERR_REGISTRATION_ENTRY_INVALID'],
    ['ttl above maximum', 'agent', { ttlSeconds: 86_401 }, 'ERR_REGISTRATION_ENTRY_INVALID'],
    ['ttl not whole', 'agent', { ttlSeconds: 60.5 }, 'ERR_REGISTRATION_ENTRY_INVALID'],
    ['bad dns name', 'agent', { dnsNames: ['-bad-.example'] }, 'ERR_REGISTRATION_ENTRY_INVALID'],
    [
      'selectors on an agent entry',
      'agent',
      { selectors: ['unix:uid:1'] },
      'ERR_REGISTRATION_SELECTOR_INVALID',
    ],
    [
      'workload selectors emptied',
      'workload',
      { selectors: [] },
      'ERR_REGISTRATION_SELECTOR_INVALID',
    ],
    [
      'unknown selector type',
      'workload',
      { selectors: ['k8s:ns:x'] },
      'ERR_REGISTRATION_SELECTOR_INVALID',
    ],
  ];

  it.each(refused)('refuses: %s -> %s, entry unchanged', async (_name, kind, patch, code) => {
    const created = await reg.createEntry(
      kind === 'agent' ? agentInput() : workloadInput(),
      'admin:alice',
    );
    expect(await codeOf(reg.updateEntry(created.id, patch as EntryPatch))).toBe(code);
    expect(await reg.getEntry(created.id)).toEqual(created);
  });

  it('the identity refusal says to delete and re-create', async () => {
    const created = await reg.createEntry(agentInput(), 'admin');
    await expect(
      reg.updateEntry(created.id, { spiffeId: `spiffe://${TD}/x`, parentId: 'y' }),
    ).rejects.toThrow(/spiffeId, parentId .*delete and re-create/);
  });

  it.each([
    ['unknown id', 'e_AAAAAAAAAAAAAAAAAAAAAA'],
    ['malformed id', '../etc'],
  ])('%s -> ERR_REGISTRATION_ENTRY_NOT_FOUND', async (_name, id) => {
    expect(await codeOf(reg.updateEntry(id, { description: 'x' }))).toBe(
      'ERR_REGISTRATION_ENTRY_NOT_FOUND',
    );
  });

  it('a deleted entry is not resurrected by an update', async () => {
    const created = await reg.createEntry(agentInput(), 'admin');
    await reg.deleteEntry(created.id);
    expect(await codeOf(reg.updateEntry(created.id, { description: 'x' }))).toBe(
      'ERR_REGISTRATION_ENTRY_NOT_FOUND',
    );
    expect(await store.getEntry(created.id)).toBeUndefined();
  });
});

describe('updateEntry on a real redis-server shared by two replicas', () => {
  let server: RedisServer;
  let storeA: Store;
  let storeB: Store;
  const controller = new AbortController();

  beforeAll(async () => {
    requireRedisServer();
    server = await startRedisServer();
    const options = { kind: 'redis' as const, url: server.url, keyPrefix: 'upd:' };
    storeA = await createStore(options, { logger, now: clock.nowMs });
    storeB = await createStore(options, { logger, now: clock.nowMs });
  });
  afterAll(async () => {
    controller.abort();
    await storeA?.close();
    await storeB?.close();
    await server?.stop();
  });

  it('concurrent updates of different fields on two replicas: both survive (compare-and-set)', async () => {
    const a = registration(storeA, 'a');
    const b = registration(storeB, 'b');
    const created = await a.createEntry(agentInput(), 'admin');
    const rounds = 10;
    for (let i = 0; i < rounds; i++) {
      await Promise.all([
        a.updateEntry(created.id, { description: `round ${i}` }),
        b.updateEntry(created.id, { dnsNames: [`r${i}.internal`] }),
      ]);
      const stored = await a.getEntry(created.id);
      expect([stored.description, stored.dnsNames]).toEqual([`round ${i}`, [`r${i}.internal`]]);
    }
  });

  it('an update on one replica reaches the other replica cache over pub/sub (clock stopped)', async () => {
    const a = registration(storeA, 'a');
    const b = registration(storeB, 'b');
    await b.start(controller.signal);
    const created = await a.createEntry(
      { spiffeId: `spiffe://${TD}/agents/cached`, federatesWith: ['shipping.example'] },
      'admin',
    );
    const id = parseSpiffeId(`spiffe://${TD}/agents/cached`);
    expect((await b.entryFor(id))?.entry.federatesWith).toEqual(['shipping.example']);
    // Only the notification can empty b's cache: the clock does not move.
    const seen = new Promise<void>((resolve) => {
      const off = b.onChange(() => {
        void b.entryFor(id).then((found) => {
          if (found?.entry.federatesWith.includes('transit.example') === true) {
            off();
            resolve();
          }
        });
      });
    });
    await a.updateEntry(created.id, { federatesWith: ['shipping.example', 'transit.example'] });
    await seen;
    expect((await b.entryFor(id))?.entry.federatesWith).toEqual([
      'shipping.example',
      'transit.example',
    ]);
  });
});
