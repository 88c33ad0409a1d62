// The shared local bundle (BUNDLE-31, ARCHITECTURE "State"): every replica serves the union of all
// replicas' published authorities under one store-guarded sequence. Real CAs, a real file store.
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { marshalBundle, parseBundle, type Bundle } from '../../src/bundle/index.js';
import { createSharedLocalBundle, type Ca, type SharedLocalBundle } from '../../src/ca/index.js';
import { parseTrustDomain } from '../../src/spiffeid/index.js';
import { CHANNELS, createFileStore, type Store } from '../../src/store/index.js';
import { openCa, removeTempDirs, tempDir, TD, testClock, type TestClock } from './support.js';

const td = parseTrustDomain(TD);
const open: { store?: Store | undefined; cas: Ca[]; stops: AbortController[] } = {
  cas: [],
  stops: [],
};

afterEach(async () => {
  for (const stop of open.stops.splice(0)) stop.abort();
  for (const ca of open.cas.splice(0)) await ca.close();
  await open.store?.close();
  open.store = undefined;
  removeTempDirs();
});

interface Messages {
  readonly warn: string[];
  readonly info: string[];
}

async function setUp(clock: TestClock): Promise<{ store: Store; ca: Ca; messages: Messages }> {
  const store = await createFileStore({ dir: join(tempDir(), 'store') });
  open.store = store;
  const ca = await openCa(clock);
  open.cas.push(ca);
  return { store, ca, messages: { warn: [], info: [] } };
}

function shared(
  store: Store,
  ca: Ca,
  clock: TestClock,
  messages: Messages,
  replicaId = 'replica-a',
): SharedLocalBundle {
  return createSharedLocalBundle({
    ca,
    store,
    replicaId,
    now: () => clock.now().getTime(),
    logger: {
      info: (m) => messages.info.push(m),
      warn: (m) => messages.warn.push(m),
    },
    channel: CHANNELS.localBundleChanged,
    resyncMs: 60_000,
  });
}

const fingerprints = (bundle: Bundle): string[] =>
  bundle.x509Authorities.map((a) => a.fingerprintSha256).sort();

/** The record another replica with CA `other` would write (the same shape ours has). */
function recordOf(other: Ca): object {
  const bundle = other.localBundle();
  const expiry = new Map(other.authorities('jwt').map((a) => [a.id, a.notAfter.getTime()]));
  return {
    refreshHintSeconds: bundle.refreshHintSeconds ?? 300,
    x509: bundle.x509Authorities.map((a) => ({
      der: a.der.toString('base64'),
      notAfter: a.notAfter.getTime(),
    })),
    jwt: [...bundle.jwtAuthorities.values()].map((a) => ({
      kid: a.kid,
      jwk: { ...a.jwk },
      notAfter: expiry.get(a.kid) ?? 0,
    })),
  };
}

