// The shared local bundle's first merge (review 16 F2, BUNDLE-31, FED-12): a replica that starts
// while the store does not answer never serves its own CA's bundle (a lower spiffe_sequence, no
// other replica's CAs) in place of the shared one; it retries, then its start fails.
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Bundle } from '../../src/bundle/index.js';
import { createSharedLocalBundle, type Ca, type SharedLocalBundle } from '../../src/ca/index.js';
import { StoreError } from '../../src/errors.js';
import { CHANNELS, createFileStore, type Store } from '../../src/store/index.js';
import { openCa, removeTempDirs, tempDir, testClock, type TestClock } from './support.js';

const open: { stores: Store[]; cas: Ca[]; stops: AbortController[] } = {
  stores: [],
  cas: [],
  stops: [],
};

afterEach(async () => {
  for (const stop of open.stops.splice(0)) stop.abort();
  for (const ca of open.cas.splice(0)) await ca.close();
  for (const store of open.stores.splice(0)) await store.close();
  removeTempDirs();
});

function shared(
  store: Store,
  ca: Ca,
  clock: TestClock,
  replicaId: string,
  warn: string[] = [],
): SharedLocalBundle {
  return createSharedLocalBundle({
    ca,
    store,
    replicaId,
    now: clock.nowMs,
    logger: { info() {}, warn: (message) => warn.push(message) },
    channel: CHANNELS.localBundleChanged,
    resyncMs: 60_000,
    startRetryDelaysMs: [5, 5],
  });
}

/**
 * `store` whose data calls fail as a Redis that times out while `down()` says so; the subscriber
 * connection is up (subscribe works), as in the reviewer's repro.
 */
function flakyStore(store: Store, down: () => boolean): Store {
  return new Proxy(store, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      const method = (value as (...args: unknown[]) => unknown).bind(target);
      if (prop === 'subscribe') return method;
      return (...args: unknown[]) =>
        down()
          ? Promise.reject(new StoreError('ERR_STORE_UNAVAILABLE', 'redis command timed out'))
          : method(...args);
    },
  });
}

/** Two replicas (two CAs) publish the shared bundle; replica B is then to restart. */
async function twoReplicas(clock: TestClock): Promise<{ store: Store; b: Ca; merged: Bundle }> {
  const store = await createFileStore({ dir: join(tempDir(), 'store') });
  open.stores.push(store);
  const a = await openCa(clock);
  const b = await openCa(clock);
  open.cas.push(a, b);
  await shared(store, a, clock, 'replica-a').sync();
  const merged = await shared(store, b, clock, 'replica-b').sync();
  expect([merged.sequence, merged.x509Authorities.length]).toEqual([2n, 2]);
  return { store, b, merged };
}

describe('first merge at start (BUNDLE-31, FED-12; review 16 F2)', () => {
  it('a store that stays down fails the start; our CA-local bundle is never served', async () => {
    const clock = testClock();
    const { store, b } = await twoReplicas(clock);
    const warn: string[] = [];
    const restarted = shared(
      flakyStore(store, () => true),
      b,
      clock,
      'replica-b',
      warn,
    );
    const stop = new AbortController();
    open.stops.push(stop);
    await expect(restarted.start(stop.signal)).rejects.toMatchObject({
      code: 'ERR_STORE_UNAVAILABLE',
    });
    expect(warn).toEqual([
      'could not merge the shared local bundle at start; retrying',
      'could not merge the shared local bundle at start; retrying',
    ]);
    // Nothing to serve: not b's own bundle (sequence 1, one CA).
    expect(() => restarted.current()).toThrow(TypeError);
    expect((await store.getLocalBundle())?.sequence).toBe('2');
  });

  it('a store back before the retries run out: the shared bundle is served, never ours alone', async () => {
    const clock = testClock();
    const { store, b, merged } = await twoReplicas(clock);
    let failures = 1;
    const restarted = shared(
      flakyStore(store, () => failures-- > 0),
      b,
      clock,
      'replica-b',
    );
    const seen: Bundle[] = [];
    restarted.onChange((bundle) => seen.push(bundle));
    const stop = new AbortController();
    open.stops.push(stop);
    await restarted.start(stop.signal);
    const served = restarted.current();
    expect(served.sequence).toBe(merged.sequence);
    expect(served.x509Authorities.length).toBe(2);
    expect(seen.map((bundle) => bundle.sequence)).toEqual([merged.sequence]);
  });

  it('a start aborted while it waits to retry rejects at once', async () => {
    const clock = testClock();
    const { store, b } = await twoReplicas(clock);
    const restarted = createSharedLocalBundle({
      ca: b,
      store: flakyStore(store, () => true),
      replicaId: 'replica-b',
      now: clock.nowMs,
      logger: { info() {}, warn() {} },
      channel: CHANNELS.localBundleChanged,
      startRetryDelaysMs: [60_000],
    });
    const stop = new AbortController();
    const started = restarted.start(stop.signal);
    setTimeout(() => stop.abort(), 20);
    await expect(started).rejects.toThrow();
    expect(() => restarted.current()).toThrow(TypeError);
  });
});
