import { createHash } from 'node:crypto';
// The registration service on real stores: the embedded file store and a real redis-server.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isBrokerError } from '../../src/errors.js';
import { createRegistration, type Registration } from '../../src/registration/index.js';
import { parseSpiffeId, parseTrustDomain } from '../../src/spiffeid/index.js';
import { createStore, type Store } from '../../src/store/index.js';
import { testClock, type TestClock } from '../helpers/clock.js';
import { requireRedisServer, startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { codeOf } from '../helpers/error-code.js';

const td = parseTrustDomain('logistics.example');
const reserved = [parseSpiffeId('spiffe://logistics.example/spiffe/bundle-endpoint')];
const logger = {
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  debug: () => undefined,
};

function registration(store: Store, clock: TestClock, replicaId = 'r1'): Registration {
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

describe('registration on the file store', () => {
  let root: string;
  let store: Store;
  const clock = testClock(Date.parse('2026-11-22T10:00:00Z'));
  let reg: Registration;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'fedbroker-reg-'));
    store = await createStore({ kind: 'file', dir: root }, { logger, now: clock.nowMs });
    reg = registration(store, clock);
  });
  afterAll(async () => {
    await store.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('creates, lists and deletes entries; overlapping entries are refused', async () => {
    const entry = await reg.createEntry(
      {
        spiffeId: 'spiffe://logistics.example/agents/research/instance/{instance}',
        federatesWith: ['shipping.example', 'shipping.example'],
        ttlSeconds: 600,
        dnsNames: ['Research.Local'],
      },
      'admin',
    );
    expect(entry.federatesWith).toEqual(['shipping.example']);
    expect(entry.dnsNames).toEqual(['research.local']);
    expect((await reg.listEntries()).map((e) => e.id)).toContain(entry.id);
    expect(
      await codeOf(
        reg.createEntry(
          { spiffeId: 'spiffe://logistics.example/agents/research/instance/fixed' },
          'admin',
        ),
      ),
    ).toBe('ERR_REGISTRATION_ENTRY_EXISTS');
    expect(
      await codeOf(
        reg.createEntry(
          { spiffeId: 'spiffe://logistics.example/x', federatesWith: ['logistics.example'] },
          'admin',
        ),
      ),
    ).toBe('ERR_REGISTRATION_ENTRY_INVALID');
    expect(
      await codeOf(
        reg.createEntry({ spiffeId: 'spiffe://logistics.example/x', ttlSeconds: 5 }, 'admin'),
      ),
    ).toBe('ERR_REGISTRATION_ENTRY_INVALID');
    await reg.deleteEntry(entry.id);
    expect(await codeOf(reg.getEntry(entry.id))).toBe('ERR_REGISTRATION_ENTRY_NOT_FOUND');
    expect(await codeOf(reg.deleteEntry(entry.id))).toBe('ERR_REGISTRATION_ENTRY_NOT_FOUND');
    expect(await codeOf(reg.deleteEntry('../../etc/passwd'))).toBe(
      'ERR_REGISTRATION_ENTRY_NOT_FOUND',
    );
  });

  it('join tokens: stored hashed, one-time, expiring, each enrolment a fresh instance', async () => {
    const entry = await reg.createEntry(
      { spiffeId: 'spiffe://logistics.example/agents/planner/{instance}' },
      'admin',
    );
    const first = await reg.createToken(entry.id, { actor: 'admin' });
    const second = await reg.createToken(entry.id, { actor: 'admin' });
    expect(first.token).toMatch(/^fbjt_/);
    expect(first.expiresAtMs - clock.nowMs()).toBe(600_000);
    // The secret is nowhere in what the store lists.
    expect(JSON.stringify(await store.listTokens(clock.nowMs()))).not.toContain(
      first.token.slice(5),
    );

    const a = await reg.enrol(first.token);
    const b = await reg.enrol(second.token);
    expect(a.instanceId).toBeDefined();
    expect(a.instanceId).not.toBe(b.instanceId);
    expect(a.spiffeId.toString()).toBe(`spiffe://logistics.example/agents/planner/${a.instanceId}`);
    // One enrolment of a token at a time; it is spent by spend(), the enrolment's last step.
    expect(await codeOf(reg.enrol(first.token))).toBe('ERR_REGISTRATION_TOKEN_INVALID');
    await a.spend();
    a.release();
    expect(await codeOf(reg.enrol(first.token))).toBe('ERR_REGISTRATION_TOKEN_INVALID');
    expect(await codeOf(a.spend())).toBe('ERR_REGISTRATION_TOKEN_INVALID');
    // An enrolment that ends without spending (it failed) leaves the token for the next one.
    b.release();
    const again = await reg.enrol(second.token);
    expect(again.entry.id).toBe(entry.id);
    await again.spend();
    again.release();
    expect(
      await store.readToken(createHash('sha256').update(second.token).digest('hex'), clock.nowMs()),
    ).toBeUndefined();

    const found = await reg.entryFor(a.spiffeId);
    expect(found?.entry.id).toBe(entry.id);
    expect(found?.instanceId).toBe(a.instanceId);
    expect(
      await reg.entryFor(parseSpiffeId('spiffe://logistics.example/agents/other/x')),
    ).toBeUndefined();

    const late = await reg.createToken(entry.id, { actor: 'admin', ttlSeconds: 60 });
    clock.advanceMs(60_000);
    expect(await codeOf(reg.enrol(late.token))).toBe('ERR_REGISTRATION_TOKEN_INVALID');
    expect(await codeOf(reg.enrol('fbjt_' + 'A'.repeat(43)))).toBe(
      'ERR_REGISTRATION_TOKEN_INVALID',
    );
    expect(await codeOf(reg.enrol('not a token'))).toBe('ERR_REGISTRATION_TOKEN_INVALID');
    expect(await codeOf(reg.createToken(entry.id, { actor: 'admin', ttlSeconds: 1 }))).toBe(
      'ERR_REGISTRATION_TOKEN_TTL',
    );
    expect(await codeOf(reg.createToken('e_' + 'A'.repeat(22), { actor: 'admin' }))).toBe(
      'ERR_REGISTRATION_ENTRY_NOT_FOUND',
    );
  });

  it('a token whose entry was deleted enrols nothing; tokens can be listed and revoked', async () => {
    const entry = await reg.createEntry(
      { spiffeId: 'spiffe://logistics.example/agents/gone' },
      'admin',
    );
    const token = await reg.createToken(entry.id, { actor: 'admin' });
    const revoked = await reg.createToken(entry.id, { actor: 'admin' });
    expect((await reg.listTokens()).map((t) => t.tokenId)).toContain(revoked.tokenId);
    await reg.deleteToken(revoked.tokenId);
    expect((await reg.listTokens()).map((t) => t.tokenId)).not.toContain(revoked.tokenId);
    expect(await codeOf(reg.enrol(revoked.token))).toBe('ERR_REGISTRATION_TOKEN_INVALID');
    await reg.deleteEntry(entry.id);
    expect(await codeOf(reg.enrol(token.token))).toBe('ERR_REGISTRATION_TOKEN_INVALID');
  });

  it('a stored entry edited to grant another trust domain is ignored, not trusted', async () => {
    const entry = await reg.createEntry(
      { spiffeId: 'spiffe://logistics.example/agents/tamper' },
      'admin',
    );
    const record = await store.getEntry(entry.id);
    await store.putEntry(
      entry.id,
      { ...record?.value, spiffeId: 'spiffe://shipping.example/agents/tamper' },
      'any',
    );
    expect(
      await reg.entryFor(parseSpiffeId('spiffe://shipping.example/agents/tamper')),
    ).toBeUndefined();
    expect((await reg.listEntries()).map((e) => e.id)).not.toContain(entry.id);
  });
});

