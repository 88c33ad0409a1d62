// The bundles an agent's entry allows (FED-30: keyed by trust domain, never pooled): GET
// /v1/agent/bundles and the /v1/agent/bundles/watch stream, its events, ends and failures.
// Through app.request() on the agent-app fixture.
import { describe, expect, it } from 'vitest';
import { newKeyAndCsr } from '../../src/agent/index.js';
import { createAgentApp, type AgentDeps } from '../../src/api/agent-app.js';
import {
  type Bundle,
  BundleSet,
  bundleContentEquals,
  marshalBundle,
} from '../../src/bundle/index.js';
import { bundlesEventBody, SseReader, type SseEvent } from '../helpers/sse-reader.js';
import { bundleOf, createCa } from '../helpers/pki.js';
import {
  HEARTBEAT_MS,
  OTHER,
  PARTNER,
  TD,
  addPartner,
  broker,
  bundlesOf,
  call,
  clock,
  createEntry,
  deps,
  enrol,
  json,
  otherCa,
  otherJwt,
  partnerCa,
  partnerJwt,
  research,
  socketFor,
  solo,
  useAgentAppFixture,
} from './agent-app-fixture.js';

useAgentAppFixture();

describe('GET /v1/agent/bundles', () => {
  it('FED-30: an entry federating with a partner gets own + partner, keyed by trust domain, never pooled', async () => {
    const agent = await enrol(research);
    const response = await call('/v1/agent/bundles', { socket: agent.socket });
    expect(response.status).toBe(200);
    const bundles = bundlesOf(await json<{ bundles: Record<string, unknown> }>(response));
    expect([...bundles.keys()]).toEqual([PARTNER, TD].sort());
    expect(bundleContentEquals(bundles.get(TD) as Bundle, broker.ca.localBundle())).toBe(true);
    const partner = bundles.get(PARTNER) as Bundle;
    expect(partner.x509Authorities.map((a) => a.fingerprintSha256)).toEqual(
      bundleOf(PARTNER, [partnerCa]).x509Authorities.map((a) => a.fingerprintSha256),
    );
    expect([...partner.jwtAuthorities.keys()]).toEqual([partnerJwt.kid]);
    // Never pooled: our bundle holds none of the partner's keys.
    const own = bundles.get(TD) as Bundle;
    expect(own.jwtAuthorities.has(partnerJwt.kid)).toBe(false);
    expect(own.x509Authorities.length).toBe(broker.ca.localBundle().x509Authorities.length);
  });

  it('FED-30: an entry without federatesWith gets only our bundle; an active partner not listed is absent', async () => {
    const agent = await enrol(solo);
    const response = await call('/v1/agent/bundles', { socket: agent.socket });
    expect(response.status).toBe(200);
    const bundles = bundlesOf(await json<{ bundles: Record<string, unknown> }>(response));
    expect([...bundles.keys()]).toEqual([TD]);
    // OTHER is active and trusted by the broker, yet the research entry does not list it.
    expect(broker.federation.trustedBundles([OTHER]).size).toBe(1);
    const researcher = await enrol(research);
    const theirs = bundlesOf(
      await json<{ bundles: Record<string, unknown> }>(
        await call('/v1/agent/bundles', { socket: researcher.socket }),
      ),
    );
    expect(theirs.has(OTHER)).toBe(false);
  });

  it('a listed partner that is not (yet) trusted is simply absent', async () => {
    const entry = await createEntry('agents/unknown-partner', { federatesWith: ['nobody.test'] });
    const agent = await enrol(entry);
    const bundles = bundlesOf(
      await json<{ bundles: Record<string, unknown> }>(
        await call('/v1/agent/bundles', { socket: agent.socket }),
      ),
    );
    expect([...bundles.keys()]).toEqual([TD]);
  });

  it('a suspended partner disappears (and comes back on resume)', async () => {
    const fleeting = 'fleeting.test';
    await addPartner(fleeting, bundleOf(fleeting, [await createCa({ trustDomain: fleeting })]));
    const entry = await createEntry('agents/fleeting', { federatesWith: [fleeting] });
    const agent = await enrol(entry);
    const names = async (): Promise<string[]> => [
      ...bundlesOf(
        await json<{ bundles: Record<string, unknown> }>(
          await call('/v1/agent/bundles', { socket: agent.socket }),
        ),
      ).keys(),
    ];
    expect(await names()).toEqual([fleeting, TD].sort());
    await broker.federation.transition(fleeting, 'suspend', { actor: 'test' });
    expect(await names()).toEqual([TD]);
    await broker.federation.transition(fleeting, 'resume', { actor: 'test' });
    expect(await names()).toEqual([fleeting, TD].sort());
  });
});