describe('shared local bundle (BUNDLE-31)', () => {
  it('one replica: serves its own authorities under its CA sequence, records public parts only, and does not bump the sequence when nothing changed', async () => {
    const clock = testClock();
    const { store, ca, messages } = await setUp(clock);
    const local = shared(store, ca, clock, messages);
    const first = await local.sync();
    expect(fingerprints(first)).toEqual(fingerprints(ca.localBundle()));
    // Alone, the published sequence is the CA's own count (its logs and the bundle agree).
    expect(first.sequence).toBe(ca.localBundle().sequence);
    expect([...first.jwtAuthorities.keys()]).toEqual([...ca.localBundle().jwtAuthorities.keys()]);
    const stored = await store.getLocalBundle();
    expect(stored?.raw).toBe(marshalBundle(first).toString('utf8'));
    expect(stored?.sequence).toBe(first.sequence?.toString());

    const again = await local.sync();
    expect(again.sequence).toBe(first.sequence);
    expect((await store.getLocalBundle())?.sequence).toBe(stored?.sequence);

    const records = await store.listReplicaAuthorities();
    expect(records.map((r) => r.replicaId)).toEqual(['replica-a']);
    expect(JSON.stringify(records)).not.toMatch(/PRIVATE KEY|"d":|"p":|"q":/);
  });

  it("merges another replica's record, and drops it again once that record is gone (sequence +1 each time)", async () => {
    const clock = testClock();
    const { store, ca, messages } = await setUp(clock);
    const other = await openCa(clock);
    open.cas.push(other);
    const local = shared(store, ca, clock, messages);
    const alone = await local.sync();

    await store.putReplicaAuthorities('replica-b', recordOf(other));
    const merged = await local.sync();
    expect(fingerprints(merged)).toEqual(
      [...fingerprints(ca.localBundle()), ...fingerprints(other.localBundle())].sort(),
    );
    expect(merged.jwtAuthorities.size).toBe(2);
    expect(merged.sequence).toBe((alone.sequence ?? 0n) + 1n);
    expect(local.current()).toBe(merged);
    // What is stored parses back to the same content (and go-spiffe-compatible bytes, BUNDLE-30).
    const reparsed = parseBundle((await store.getLocalBundle())?.raw ?? '', td);
    expect(fingerprints(reparsed)).toEqual(fingerprints(merged));

    await store.deleteReplicaAuthorities('replica-b');
    const back = await local.sync();
    expect(fingerprints(back)).toEqual(fingerprints(ca.localBundle()));
    expect(back.sequence).toBe((merged.sequence ?? 0n) + 1n);
  });

  it("a second replica's view of the same store converges to the same bytes, whichever syncs first", async () => {
    const clock = testClock();
    const { store, ca, messages } = await setUp(clock);
    const other = await openCa(clock);
    open.cas.push(other);
    const a = shared(store, ca, clock, messages, 'replica-a');
    const b = shared(store, other, clock, messages, 'replica-b');
    await a.sync();
    const fromB = await b.sync();
    const fromA = await a.sync();
    expect(marshalBundle(fromA).equals(marshalBundle(fromB))).toBe(true);
    expect(fromA.x509Authorities).toHaveLength(2);
  });

  it('never goes below a sequence already in the store (another replica published higher)', async () => {
    const clock = testClock();
    const { store, ca, messages } = await setUp(clock);
    const other = await openCa(clock);
    open.cas.push(other);
    // Another writer has published sequence 41 with different content.
    await store.putLocalBundle({
      raw: marshalBundle(other.localBundle()).toString('utf8'),
      sequence: '41',
      publishedAt: clock.now().getTime(),
    });
    const local = shared(store, ca, clock, messages);
    const bundle = await local.sync();
    expect(bundle.sequence).toBe(42n);
    expect((await store.getLocalBundle())?.sequence).toBe('42');
  });

  it('writes its own record again when it has gone missing from the store', async () => {
    const clock = testClock();
    const { store, ca, messages } = await setUp(clock);
    const local = shared(store, ca, clock, messages);
    await local.sync();
    expect(await store.deleteReplicaAuthorities('replica-a')).toBe(true);
    await local.sync();
    expect((await store.listReplicaAuthorities()).map((r) => r.replicaId)).toEqual(['replica-a']);
  });

  it('ignores malformed records and unreadable certificates from other replicas without failing', async () => {
    const clock = testClock();
    const { store, ca, messages } = await setUp(clock);
    await store.putReplicaAuthorities('replica-bad', { x509: 'nope' });
    await store.putReplicaAuthorities('replica-junk', {
      refreshHintSeconds: 300,
      x509: [{ der: Buffer.from('not a certificate').toString('base64'), notAfter: 9e15 }],
      jwt: [{ kid: 'k', jwk: { kty: 'EC', crv: 'P-256', x: 'AA', y: 'AA' }, notAfter: 9e15 }],
    });
    const local = shared(store, ca, clock, messages);
    const bundle = await local.sync();
    expect(fingerprints(bundle)).toEqual(fingerprints(ca.localBundle()));
    expect(bundle.jwtAuthorities.has('k')).toBe(false);
    expect(messages.warn).toContain('ignoring a malformed replica authority record');
    expect(messages.warn).toContain('ignoring an unreadable certificate of another replica');
    expect(messages.warn).toContain('ignoring an unreadable JWT key of another replica');
  });

  it('FED-51: a replica whose authorities have all expired is pruned from the bundle and its record removed', async () => {
    const clock = testClock();
    const { store, ca, messages } = await setUp(clock);
    const gone = await openCa(clock);
    open.cas.push(gone);
    await store.putReplicaAuthorities('replica-gone', recordOf(gone));
    const local = shared(store, ca, clock, messages);
    expect((await local.sync()).x509Authorities).toHaveLength(2);
    // Both CAs have a 24 h lifetime; ours rotates (prepare at half life), the departed one cannot.
    for (let hour = 0; hour < 26; hour++) {
      clock.advance(3600);
      await ca.rotate();
    }
    const after = await local.sync();
    const goneAnchors = fingerprints(gone.localBundle());
    expect(fingerprints(after).some((f) => goneAnchors.includes(f))).toBe(false);
    expect((await store.listReplicaAuthorities()).map((r) => r.replicaId)).toEqual(['replica-a']);
  });

  it('two different JWT keys under one kid: our own key wins and the clash is logged', async () => {
    const clock = testClock();
    const { store, ca, messages } = await setUp(clock);
    const other = await openCa(clock);
    open.cas.push(other);
    const ownKid = [...ca.localBundle().jwtAuthorities.keys()][0] ?? '';
    const record = recordOf(other) as { jwt: { kid: string }[] };
    for (const entry of record.jwt) entry.kid = ownKid;
    await store.putReplicaAuthorities('replica-b', record);
    const bundle = await shared(store, ca, clock, messages).sync();
    expect(bundle.jwtAuthorities.size).toBe(1);
    const ownKey = ca.localBundle().jwtAuthorities.get(ownKid)?.publicKey;
    expect(ownKey).toBeDefined();
    expect(ownKey && bundle.jwtAuthorities.get(ownKid)?.publicKey.equals(ownKey)).toBe(true);
    expect(messages.warn).toContain(
      'two replicas publish different JWT keys under one kid; keeping the first',
    );
  });

  it('follows its CA: a prepared authority is merged and published without an explicit sync', async () => {
    const clock = testClock();
    const { store, ca, messages } = await setUp(clock);
    const local = shared(store, ca, clock, messages);
    const stop = new AbortController();
    open.stops.push(stop);
    await local.start(stop.signal);
    const seen: Bundle[] = [];
    local.onChange((bundle) => seen.push(bundle));
    const prepared = await ca.prepare('x509');
    for (let i = 0; i < 200 && seen.length === 0; i++) {
      await new Promise((done) => setTimeout(done, 10));
    }
    expect(seen.length).toBeGreaterThan(0);
    expect(fingerprints(local.current())).toContain(prepared.anchorFingerprintSha256);
    expect((await store.getLocalBundle())?.raw).toBe(
      marshalBundle(local.current()).toString('utf8'),
    );
  });
});