describe('registration on a real redis-server shared by two replicas', () => {
  let server: RedisServer;
  let storeA: Store;
  let storeB: Store;
  const clock = testClock(Date.parse('2026-11-22T10:00:00Z'));
  const controller = new AbortController();

  beforeAll(async () => {
    requireRedisServer();
    server = await startRedisServer();
    const options = {
      kind: 'redis' as const,
      url: `redis://127.0.0.1:${server.port}/0`,
      keyPrefix: 'reg:',
    };
    storeA = await createStore(options, { logger, now: clock.nowMs });
    storeB = await createStore(options, { logger, now: clock.nowMs });
  });
  afterAll(async () => {
    controller.abort();
    await storeA.close();
    await storeB.close();
    await server.stop();
  });

  it('a token is consumed once across replicas; deleting an entry on one is seen by the other at once', async () => {
    const a = registration(storeA, clock, 'a');
    const b = registration(storeB, clock, 'b');
    await b.start(controller.signal);
    const entry = await a.createEntry(
      { spiffeId: 'spiffe://logistics.example/agents/shared/{instance}' },
      'admin',
    );
    const token = await a.createToken(entry.id, { actor: 'admin' });
    // Each replica may run an enrolment of the token; only one of them spends it.
    const [onA, onB] = await Promise.all([a.enrol(token.token), b.enrol(token.token)]);
    const results = await Promise.allSettled([onA.spend(), onB.spend()]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const failed = results.find((r) => r.status === 'rejected');
    expect((failed as PromiseRejectedResult).reason).toMatchObject({
      code: 'ERR_REGISTRATION_TOKEN_INVALID',
    });

    const enrolled = results[0].status === 'fulfilled' ? onA : onB;
    expect((await b.entryFor(enrolled.spiffeId))?.entry.id).toBe(entry.id); // now cached on b
    // The clock does not move, so only the pub/sub notification can empty b's cache: wait for it.
    // (Re-checked on every change b hears of, in case an earlier notification is still in flight.)
    const gone = new Promise<void>((resolve) => {
      const off = b.onChange(() => {
        void b.entryFor(enrolled.spiffeId).then((found) => {
          if (found === undefined) {
            off();
            resolve();
          }
        });
      });
    });
    await a.deleteEntry(entry.id);
    await gone;
    expect(await b.entryFor(enrolled.spiffeId)).toBeUndefined();
  });

  it('concurrent overlapping creates on two replicas: exactly one wins', async () => {
    const a = registration(storeA, clock, 'a');
    const b = registration(storeB, clock, 'b');
    const results = await Promise.allSettled([
      a.createEntry({ spiffeId: 'spiffe://logistics.example/race/{instance}' }, 'admin'),
      b.createEntry({ spiffeId: 'spiffe://logistics.example/race/one' }, 'admin'),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const failed = results.find((r) => r.status === 'rejected');
    expect(isBrokerError(failed?.reason) && failed.reason.code).toBe(
      'ERR_REGISTRATION_ENTRY_EXISTS',
    );
  });
});
