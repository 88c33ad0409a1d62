// Rotation on an injected clock: several full cycles (prepare → publish → activate → retire → remove)
// of the X.509 authority and the JWT key, issuing at every step; every still-valid SVID issued so far
// verifies against the published bundle at every instant, and spiffe_sequence only grows (FED-50..55).
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  createRotator,
  type Ca,
  type IssuedJwtSvid,
  type IssuedX509Svid,
} from '../../src/ca/index.js';
import { StoreError } from '../../src/errors.js';
import { validateJwtSvid, verifyX509Svid } from '../../src/svid/index.js';
import { newEcKey, openCa, opensslVerify, removeTempDirs, testClock, TD } from './support.js';

afterAll(removeTempDirs);

const HINT = 300;
const LEAD_MS = 5 * HINT * 1000;
const STEP_SECONDS = 600;

describe('rotation walk (FED-50, FED-51, FED-55, BUNDLE-31)', () => {
  it('keeps every valid SVID verifiable through three CA lifetimes of both kinds', async () => {
    const clock = testClock();
    const ca = await openCa(clock, {
      caTtlSeconds: 24 * 3600,
      refreshHintSeconds: HINT,
      x509SvidTtlSeconds: 3600,
      maxX509SvidTtlSeconds: 4 * 3600,
      jwtSvidTtlSeconds: 300,
      maxJwtSvidTtlSeconds: 1800,
    });
    const rotator = createRotator({ ca, now: clock.nowMs });
    const x509Svids: IssuedX509Svid[] = [];
    const jwtSvids: IssuedJwtSvid[] = [];
    /** When each authority first appeared in the published bundle. */
    const firstPublished = new Map<string, number>();
    /** Latest expiry signed per authority (our own bookkeeping, independent of the CA's). */
    const signedUntil = new Map<string, number>();
    const seen = {
      prepared: new Set<string>(),
      active: new Set<string>(),
      retired: new Set<string>(),
    };
    const removed = new Set<string>();
    const bootstrap = new Set(ca.authorities().map((a) => a.id));
    let lastSequence = ca.localBundle().sequence ?? 0n;
    let opensslChecks = 0;

    const publishedIds = (): Set<string> => {
      const bundle = ca.localBundle();
      const ids = new Set<string>([...bundle.jwtAuthorities.keys()]);
      for (const a of ca.authorities('x509')) {
        if (bundle.x509Authorities.some((x) => x.fingerprintSha256 === a.fingerprintSha256)) {
          ids.add(a.id);
        }
      }
      return ids;
    };

    const steps = (3 * 24 * 3600) / STEP_SECONDS;
    for (let step = 0; step <= steps; step++) {
      const t = clock.now().getTime();
      await rotator.tick();
      const bundle = ca.localBundle();
      const sequence = bundle.sequence ?? 0n;
      expect(sequence >= lastSequence).toBe(true);
      lastSequence = sequence;

      const published = publishedIds();
      for (const id of published) if (!firstPublished.has(id)) firstPublished.set(id, t);
      for (const a of ca.authorities()) {
        if (a.state === 'prepared' || a.state === 'active' || a.state === 'retired') {
          seen[a.state].add(a.id);
        }
      }
      // FED-51: an authority leaves the bundle only once everything it signed has expired.
      for (const [id, until] of signedUntil) {
        if (!published.has(id) && !removed.has(id)) {
          expect(until).toBeLessThanOrEqual(t);
          removed.add(id);
        }
      }

      const x509 = await ca.issueX509Svid({
        spiffeId: `spiffe://${TD}/step/${step}`,
        publicKey: newEcKey().publicKey,
        ttlSeconds: step % 5 === 0 ? 4 * 3600 : 3600,
      });
      const jwt = await ca.issueJwtSvid({
        spiffeId: `spiffe://${TD}/step/${step}`,
        audience: ['svc'],
        ttlSeconds: step % 7 === 0 ? 1800 : 300,
      });
      x509Svids.push(x509);
      jwtSvids.push(jwt);
      for (const [id, until] of [
        [x509.authorityId, x509.notAfter.getTime()],
        [jwt.kid, jwt.expiresAt.getTime()],
      ] as const) {
        signedUntil.set(id, Math.max(signedUntil.get(id) ?? 0, until));
        // FED-50: it was published 5 × hint before it signed (bootstrap authorities excepted).
        if (!bootstrap.has(id)) {
          expect(t - (firstPublished.get(id) ?? t)).toBeGreaterThanOrEqual(LEAD_MS);
        }
      }

      // Every SVID issued so far that is still valid verifies against what we publish now.
      const current = ca.localBundle();
      for (const svid of x509Svids) {
        if (svid.notAfter.getTime() <= t) continue;
        const verified = verifyX509Svid(svid.chainDer, current, { now: clock.now() });
        expect(verified.spiffeId.toString()).toBe(svid.spiffeId.toString());
      }
      for (const svid of jwtSvids) {
        if (svid.expiresAt.getTime() <= t) continue;
        const validated = validateJwtSvid(svid.token, current, {
          audience: 'svc',
          now: clock.now(),
        });
        expect(validated.spiffeId.toString()).toBe(svid.spiffeId.toString());
      }
      if (step % 36 === 0) {
        const oldest = x509Svids.find((s) => s.notAfter.getTime() > t + 60_000);
        if (oldest !== undefined) {
          expect(opensslVerify(current, oldest.chainDer, Math.floor(t / 1000)).ok).toBe(true);
          opensslChecks++;
        }
      }
      clock.advance(STEP_SECONDS);
    }

    // Three lifetimes: at least three authorities of each kind went through every state.
    const kinds = (ids: Set<string>, kind: 'x509' | 'jwt'): number =>
      [...ids].filter((id) => (kind === 'jwt' ? id.length === 22 : id.length === 40)).length;
    for (const kind of ['x509', 'jwt'] as const) {
      expect(kinds(seen.prepared, kind)).toBeGreaterThanOrEqual(3);
      expect(kinds(seen.active, kind)).toBeGreaterThanOrEqual(4);
      expect(kinds(seen.retired, kind)).toBeGreaterThanOrEqual(3);
      expect(kinds(removed, kind)).toBeGreaterThanOrEqual(3);
    }
    expect(opensslChecks).toBeGreaterThan(5);
    // Removal of retired authorities bounds what is published: at most prepared + active + retired.
    expect(ca.localBundle().x509Authorities.length).toBeLessThanOrEqual(3);
    await ca.close();
  });

  it('activate refuses before the FED-50 lead time unless forced, then retires the old authority', async () => {
    const clock = testClock();
    const ca = await openCa(clock, { refreshHintSeconds: HINT });
    const [old] = ca.authorities('x509');
    const sequence = ca.localBundle().sequence ?? 0n;
    const next = await ca.prepare('x509');
    expect(next.state).toBe('prepared');
    // Published at once: sequence + 1, and the bundle holds both roots.
    expect(ca.localBundle().sequence).toBe(sequence + 1n);
    expect(ca.localBundle().x509Authorities).toHaveLength(2);
    await expect(ca.prepare('x509')).rejects.toMatchObject({ code: 'ERR_CA_AUTHORITY_STATE' });
    clock.advance(5 * HINT - 1);
    await expect(ca.activate('x509', next.id)).rejects.toMatchObject({
      code: 'ERR_CA_ACTIVATION_TOO_EARLY',
    });
    clock.advance(1);
    const activated = await ca.activate('x509');
    expect(activated.id).toBe(next.id);
    expect(activated.state).toBe('active');
    const oldNow = ca.authorities('x509').find((a) => a.id === old?.id);
    expect(oldNow?.state).toBe('retired');
    // Activation changes no published content.
    expect(ca.localBundle().sequence).toBe(sequence + 1n);
    const svid = await ca.issueX509Svid({
      spiffeId: `spiffe://${TD}/w`,
      publicKey: newEcKey().publicKey,
    });
    expect(svid.authorityId).toBe(next.id);
    await expect(ca.activate('x509', 'nope')).rejects.toMatchObject({
      code: 'ERR_CA_AUTHORITY_NOT_FOUND',
    });
    await expect(ca.activate('x509')).rejects.toMatchObject({ code: 'ERR_CA_AUTHORITY_NOT_FOUND' });
    // The retired one signed nothing: the next tick removes it (sequence + 1).
    const plan = await ca.rotate();
    expect(plan.applied).toContainEqual({
      type: 'remove',
      kind: 'x509',
      id: old?.id,
      reason: 'signed-material-expired',
    });
    expect(ca.localBundle().sequence).toBe(sequence + 2n);
    expect(ca.localBundle().x509Authorities).toHaveLength(1);
    await ca.close();
  });

  it('a no-op rebuild does not bump the sequence; expired certificates are pruned (BUNDLE-31, BUNDLE-33)', async () => {
    const clock = testClock();
    const ca = await openCa(clock, { caTtlSeconds: 6 * 3600, refreshHintSeconds: 60 });
    const changes: bigint[] = [];
    const unsubscribe = ca.onBundleChange((bundle) => changes.push(bundle.sequence ?? 0n));
    const first = ca.localBundle().sequence ?? 0n;
    await ca.rotate();
    await ca.rotate();
    expect(ca.localBundle().sequence).toBe(first);
    expect(changes).toEqual([]);
    const next = await ca.prepare('jwt');
    expect(changes).toEqual([first + 1n]);
    unsubscribe();
    // Without any tick, an authority whose certificate expired is no longer published.
    const [x509] = ca.authorities('x509');
    clock.set(new Date((x509?.notAfter.getTime() ?? 0) + 1000));
    const bundle = ca.localBundle();
    expect(bundle.x509Authorities.some((a) => a.notAfter.getTime() <= clock.now().getTime())).toBe(
      false,
    );
    expect(bundle.sequence).toBe(first + 2n);
    expect(changes).toEqual([first + 1n]);
    expect(next.id).toBeTypeOf('string');
    await ca.close();
  });
});

