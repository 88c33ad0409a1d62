// The CA rotator's steps are audited before they apply (actor `broker`): a real CA on a temp dir, the
// real audit recorder on the file store and on a real redis-server, the test clock. A failed append
// (redis-server stopped) applies nothing; a later tick applies once the log takes the events.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { prepareAuthority } from '../../src/api/admin-actions.js';
import { BROKER_ACTOR, recordRotationSteps } from '../../src/api/index.js';
import {
  createAuditRecorder,
  verifyStoredAudit,
  type AuditEvent,
  type AuditEventInput,
} from '../../src/audit/index.js';
import { createRotator, type Ca } from '../../src/ca/index.js';
import { silentLogger } from '../../src/log.js';
import { createStore, type Store, type StoreOptions } from '../../src/store/index.js';
import {
  CA_OPTIONS,
  CA_TTL_SECONDS,
  idOf,
  KINDS,
  LEAD_SECONDS,
  signers,
} from '../ca/rotation-fixture.js';
import { openCa, removeTempDirs, tempDir, testClock, type TestClock } from '../ca/support.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';

interface World {
  readonly clock: TestClock;
  readonly store: Store;
  readonly ca: Ca;
  readonly dataDir: string;
  readonly warnings: { message: string; fields: Record<string, unknown> | undefined }[];
  readonly rotator: ReturnType<typeof createRotator>;
  /** The audit sink main.ts gives the rotator and the admin actions: the real recorder. */
  readonly audit: (event: AuditEventInput) => Promise<void>;
}

const opened: World[] = [];

async function openWorld(storeOptions: (dir: string) => StoreOptions): Promise<World> {
  const clock = testClock();
  const dataDir = tempDir('rotation-audit-');
  const store = await createStore(storeOptions(dataDir), {
    logger: silentLogger,
    now: clock.nowMs,
  });
  const ca = await openCa(clock, { ...CA_OPTIONS, dataDir });
  const record = createAuditRecorder({ store, now: clock.nowMs });
  const audit = async (event: AuditEventInput): Promise<void> => {
    await record(event);
  };
  const warnings: World['warnings'] = [];
  const rotator = createRotator({
    ca,
    now: clock.nowMs,
    logger: { ...silentLogger, warn: (message, fields) => warnings.push({ message, fields }) },
    record: recordRotationSteps(audit),
  });
  const world = { clock, store, ca, dataDir, warnings, rotator, audit };
  opened.push(world);
  return world;
}

afterEach(async () => {
  for (const { ca, store } of opened.splice(0)) {
    await ca.close();
    await store.close();
  }
});
afterAll(removeTempDirs);

async function events(store: Store): Promise<AuditEvent[]> {
  return (await store.readStoredAudit(1, 1000)).records;
}

/** What `fedbroker audit verify` checks: the stored chain, read back from the store. */
async function verified(store: Store): Promise<{ ok: boolean; checked: number }> {
  return verifyStoredAudit((fromId, limit) => store.readStoredAudit(fromId, limit));
}

const brief = (e: AuditEvent): Record<string, unknown> => ({
  type: e.type,
  actor: e.actor,
  ...e.data,
});

/** The CA's state as partners and workloads see it. */
function published(w: World): unknown {
  const bundle = w.ca.localBundle();
  return {
    authorities: w.ca.authorities(),
    sequence: bundle.sequence,
    x509: bundle.x509Authorities.map((a) => a.fingerprintSha256),
    jwt: [...bundle.jwtAuthorities.keys()],
    files: readdirSync(join(w.dataDir, 'ca')).sort(),
  };
}

describe('the rotator audits each step before it applies (file store)', () => {
  it('prepare, activate, remove, retire and a bootstrap are in the log with kind, id and reason; the chain verifies', async () => {
    const w = await openWorld((dir) => ({ kind: 'file', dir: join(dir, 'store') }));
    const { ca, clock, store, rotator } = w;
    const first = { x509: idOf(ca, 'x509', 'active'), jwt: idOf(ca, 'jwt', 'active') };
    await rotator.tick();
    expect(await events(store)).toEqual([]);

    clock.advance(CA_TTL_SECONDS / 2);
    expect((await rotator.tick()).applied.map((s) => s.type)).toEqual(['prepare', 'prepare']);
    const next = { x509: idOf(ca, 'x509', 'prepared'), jwt: idOf(ca, 'jwt', 'prepared') };
    expect((await events(store)).map(brief)).toEqual(
      KINDS.map((kind) => ({
        type: 'authority.prepared',
        actor: 'broker',
        kind,
        id: next[kind],
        reason: 'half-life',
        notAfter: ca
          .authorities(kind)
          .find((a) => a.id === next[kind])
          ?.notAfter.toISOString(),
        activate: false,
      })),
    );

    clock.advance(LEAD_SECONDS);
    await rotator.tick(); // activates the successors (the old ones retire)
    await rotator.tick(); // the retired ones signed nothing: removed at once (FED-51)
    expect((await events(store)).slice(2).map(brief)).toEqual([
      ...KINDS.map((kind) => ({
        type: 'authority.activated',
        actor: 'broker',
        kind,
        id: next[kind],
        reason: 'lead-time-passed',
        force: false,
      })),
      ...KINDS.map((kind) => ({
        type: 'authority.removed',
        actor: 'broker',
        kind,
        id: first[kind],
        reason: 'signed-material-expired',
      })),
    ]);

    // Nobody ticked for a whole CA lifetime: the active ones expired, nothing else is published.
    clock.set(ca.authorities('x509')[0]!.notAfter.getTime() + 1000);
    await rotator.tick();
    const fresh = { x509: idOf(ca, 'x509', 'active'), jwt: idOf(ca, 'jwt', 'active') };
    expect((await events(store)).slice(6).map(brief)).toEqual(
      KINDS.flatMap((kind) => [
        { type: 'authority.retired', actor: 'broker', kind, id: next[kind], reason: 'expired' },
        { type: 'authority.removed', actor: 'broker', kind, id: next[kind], reason: 'expired' },
        {
          type: 'authority.prepared',
          actor: 'broker',
          kind,
          id: fresh[kind],
          reason: 'bootstrap',
          notAfter: ca.authorities(kind)[0]?.notAfter.toISOString(),
          activate: true,
        },
        {
          type: 'authority.activated',
          actor: 'broker',
          kind,
          id: fresh[kind],
          reason: 'bootstrap',
          force: true,
        },
      ]),
    );
    expect(await verified(store)).toMatchObject({ ok: true, checked: 14 });
    expect(BROKER_ACTOR).toBe('broker');
  });

  it('an authority an admin prepared is audited once (by the admin); its activation by the broker', async () => {
    const w = await openWorld((dir) => ({ kind: 'file', dir: join(dir, 'store') }));
    const { ca, clock, store, rotator } = w;
    clock.advance(3600);
    const prepared = await prepareAuthority({ ca, audit: w.audit }, 'x509', 'admin:alice');
    await rotator.tick();
    clock.advance(LEAD_SECONDS);
    await rotator.tick();
    expect(idOf(ca, 'x509', 'active')).toBe(prepared.id);
    expect(
      (await events(store)).filter((e) => e.data.id === prepared.id).map((e) => [e.type, e.actor]),
    ).toEqual([
      ['authority.prepared', 'admin:alice'],
      ['authority.activated', 'broker'],
    ]);
    expect((await verified(store)).ok).toBe(true);
  });
});

