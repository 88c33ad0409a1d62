// The steps the CA takes while it starts are audited before they apply, as the rotator's: a real CA
// on a temp dir, the broker's recorder (recordRotationSteps, actor `broker`) on a real file store,
// the test clock. At the moment each record is written the CA's files still hold the old state; a
// sink that fails at start makes createCa reject and leaves those files as they were.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { recordRotationSteps } from '../../src/api/index.js';
import {
  createAuditRecorder,
  type AuditEvent,
  type AuditEventInput,
} from '../../src/audit/index.js';
import { createCa, type Ca, type RotationRecorder } from '../../src/ca/index.js';
import { StoreError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import { createStore, type Store } from '../../src/store/index.js';
import {
  CA_OPTIONS,
  CA_TTL_SECONDS,
  idOf,
  KINDS,
  LEAD_SECONDS,
  signers,
} from './rotation-fixture.js';
import { removeTempDirs, tempDir, testClock, TD, type TestClock } from './support.js';

interface World {
  readonly clock: TestClock;
  readonly dataDir: string;
  readonly store: Store;
  /** The CA's files (name -> content) as they were when each record call began. */
  readonly seenAtRecord: Record<string, string>[];
  /** The broker's record hook (main.ts), noting the CA's files first. */
  readonly record: RotationRecorder;
  readonly open: (record?: RotationRecorder) => Promise<Ca>;
}

const cas: Ca[] = [];
const stores: Store[] = [];

afterEach(async () => {
  for (const ca of cas.splice(0)) await ca.close();
  for (const store of stores.splice(0)) await store.close();
});
afterAll(removeTempDirs);

function caFiles(dataDir: string): Record<string, string> {
  const dir = join(dataDir, 'ca');
  const files: Record<string, string> = {};
  for (const name of readdirSync(dir).sort()) files[name] = readFileSync(join(dir, name), 'utf8');
  return files;
}

async function world(): Promise<World> {
  const clock = testClock();
  const dataDir = tempDir('start-audit-');
  const store = await createStore(
    { kind: 'file', dir: join(dataDir, 'store') },
    { logger: silentLogger, now: clock.nowMs },
  );
  stores.push(store);
  const append = createAuditRecorder({ store, now: clock.nowMs });
  const steps = recordRotationSteps(async (event) => {
    await append(event as AuditEventInput);
  });
  const seenAtRecord: Record<string, string>[] = [];
  const record: RotationRecorder = async (list) => {
    seenAtRecord.push(caFiles(dataDir));
    await steps(list);
  };
  const open = async (hook: RotationRecorder | undefined = record): Promise<Ca> => {
    const ca = await createCa(
      { now: clock.nowMs, record: hook },
      { trustDomain: TD, ...CA_OPTIONS, dataDir },
    );
    cas.push(ca);
    return ca;
  };
  return { clock, dataDir, store, seenAtRecord, record, open };
}

async function closeAll(): Promise<void> {
  for (const ca of cas.splice(0)) await ca.close();
}

async function events(store: Store): Promise<Record<string, unknown>[]> {
  return (await store.readStoredAudit(1, 1000)).records.map((e: AuditEvent) => ({
    type: e.type,
    actor: e.actor,
    ...e.data,
  }));
}

/** id -> state of each authority in the state file the CA had written. */
function statesOn(files: Record<string, string> | undefined): Record<string, string> {
  const state = files?.['state.json'];
  if (state === undefined) return {};
  const parsed = JSON.parse(state) as { authorities: { id: string; state: string }[] };
  return Object.fromEntries(parsed.authorities.map((a) => [a.id, a.state]));
}

const bootstrapEvents = (ca: Ca): Record<string, unknown>[] =>
  KINDS.flatMap((kind) => {
    const active = ca.authorities(kind).find((a) => a.state === 'active');
    const base = { actor: 'broker', kind, id: active?.id, reason: 'bootstrap' };
    return [
      {
        type: 'authority.prepared',
        ...base,
        notAfter: active?.notAfter.toISOString(),
        activate: true,
      },
      { type: 'authority.activated', ...base, force: true },
    ];
  });

describe('createCa records the steps due at start before they apply', () => {
  it('a first start records the bootstrap prepare and activate of each kind before the CA signs', async () => {
    const w = await world();
    const ca = await w.open();
    expect(await events(w.store)).toEqual(bootstrapEvents(ca));
    // When the events were written the CA had no state yet: only the keys made for the steps
    // (deleted had the record failed), nothing published, nothing that could sign.
    expect(w.seenAtRecord).toHaveLength(1);
    expect(Object.keys(w.seenAtRecord[0] ?? {}).filter((n) => !n.startsWith('.'))).toEqual(
      KINDS.map((kind) => `${kind}-${idOf(ca, kind, 'active')}.key.pem`).sort(),
    );
    expect(await signers(ca)).toEqual({
      x509: idOf(ca, 'x509', 'active'),
      jwt: idOf(ca, 'jwt', 'active'),
    });
  });

  it('a restart past the lead time records the activations before they apply', async () => {
    const w = await world();
    const ca = await w.open();
    const first = await signers(ca);
    w.clock.advance(CA_TTL_SECONDS / 2);
    await ca.rotate(undefined, { record: w.record });
    const next = { x509: idOf(ca, 'x509', 'prepared'), jwt: idOf(ca, 'jwt', 'prepared') };
    await closeAll();

    w.clock.advance(LEAD_SECONDS + 60); // the broker was down past the lead time
    const reopened = await w.open();
    expect((await events(w.store)).slice(6)).toEqual(
      KINDS.map((kind) => ({
        type: 'authority.activated',
        actor: 'broker',
        kind,
        id: next[kind],
        reason: 'lead-time-passed',
        force: false,
      })),
    );
    // At the record, the CA's state still had the successors prepared and the old ones active.
    expect(statesOn(w.seenAtRecord[2])).toEqual({
      [first.x509]: 'active',
      [first.jwt]: 'active',
      [next.x509]: 'prepared',
      [next.jwt]: 'prepared',
    });
    expect(await signers(reopened)).toEqual(next);
  });

  it('a restart past the expiry records the retire, remove and a new bootstrap before they apply', async () => {
    const w = await world();
    const ca = await w.open();
    const first = await signers(ca);
    const notAfter = ca.authorities('x509')[0]!.notAfter.getTime();
    await closeAll();

    w.clock.set(notAfter + 1000);
    const reopened = await w.open();
    const fresh = bootstrapEvents(reopened);
    expect((await events(w.store)).slice(4)).toEqual([
      {
        type: 'authority.retired',
        actor: 'broker',
        kind: 'x509',
        id: first.x509,
        reason: 'expired',
      },
      {
        type: 'authority.removed',
        actor: 'broker',
        kind: 'x509',
        id: first.x509,
        reason: 'expired',
      },
      ...fresh.slice(0, 2),
      { type: 'authority.retired', actor: 'broker', kind: 'jwt', id: first.jwt, reason: 'expired' },
      { type: 'authority.removed', actor: 'broker', kind: 'jwt', id: first.jwt, reason: 'expired' },
      ...fresh.slice(2),
    ]);
    expect(statesOn(w.seenAtRecord[1])).toEqual({ [first.x509]: 'active', [first.jwt]: 'active' });
    expect(await signers(reopened)).toEqual({
      x509: idOf(reopened, 'x509', 'active'),
      jwt: idOf(reopened, 'jwt', 'active'),
    });
  });

  it('a sink that fails at start: createCa rejects, the CA files are unchanged, the next start records and applies', async () => {
    const w = await world();
    const failing: RotationRecorder = () =>
      Promise.reject(new StoreError('ERR_STORE_UNAVAILABLE', 'audit log not writable'));
    // First start: nothing is written, not even a key.
    await expect(w.open(failing)).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
    expect(caFiles(w.dataDir)).toEqual({});
    expect(await events(w.store)).toEqual([]);
    const ca = await w.open();
    expect(await events(w.store)).toEqual(bootstrapEvents(ca));

    // A restart past the lead time with the log down: the prepared successors stay prepared.
    w.clock.advance(CA_TTL_SECONDS / 2);
    await ca.rotate(undefined, { record: w.record });
    const next = { x509: idOf(ca, 'x509', 'prepared'), jwt: idOf(ca, 'jwt', 'prepared') };
    await closeAll();
    w.clock.advance(LEAD_SECONDS + 60);
    const before = caFiles(w.dataDir);
    await expect(w.open(failing)).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
    expect(caFiles(w.dataDir)).toEqual(before);
    expect(await events(w.store)).toHaveLength(6);

    const reopened = await w.open();
    expect((await events(w.store)).slice(6).map((e) => [e.type, e.id])).toEqual([
      ['authority.activated', next.x509],
      ['authority.activated', next.jwt],
    ]);
    expect(await signers(reopened)).toEqual(next);
  });
});