describe('GET /v1/agent/bundles/watch', () => {
  it('sends the allowed set, then a new event on partner bundle change and on suspension', async () => {
    const watched = 'watched.test';
    const firstCa = await createCa({ trustDomain: watched });
    await addPartner(watched, bundleOf(watched, [firstCa]));
    const entry = await createEntry('agents/watcher', { federatesWith: [watched] });
    const agent = await enrol(entry);
    const response = await call('/v1/agent/bundles/watch', { socket: agent.socket });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const sse = new SseReader(response.body);
    try {
      const first = await sse.nextOf('bundles');
      let bundles = bundlesOf(bundlesEventBody(first));
      expect([...bundles.keys()]).toEqual([TD, watched].sort());
      expect(bundles.get(watched)?.x509Authorities.map((a) => a.fingerprintSha256)).toEqual(
        bundleOf(watched, [firstCa]).x509Authorities.map((a) => a.fingerprintSha256),
      );

      // FED-31: the partner's new bundle replaces the old one.
      const secondCa = await createCa({ trustDomain: watched });
      await broker.federation.forceBundle(
        watched,
        marshalBundle(bundleOf(watched, [secondCa])).toString('utf8'),
        { actor: 'test' },
      );
      const second = await sse.nextOf('bundles');
      expect(Number(second.id)).toBeGreaterThan(Number(first.id));
      bundles = bundlesOf(bundlesEventBody(second));
      expect(bundles.get(watched)?.x509Authorities.map((a) => a.fingerprintSha256)).toEqual(
        bundleOf(watched, [secondCa]).x509Authorities.map((a) => a.fingerprintSha256),
      );

      await broker.federation.transition(watched, 'suspend', { actor: 'test' });
      const third = await sse.nextOf('bundles');
      expect([...bundlesOf(bundlesEventBody(third)).keys()]).toEqual([TD]);
    } finally {
      await sse.cancel();
    }
  });

  it('a change of our own bundle (a prepared JWT key is published) sends a new event', async () => {
    const agent = await enrol(solo);
    const response = await call('/v1/agent/bundles/watch', { socket: agent.socket });
    const sse = new SseReader(response.body);
    try {
      const first = bundlesOf(bundlesEventBody(await sse.nextOf('bundles'))).get(TD) as Bundle;
      const prepared = await broker.ca.prepare('jwt');
      const second = bundlesOf(bundlesEventBody(await sse.nextOf('bundles'))).get(TD) as Bundle;
      expect(first.jwtAuthorities.has(prepared.id)).toBe(false);
      expect(second.jwtAuthorities.has(prepared.id)).toBe(true);
      expect(bundleContentEquals(second, broker.ca.localBundle())).toBe(true);
    } finally {
      await sse.cancel();
    }
  });

  it('changes to partners the entry does not list send nothing new (only keep-alives)', async () => {
    const agent = await enrol(solo);
    const response = await call('/v1/agent/bundles/watch', { socket: agent.socket });
    const sse = new SseReader(response.body);
    try {
      await sse.nextOf('bundles');
      await broker.federation.forceBundle(
        OTHER,
        marshalBundle(
          bundleOf(OTHER, [otherCa, await createCa({ trustDomain: OTHER })], [otherJwt]),
        ).toString('utf8'),
        { actor: 'test' },
      );
      await expect(sse.next(HEARTBEAT_MS * 4)).rejects.toThrow(/no SSE data/);
    } finally {
      await sse.cancel();
    }
  });

  it('deleting the entry sends `event: end` and closes the stream', async () => {
    const entry = await createEntry('agents/watch-deleted');
    const agent = await enrol(entry);
    const response = await call('/v1/agent/bundles/watch', { socket: agent.socket });
    const sse = new SseReader(response.body);
    try {
      await sse.nextOf('bundles');
      await broker.registration.deleteEntry(entry.id);
      const end = await sse.next();
      expect(end).not.toBe('closed');
      expect((end as SseEvent).event).toBe('end');
      expect(await sse.next()).toBe('closed');
    } finally {
      await sse.cancel();
    }
  });
});