describe('the steps applied are the steps recorded', () => {
  it('an admin prepare and a second tick wait while a tick records its steps', async () => {
    const w = await openWorld((dir) => ({ kind: 'file', dir: join(dir, 'store') }));
    const { ca, clock, store } = w;
    let release = (): void => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const recordedIds: string[][] = [];
    const rotator = createRotator({
      ca,
      now: clock.nowMs,
      record: async (steps) => {
        recordedIds.push(steps.map((s) => s.id));
        await gate; // a slow audit append
        await recordRotationSteps(w.audit)(steps);
      },
    });
    clock.advance(CA_TTL_SECONDS / 2);
    const ticking = rotator.tick();
    const adminPrepare = prepareAuthority({ ca, audit: w.audit }, 'x509', 'admin:alice');
    const second = rotator.tick();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(ca.authorities().map((a) => a.state)).toEqual(['active', 'active']);
    release();
    const applied = await ticking;
    await expect(adminPrepare).rejects.toMatchObject({ code: 'ERR_CA_AUTHORITY_STATE' });
    expect((await second).applied).toEqual([]);
    expect(recordedIds).toEqual([applied.applied.map((s) => s.id)]);
    expect((await events(store)).map((e) => [e.type, e.actor, e.data.id])).toEqual([
      ['authority.prepared', 'broker', idOf(ca, 'x509', 'prepared')],
      ['authority.prepared', 'broker', idOf(ca, 'jwt', 'prepared')],
    ]);
  });
});

describe('a failed audit append applies nothing (redis-server stopped)', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterAll(async () => {
    redis?.resume();
    await redis?.cleanup();
  });

  it('neither a new authority nor an activation takes effect until its events are durable', async () => {
    const w = await openWorld(() => ({
      kind: 'redis',
      url: redis.url,
      keyPrefix: `rotation-audit-${Date.now()}:`,
      commandTimeoutMs: 500,
    }));
    const { ca, clock, store, rotator } = w;
    const old = await signers(ca);

    // Half-life: the successors would be prepared and published.
    clock.advance(CA_TTL_SECONDS / 2);
    let before = published(w);
    redis.pause();
    await expect(rotator.tick()).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
    redis.resume();
    // Same authorities, same bundle and sequence, no key file of the authority that was made.
    expect(published(w)).toEqual(before);
    expect(w.warnings.map((x) => x.message)).toEqual([
      'ca rotation not applied: its record failed; retrying',
    ]);
    expect(w.warnings[0]?.fields).toMatchObject({
      code: 'ERR_STORE_UNAVAILABLE',
      error: expect.stringContaining('redis store unavailable'),
      steps: 'prepare x509, prepare jwt',
    });
    expect(await events(store)).toEqual([]);

    await rotator.tick();
    const next = { x509: idOf(ca, 'x509', 'prepared'), jwt: idOf(ca, 'jwt', 'prepared') };
    expect((await events(store)).map((e) => [e.type, e.data.id])).toEqual([
      ['authority.prepared', next.x509],
      ['authority.prepared', next.jwt],
    ]);

    // Lead time passed: the successors would become the signing authorities.
    clock.advance(LEAD_SECONDS);
    before = published(w);
    redis.pause();
    await expect(rotator.tick()).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
    redis.resume();
    expect(published(w)).toEqual(before);
    expect(await signers(ca)).toEqual(old);

    await rotator.tick();
    expect(await signers(ca)).toEqual(next);
    expect((await events(store)).slice(2).map((e) => [e.type, e.actor, e.data.id])).toEqual([
      ['authority.activated', 'broker', next.x509],
      ['authority.activated', 'broker', next.jwt],
    ]);
    expect(await verified(store)).toMatchObject({ ok: true, checked: 4 });
  }, 30_000);
});
