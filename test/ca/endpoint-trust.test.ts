// When partners can verify what we present (FED-23 with FED-52): the authority that signed it (x509
// anchor or JWT key) must have been in the served bundle for one refresh hint. Real CAs and real
// bundles; two CAs stand for two replicas whose authorities are merged.
import { afterEach, describe, expect, it } from 'vitest';
import { Bundle } from '../../src/bundle/index.js';
import {
  allTrusted,
  createEndpointTrustTracker,
  type AuthorityKind,
  type Ca,
} from '../../src/ca/index.js';
import { openCa, removeTempDirs, testClock } from './support.js';

const HINT = 300;
const cas: Ca[] = [];
afterEach(async () => {
  await Promise.all(cas.splice(0).map((ca) => ca.close()));
  removeTempDirs();
});

async function replica(clock = testClock()): Promise<{ ca: Ca; clock: typeof clock }> {
  const ca = await openCa(clock);
  cas.push(ca);
  return { ca, clock };
}

const active = (ca: Ca, kind: AuthorityKind = 'x509') =>
  ca.authorities(kind).find((a) => a.state === 'active');
const merged = (...cas: Ca[]): Bundle =>
  new Bundle({
    trustDomain: (cas[0] as Ca).trustDomain,
    x509Authorities: cas.flatMap((ca) => [...ca.localBundle().x509Authorities]),
    jwtAuthorities: cas.flatMap((ca) => [...ca.localBundle().jwtAuthorities.values()]),
  });
const x509Only = (ca: Ca): Bundle =>
  new Bundle({ trustDomain: ca.trustDomain, x509Authorities: ca.localBundle().x509Authorities });

describe('bundle endpoint trust (FED-23, FED-52)', () => {
  it('is not ready for a new authority until it has been served for one refresh hint', async () => {
    const { ca, clock } = await replica();
    const tracker = createEndpointTrustTracker(HINT);
    tracker.observe(ca.localBundle(), clock.now().getTime());
    const first = tracker.check(active(ca), clock.now().getTime());
    expect(first).toMatchObject({ ready: false, readyInSeconds: HINT });
    expect(first.detail).toMatch(/partners refresh every 300 s, ready in 300 s/);
    clock.advance(HINT - 1);
    expect(tracker.check(active(ca), clock.now().getTime())).toMatchObject({
      ready: false,
      readyInSeconds: 1,
    });
    clock.advance(1);
    expect(tracker.check(active(ca), clock.now().getTime())).toEqual({ ready: true, detail: 'ok' });
  });

  it('is ready at once after a restart when the authority was published a refresh hint ago', async () => {
    const { ca, clock } = await replica();
    clock.advance(HINT + 60);
    // A new process: its first served bundle already holds the authority, published long ago.
    const tracker = createEndpointTrustTracker(HINT);
    tracker.observe(ca.localBundle(), clock.now().getTime());
    expect(tracker.check(active(ca), clock.now().getTime())).toEqual({ ready: true, detail: 'ok' });
  });

  it("counts a new replica's authority from when it entered the merged bundle, not from its creation", async () => {
    const clock = testClock();
    const { ca: old } = await replica(clock);
    const tracker = createEndpointTrustTracker(HINT);
    tracker.observe(old.localBundle(), clock.now().getTime());
    const { ca: fresh } = await replica(clock);
    // The merge (through the store) reaches this replica some time after its authority was made.
    clock.advance(HINT);
    expect(tracker.check(active(fresh), clock.now().getTime()).detail).toMatch(
      /not in the served bundle yet/,
    );
    tracker.observe(merged(old, fresh), clock.now().getTime());
    expect(tracker.check(active(fresh), clock.now().getTime())).toMatchObject({
      ready: false,
      readyInSeconds: HINT,
    });
    // The old replica's own authority stays ready throughout.
    clock.advance(HINT);
    expect(tracker.check(active(old), clock.now().getTime()).ready).toBe(true);
    expect(tracker.check(active(fresh), clock.now().getTime()).ready).toBe(true);
  });

  it('starts over when the authority leaves the served bundle and comes back', async () => {
    const clock = testClock();
    const { ca: a } = await replica(clock);
    const { ca: b } = await replica(clock);
    const tracker = createEndpointTrustTracker(HINT);
    tracker.observe(merged(a, b), clock.now().getTime());
    clock.advance(HINT);
    expect(tracker.check(active(b), clock.now().getTime()).ready).toBe(true);
    tracker.observe(a.localBundle(), clock.now().getTime());
    expect(tracker.check(active(b), clock.now().getTime()).ready).toBe(false);
    clock.advance(10);
    tracker.observe(merged(a, b), clock.now().getTime());
    expect(tracker.check(active(b), clock.now().getTime())).toMatchObject({
      ready: false,
      readyInSeconds: HINT,
    });
  });

  it('tracks JWT keys by kid, apart from x509 anchors', async () => {
    const { ca, clock } = await replica();
    const tracker = createEndpointTrustTracker(HINT);
    // A bundle without our JWT key: the x509 side counts, the JWT side is not served.
    tracker.observe(x509Only(ca), clock.now().getTime());
    clock.advance(HINT);
    expect(tracker.check(active(ca, 'x509'), clock.now().getTime()).ready).toBe(true);
    const jwt = active(ca, 'jwt');
    expect(tracker.check(jwt, clock.now().getTime()).detail).toBe(
      `jwt authority ${jwt?.id} is not in the served bundle yet`,
    );
    tracker.observe(ca.localBundle(), clock.now().getTime());
    expect(tracker.check(jwt, clock.now().getTime())).toMatchObject({
      ready: false,
      readyInSeconds: HINT,
    });
    clock.advance(HINT);
    expect(tracker.check(jwt, clock.now().getTime()).ready).toBe(true);
  });

  it('allTrusted: ready when every check is; otherwise every reason and the longest wait', () => {
    const ok = { ready: true, detail: 'ok' };
    const soon = { ready: false, detail: 'a in 5 s', readyInSeconds: 5 };
    const later = { ready: false, detail: 'b in 9 s', readyInSeconds: 9 };
    const absent = { ready: false, detail: 'c missing' };
    expect(allTrusted([ok, ok])).toEqual(ok);
    expect(allTrusted([ok, soon, later])).toEqual({
      ready: false,
      detail: 'a in 5 s; b in 9 s',
      readyInSeconds: 9,
    });
    // Not only a matter of time: no wait is promised.
    expect(allTrusted([soon, absent])).toEqual({ ready: false, detail: 'a in 5 s; c missing' });
  });

  it('is not ready without an authority, and refuses a bad refresh hint', async () => {
    const tracker = createEndpointTrustTracker(HINT);
    expect(tracker.check(undefined, 0)).toEqual({ ready: false, detail: 'no active authority' });
    expect(tracker.check(undefined, 0, 'no endpoint X509-SVID issued yet')).toEqual({
      ready: false,
      detail: 'no endpoint X509-SVID issued yet',
    });
    for (const hint of [0, -1, 1.5, Number.NaN]) {
      expect(() => createEndpointTrustTracker(hint)).toThrow(TypeError);
    }
  });
});