// GET /v1/agent/bundles/watch, continued: ends at once, on expiry and on shutdown; a racing change.
describe('GET /v1/agent/bundles/watch', () => {
  it('deleting the entry ends the stream at once, without waiting for a heartbeat', async () => {
    const local = createAgentApp(deps({ watchHeartbeatMs: 60_000 }));
    const entry = await createEntry('agents/watch-deleted-now');
    const agent = await enrol(entry);
    const response = await call('/v1/agent/bundles/watch', { socket: agent.socket, app: local });
    const sse = new SseReader(response.body);
    try {
      await sse.nextOf('bundles');
      await broker.registration.deleteEntry(entry.id);
      // Well under the 60 s heartbeat: only the registration change notification can wake it.
      const end = await sse.next(5_000);
      expect(end).not.toBe('closed');
      expect((end as SseEvent).event).toBe('end');
    } finally {
      await sse.cancel();
    }
  });

  it('the stream ends when the SVID expires', async () => {
    const { publicKey } = newKeyAndCsr();
    const issued = await broker.ca.issueX509Svid({
      spiffeId: `spiffe://${TD}/agents/solo`,
      publicKey,
      ttlSeconds: 60,
    });
    const response = await call('/v1/agent/bundles/watch', {
      socket: socketFor(issued.chainDer),
    });
    const sse = new SseReader(response.body);
    try {
      await sse.nextOf('bundles');
      clock.advanceMs(120_000);
      const end = await sse.next();
      expect((end as SseEvent).event).toBe('end');
      expect(await sse.next()).toBe('closed');
    } finally {
      clock.advanceMs(-120_000);
      await sse.cancel();
    }
  });

  it('aborting the broker signal ends the stream; a watch opened after shutdown ends at once', async () => {
    const own = new AbortController();
    const local = createAgentApp(deps({ signal: own.signal, watchHeartbeatMs: 60_000 }));
    const agent = await enrol(solo);
    const response = await call('/v1/agent/bundles/watch', { socket: agent.socket, app: local });
    const sse = new SseReader(response.body);
    try {
      await sse.nextOf('bundles');
      own.abort();
      expect(await sse.next()).toBe('closed');
    } finally {
      await sse.cancel();
    }
    const late = await call('/v1/agent/bundles/watch', { socket: agent.socket, app: local });
    const lateSse = new SseReader(late.body);
    try {
      // The stream closes at once instead of idling until a heartbeat.
      expect(await lateSse.next(2_000)).toBe('closed');
    } finally {
      await lateSse.cancel();
    }
  });

  it('a change signalled while the stream is busy is not lost (no heartbeat needed)', async () => {
    // A federation view that changes, and says so, while the stream builds its first event.
    const extraTd = 'late.test';
    const extra = bundleOf(extraTd, [await createCa({ trustDomain: extraTd })]);
    const entry = await createEntry('agents/race', { federatesWith: [extraTd] });
    const listeners = new Set<() => void>();
    let withExtra = false;
    let reads = 0;
    const federation: AgentDeps['federation'] = {
      trustedBundles(names) {
        reads += 1;
        const set = withExtra && names?.includes(extraTd) ? [extra] : [];
        if (reads === 1) {
          withExtra = true;
          for (const listener of listeners) listener();
        }
        return new BundleSet(set);
      },
      onChange(listener) {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
      refreshOnUnknownKey: async () => false,
    };
    const own = new AbortController();
    const local = createAgentApp(
      deps({ federation, signal: own.signal, watchHeartbeatMs: 60_000 }),
    );
    const agent = await enrol(entry);
    const response = await call('/v1/agent/bundles/watch', { socket: agent.socket, app: local });
    const sse = new SseReader(response.body);
    try {
      const first = await sse.nextOf('bundles');
      expect([...bundlesOf(bundlesEventBody(first)).keys()]).toEqual([TD]);
      const second = await sse.nextOf('bundles', 3_000);
      expect([...bundlesOf(bundlesEventBody(second)).keys()]).toEqual([extraTd, TD].sort());
    } finally {
      own.abort();
      await sse.cancel();
    }
  });
});

describe('GET /v1/agent/bundles/watch failures', () => {
  it('a failure inside the stream closes it and goes to the log, not to the caller', async () => {
    const errors: { message: string; fields: Readonly<Record<string, unknown>> | undefined }[] = [];
    let lookups = 0;
    const registration: AgentDeps['registration'] = {
      enrol: (token) => broker.registration.enrol(token),
      async entryFor(id) {
        lookups += 1;
        // 1: the mTLS check, 2: the first event; then the store "goes away".
        if (lookups >= 3) throw new Error('store went away');
        return broker.registration.entryFor(id);
      },
    };
    const own = new AbortController();
    const local = createAgentApp(
      deps({
        registration,
        signal: own.signal,
        logger: {
          info() {},
          warn() {},
          error: (message, fields) => errors.push({ message, fields }),
        },
      }),
    );
    const agent = await enrol(solo);
    const response = await call('/v1/agent/bundles/watch', { socket: agent.socket, app: local });
    const sse = new SseReader(response.body);
    try {
      await sse.nextOf('bundles');
      expect(await sse.next()).toBe('closed');
      expect(errors).toHaveLength(1);
      expect(errors[0]?.fields?.['error']).toBe('store went away');
    } finally {
      own.abort();
      await sse.cancel();
    }
  });
});