describe('createRotator', () => {
  // Fake timers drive run(signal): no real sleeps, and the schedule is exact.
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('run(signal) ticks, sleeps within its bounds, and stops on abort', async () => {
    const t0 = Date.now();
    const callsAtMs: number[] = [];
    const fakeCa = {
      rotate: async () => {
        callsAtMs.push(Date.now() - t0);
        if (callsAtMs.length === 2) throw new Error('disk full');
        return { actions: [], applied: [], nextCheckAt: new Date(Date.now() - 1000) };
      },
    };
    const errors: string[] = [];
    const rotator = createRotator(
      {
        ca: fakeCa,
        now: () => Date.now(),
        logger: { info() {}, warn() {}, error: (m) => errors.push(m) },
      },
      { minIntervalMs: 5, maxIntervalMs: 20 },
    );
    const controller = new AbortController();
    const running = rotator.run(controller.signal);
    await vi.advanceTimersByTimeAsync(120);
    controller.abort();
    await running;
    // A past nextCheckAt waits the minimum (5 ms); a failed tick waits the maximum (20 ms).
    expect(callsAtMs.slice(0, 5)).toEqual([0, 5, 25, 30, 35]);
    expect(callsAtMs.at(-1)).toBe(120);
    expect(errors).toEqual(['ca rotation failed; retrying']);
    const after = callsAtMs.length;
    await vi.advanceTimersByTimeAsync(40);
    expect(callsAtMs).toHaveLength(after);
    expect(() =>
      createRotator({ ca: fakeCa, now: () => Date.now() }, { minIntervalMs: 0 }),
    ).toThrow(TypeError);
  });

  it('a tick whose record fails applies nothing, warns, and is retried from the minimum interval', async () => {
    const t0 = Date.now();
    const callsAtMs: number[] = [];
    const recorded: string[][] = [];
    const step = {
      type: 'activate',
      kind: 'x509',
      id: 'next',
      reason: 'lead-time-passed',
    } as const;
    const fakeCa: Pick<Ca, 'rotate'> = {
      rotate: async (_atMs, options) => {
        callsAtMs.push(Date.now() - t0);
        // As the CA does: the steps are recorded before any applies; a rejection applies none.
        await options?.record?.([step]);
        return { actions: [step], applied: [step], nextCheckAt: undefined };
      },
    };
    const warnings: unknown[] = [];
    const errors: string[] = [];
    const rotator = createRotator(
      {
        ca: fakeCa,
        now: () => Date.now(),
        logger: {
          info() {},
          warn: (_m, fields) => warnings.push(fields),
          error: (m) => errors.push(m),
        },
        record: async (steps) => {
          recorded.push(steps.map((s) => `${s.type} ${s.kind} ${s.id}`));
          if (recorded.length <= 3) throw new StoreError('ERR_STORE_UNAVAILABLE', 'disk full');
        },
      },
      { minIntervalMs: 5, maxIntervalMs: 40 },
    );
    const controller = new AbortController();
    const running = rotator.run(controller.signal);
    await vi.advanceTimersByTimeAsync(100);
    controller.abort();
    await running;
    // Failed records wait 5, 10, 20 ms (doubling, at most 40); a success with nothing pending, 40.
    expect(callsAtMs).toEqual([0, 5, 15, 35, 75]);
    expect(recorded).toHaveLength(5);
    expect(recorded[0]).toEqual(['activate x509 next']);
    expect(warnings).toHaveLength(3);
    expect(warnings[0]).toMatchObject({ code: 'ERR_STORE_UNAVAILABLE', steps: 'activate x509' });
    expect(errors).toEqual([]);
  });
});
