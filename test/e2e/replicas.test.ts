// Issue 6: two replicas of one organisation on one redis-server (each with its own CA): changes on A
// reach B over pub/sub within a second, one partner fetch per scheduler round (FED-43), A's token
// enrols on B, and both serve one bundle holding both CAs (BUNDLE-31, ARCHITECTURE "State").
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BundleSet, marshalBundle, type Bundle } from '../../src/bundle/index.js';
import { createScheduler, handleBundleRequest } from '../../src/federation/index.js';
import { silentLogger, type Logger } from '../../src/log.js';
import { startBroker, type Broker } from '../../src/main.js';
import { verifyX509Svid } from '../../src/svid/index.js';
import {
  agentApi,
  anchorsOf,
  attest,
  renew,
  type AgentTls,
  type IssuedSvid,
} from '../helpers/agent-api.js';
import { admin, startTestBroker, testConfig } from '../helpers/broker.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';

const ORG = 'org.test';
const PARTNER = 'partner.test';
const PARTNER_ENDPOINT_ID = `spiffe://${PARTNER}/spiffe/bundle-endpoint`;
const AGENT_API_ID = `spiffe://${ORG}/fedbroker/agent-api`;
const LEASE = `refresh:${PARTNER}`;
/** The issue's functional bound for a change on one replica to show on the other. */
const PROPAGATION_MS = 1000;

/** One clock for both replicas, moved forward to make the partner due again (never backwards). */
let offsetMs = 0;
const now = (): Date => new Date(Date.now() + offsetMs);
const nowMs = (): number => now().getTime();

/** A logger that keeps the messages (the federation logs each fetch it made). */
function recordingLogger(): Logger & {
  messages: { msg: string; fields: Record<string, unknown> }[];
} {
  const messages: { msg: string; fields: Record<string, unknown> }[] = [];
  const keep = (msg: string, fields?: Readonly<Record<string, unknown>>): void => {
    messages.push({ msg, fields: { ...fields } });
  };
  return { messages, debug: keep, info: keep, warn: keep, error: keep };
}

const fetchesLogged = (logger: ReturnType<typeof recordingLogger>): number =>
  logger.messages.filter(
    (m) => m.msg === 'partner bundle fetched' && m.fields['trustDomain'] === PARTNER,
  ).length;

/** Polls `check` every 10 ms until true, at most `timeoutMs`; returns whether it became true. */
async function within(
  timeoutMs: number,
  check: () => boolean | Promise<boolean>,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((done) => setTimeout(done, 10));
  }
}

const fingerprints = (bundle: Bundle | undefined): string[] =>
  (bundle?.x509Authorities ?? []).map((a) => a.fingerprintSha256).sort();

describe('two replicas of one organisation on one redis-server (issue 6)', () => {
  let redis: RedisServer;
  let partner: Broker;
  let a: Broker;
  let b: Broker;
  const logA = recordingLogger();
  const logB = recordingLogger();
  /** The partner's bundle endpoint as seen by the replicas: the partner's handler, counted. */
  let endpoint: Server;
  let endpointUrl: string;
  let requests = 0;

  beforeAll(async () => {
    redis = await startRedisServer();
    partner = await startTestBroker({ trustDomain: PARTNER });
    const own = await partner.ca.issueOwnSvid(PARTNER_ENDPOINT_ID, 3600);
    endpoint = createServer(
      {
        cert: own.chainPem,
        key: own.privateKey.export({ format: 'pem', type: 'pkcs8' }),
        minVersion: 'TLSv1.2',
      },
      (req, res) => {
        requests += 1;
        const ifNoneMatch = req.headers['if-none-match'];
        const response = handleBundleRequest(partner.servedBundle(), {
          method: req.method ?? 'GET',
          ifNoneMatch: Array.isArray(ifNoneMatch) ? ifNoneMatch.join(',') : ifNoneMatch,
        });
        res.writeHead(response.status, response.headers);
        res.end(response.body);
      },
    );
    await new Promise<void>((done) => endpoint.listen(0, '127.0.0.1', done));
    endpointUrl = `https://127.0.0.1:${(endpoint.address() as AddressInfo).port}/`;

    const store = { kind: 'redis', url: redis.url, keyPrefix: 'org:' };
    a = await startBroker(testConfig({ trustDomain: ORG, store }), {
      logger: logA,
      now: nowMs,
      replicaId: 'replica-a',
    });
    b = await startBroker(testConfig({ trustDomain: ORG, store }), {
      logger: logB,
      now: nowMs,
      replicaId: 'replica-b',
    });
  }, 60_000);

  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    endpoint?.closeAllConnections();
    await new Promise<void>((done) => (endpoint ? endpoint.close(() => done()) : done()));
    await partner?.stop();
    await redis?.cleanup();
  });

  const tlsFor = (replica: Broker): AgentTls => ({
    anchorsPem: anchorsOf(replica.ca.localBundle()),
    serverSpiffeId: AGENT_API_ID,
  });

  let entryId: string;
  let agentOnB: IssuedSvid;
  let token: { token: string; bundleDigest: string };

  it('an entry and a join token made on A enrol an agent on B (one shared store); the token is spent for both', async () => {
    const created = await admin<{ entry: { id: string } }>(a, 'POST', '/v1/admin/entries', {
      spiffeId: `spiffe://${ORG}/agents/worker/{instance}`,
      federatesWith: [PARTNER],
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    entryId = created.body.entry.id;
    // B lists it at once: entries are read from the shared store.
    const listed = await admin<{ entries: { id: string }[] }>(b, 'GET', '/v1/admin/entries');
    expect(listed.body.entries.map((e) => e.id)).toEqual([entryId]);

    const generated = await admin<{ token: string; bundleDigest: string }>(
      a,
      'POST',
      '/v1/admin/tokens',
      { entryId },
    );
    expect(generated.status).toBe(201);
    token = generated.body;
    const tokensOnB = await admin<{ tokens: { entryId: string }[] }>(b, 'GET', '/v1/admin/tokens');
    expect(tokensOnB.body.tokens.map((t) => t.entryId)).toEqual([entryId]);

    agentOnB = await attest(b.agentApiUrl, tlsFor(b), token.token);
    expect(agentOnB.spiffeId).toMatch(/^spiffe:\/\/org\.test\/agents\/worker\/[A-Za-z0-9_-]{22}$/);
    expect(agentOnB.body['entryId']).toBe(entryId);
    // Spent in the shared store: neither replica takes it again.
    await expect(attest(a.agentApiUrl, tlsFor(a), token.token)).rejects.toThrow(
      /ERR_REGISTRATION_TOKEN_INVALID/,
    );
    await expect(attest(b.agentApiUrl, tlsFor(b), token.token)).rejects.toThrow(
      /ERR_REGISTRATION_TOKEN_INVALID/,
    );
    // Renewal on B, where it enrolled, works.
    const renewed = await renew(b.agentApiUrl, tlsFor(b), agentOnB);
    expect(renewed.response.status, renewed.response.text).toBe(200);
    expect(renewed.svid?.spiffeId).toBe(agentOnB.spiffeId);
    agentOnB = renewed.svid as IssuedSvid;
  });

  /** True when both replicas serve the same bundle bytes (sequence and content). */
  const converged = (): boolean => {
    const servedA = a.servedBundle()?.body;
    const servedB = b.servedBundle()?.body;
    return servedA !== undefined && servedB !== undefined && servedA.equals(servedB);
  };

  it('BUNDLE-31: both replicas serve one bundle, the union of both CAs, with one sequence from the store', async () => {
    expect(await within(PROPAGATION_MS, converged)).toBe(true);
    const bundleA = a.ca.localBundle();
    const bundleB = b.ca.localBundle();
    expect(bundleA.trustDomain.name).toBe(ORG);
    // Each replica has its own X.509 authority and JWT key; both are in the one bundle.
    expect(fingerprints(bundleA)).toHaveLength(2);
    expect(fingerprints(bundleB)).toEqual(fingerprints(bundleA));
    expect([...bundleA.jwtAuthorities.keys()].sort()).toEqual(
      [...bundleB.jwtAuthorities.keys()].sort(),
    );
    expect(bundleA.jwtAuthorities.size).toBe(2);
    expect(bundleB.sequence).toBe(bundleA.sequence);
    // The store holds exactly what both serve.
    const stored = await a.store.getLocalBundle();
    expect(stored?.raw).toBe(a.servedBundle()?.body.toString('utf8'));
    expect(stored?.sequence).toBe(bundleA.sequence?.toString());
    // Two authority records, one per replica, public parts only.
    const records = await a.store.listReplicaAuthorities();
    expect(records.map((r) => r.replicaId).sort()).toEqual(['replica-a', 'replica-b']);
    expect(JSON.stringify(records)).not.toMatch(/PRIVATE KEY|"d":/);

    // An SVID issued by B chains to A's bundle, so A renews B's agent over mTLS.
    expect(
      verifyX509Svid(agentOnB.chainDer, new BundleSet([bundleA]), {
        now: now(),
      }).spiffeId.toString(),
    ).toBe(agentOnB.spiffeId);
    const onA = await renew(a.agentApiUrl, tlsFor(a), agentOnB);
    expect(onA.response.status, onA.response.text).toBe(200);
    expect(onA.svid?.spiffeId).toBe(agentOnB.spiffeId);

    // The bundle digest a token made on A carries is the bundle B hands out, and A's anchors
    // authenticate B's agent API.
    const fresh = await admin<{ bundleDigest: string }>(a, 'POST', '/v1/admin/tokens', {
      entryId,
    });
    const servedByB = await agentApi(b.agentApiUrl, 'GET', '/v1/agent/bundle', {
      anchorsPem: anchorsOf(bundleA),
      serverSpiffeId: AGENT_API_ID,
    });
    expect(createHash('sha256').update(servedByB.text).digest('hex')).toBe(fresh.body.bundleDigest);
  });

  it('FED-50/FED-53: an authority prepared on A is served by B within a second with a higher sequence, and gone from B once A revokes it', async () => {
    expect(await within(PROPAGATION_MS, converged)).toBe(true);
    const before = b.ca.localBundle().sequence ?? 0n;
    const prepared = await a.ca.prepare('x509');
    const anchor = prepared.anchorFingerprintSha256 ?? '';
    expect(anchor).toMatch(/^[0-9a-f]{64}$/);
    expect(
      await within(PROPAGATION_MS, () => fingerprints(b.ca.localBundle()).includes(anchor)),
    ).toBe(true);
    expect((b.ca.localBundle().sequence ?? 0n) > before).toBe(true);
    expect(fingerprints(b.ca.localBundle())).toHaveLength(3);
    // B's own CA did not gain an authority: only what it serves did.
    expect(b.ca.authorities('x509')).toHaveLength(1);
    expect(await within(PROPAGATION_MS, converged)).toBe(true);

    const afterPrepare = b.ca.localBundle().sequence ?? 0n;
    await a.ca.revoke('x509', prepared.id);
    expect(
      await within(PROPAGATION_MS, () => !fingerprints(b.ca.localBundle()).includes(anchor)),
    ).toBe(true);
    expect((b.ca.localBundle().sequence ?? 0n) > afterPrepare).toBe(true);
    expect(fingerprints(b.ca.localBundle())).toHaveLength(2);
    expect(await within(PROPAGATION_MS, converged)).toBe(true);
  });

  it('a relationship created and approved on A is served by B within a second, over pub/sub', async () => {
    const bootstrap = marshalBundle(partner.ca.localBundle()).toString('utf8');
    const created = await admin<{ relationship: { state: string } }>(
      a,
      'POST',
      '/v1/admin/relationships',
      {
        trustDomain: PARTNER,
        url: endpointUrl,
        profile: 'https_spiffe',
        endpointSpiffeId: PARTNER_ENDPOINT_ID,
        bootstrapBundle: bootstrap,
        reason: 'issue 6 replicas',
      },
    );
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body.relationship.state).toBe('pending');
    const pendingOnB = await admin<{ relationship: { state: string } }>(
      b,
      'GET',
      `/v1/admin/relationships/${PARTNER}`,
    );
    expect(pendingOnB.body.relationship.state).toBe('pending');
    expect(b.federation.trustedBundles([PARTNER]).size).toBe(0);

    const agentBundlesOnB = async (): Promise<Record<string, unknown>> => {
      const response = await agentApi(b.agentApiUrl, 'GET', '/v1/agent/bundles', {
        ...tlsFor(b),
        client: { certPem: agentOnB.certPem, keyPem: agentOnB.keyPem },
      });
      expect(response.status, response.text).toBe(200);
      return response.json?.['bundles'] as Record<string, unknown>;
    };
    expect(Object.keys(await agentBundlesOnB())).toEqual([ORG]);

    const approved = await admin(a, 'POST', `/v1/admin/relationships/${PARTNER}/approve`, {
      reason: 'checked the digest',
    });
    expect(approved.status).toBe(200);
    // B never reloads by hand here: only the notifications A published can bring it.
    const served = await within(
      PROPAGATION_MS,
      () =>
        fingerprints(b.federation.trustedBundles([PARTNER]).bundles()[0]).join() ===
        fingerprints(partner.ca.localBundle()).join(),
    );
    expect(served, `B did not trust ${PARTNER} within ${PROPAGATION_MS} ms`).toBe(true);
    const activeOnB = await admin<{ relationship: { state: string } }>(
      b,
      'GET',
      `/v1/admin/relationships/${PARTNER}`,
    );
    expect(activeOnB.body.relationship.state).toBe('active');
    const heldOnB = await admin(b, 'GET', `/v1/admin/bundles/${PARTNER}`);
    expect(heldOnB.status).toBe(200);
    // B's agent API hands the partner bundle to its agent (entry made on A federates with it).
    expect(Object.keys(await agentBundlesOnB()).sort()).toEqual([ORG, PARTNER]);
  });

  /** A scheduler round run by the replicas' own federation and store, as the broker's cron does. */
  const schedulerOf = (replica: Broker, replicaId: string, due?: () => Promise<string[]>) =>
    createScheduler({
      federation: {
        due: due ?? ((at) => replica.federation.due(at)),
        isDue: (td, at) => replica.federation.isDue(td, at),
        refresh: (td) => replica.federation.refresh(td),
      },
      locks: replica.store,
      now: nowMs,
      logger: silentLogger,
      replicaId,
    });

  /** Waits (bounded) until the round's fetch reached the partner and no replica holds the lease. */
  async function settle(expected: number): Promise<void> {
    expect(await within(10_000, () => requests >= expected), 'the round fetched nothing').toBe(
      true,
    );
    expect(
      await within(10_000, async () => (await a.store.lockHolder(LEASE)) === undefined),
      'the refresh lease was not released',
    ).toBe(true);
  }

  it('FED-43 one fetch of the partner per round, whichever replica runs it (three rounds, both replicas ticking at once)', async () => {
    const tickA = schedulerOf(a, 'round-a');
    const tickB = schedulerOf(b, 'round-b');
    const start = requests;
    const logged = fetchesLogged(logA) + fetchesLogged(logB);
    for (let round = 1; round <= 3; round++) {
      // Round 1 is the one approval made due; later rounds come after the refresh interval
      // (the partner's 30 s hint ± 10 %).
      if (round > 1) offsetMs += 60_000;
      const [ranA, ranB] = await Promise.all([tickA.tick(), tickB.tick()]);
      // The brokers' own cron ticks run too; at most one of all of them fetched.
      expect([...ranA, ...ranB].length, `round ${round}`).toBeLessThanOrEqual(1);
      await settle(start + round);
      expect(requests - start, `partner requests after round ${round}`).toBe(round);
      expect(await a.federation.isDue(PARTNER, nowMs())).toBe(false);
      expect(await b.federation.isDue(PARTNER, nowMs())).toBe(false);
    }
    expect(fetchesLogged(logA) + fetchesLogged(logB) - logged).toBe(3);
  });

  it('FED-43 a replica whose due list predates the other replica’s fetch re-checks under the lease and does not fetch again', async () => {
    offsetMs += 60_000;
    const start = requests;
    // B decides the partner is due, then A's round fetches it before B takes the lease.
    const staleDue = await b.federation.due(nowMs());
    expect(staleDue).toEqual([PARTNER]);
    await schedulerOf(a, 'late-a').tick();
    await settle(start + 1);
    const ran = await schedulerOf(b, 'late-b', async () => staleDue).tick();
    expect(ran).toEqual([]);
    expect(requests - start).toBe(1);
  });

  it('a partner bundle change fetched by one replica reaches the other within a second', async () => {
    const prepared = await admin<{ authority: { id: string } }>(
      partner,
      'POST',
      '/v1/admin/authorities/x509/prepare',
    );
    expect(prepared.status, JSON.stringify(prepared.body)).toBe(201);
    // The partner's published bundle follows its CA's prepare (an asynchronous merge).
    let wanted = fingerprints(partner.ca.localBundle());
    for (let waited = 0; wanted.length < 2 && waited < 5_000; waited += 50) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      wanted = fingerprints(partner.ca.localBundle());
    }
    expect(wanted).toHaveLength(2);
    expect(fingerprints(a.federation.trustedBundles([PARTNER]).bundles()[0])).toHaveLength(1);

    offsetMs += 60_000;
    const start = requests;
    const before = { a: fetchesLogged(logA), b: fetchesLogged(logB) };
    await Promise.all([schedulerOf(a, 'change-a').tick(), schedulerOf(b, 'change-b').tick()]);
    await settle(start + 1);
    expect(requests - start).toBe(1);
    const fetchedByA = fetchesLogged(logA) - before.a;
    const fetchedByB = fetchesLogged(logB) - before.b;
    expect(fetchedByA + fetchedByB).toBe(1);
    // The replica that did not fetch learns the new bundle from the other's notification.
    const other = fetchedByA === 1 ? b : a;
    const seen = await within(
      PROPAGATION_MS,
      () =>
        fingerprints(other.federation.trustedBundles([PARTNER]).bundles()[0]).join() ===
        wanted.join(),
    );
    expect(seen, `the non-fetching replica missed the change within ${PROPAGATION_MS} ms`).toBe(
      true,
    );
    expect(fingerprints(a.federation.trustedBundles([PARTNER]).bundles()[0])).toEqual(wanted);
    expect(fingerprints(b.federation.trustedBundles([PARTNER]).bundles()[0])).toEqual(wanted);
  });

  it('suspending and deleting on A stop B trusting the partner within a second (FED-60)', async () => {
    expect((await admin(a, 'POST', `/v1/admin/relationships/${PARTNER}/suspend`, {})).status).toBe(
      200,
    );
    expect(
      await within(PROPAGATION_MS, () => b.federation.trustedBundles([PARTNER]).size === 0),
      'B still trusts a suspended partner',
    ).toBe(true);
    expect((await admin(a, 'POST', `/v1/admin/relationships/${PARTNER}/resume`, {})).status).toBe(
      200,
    );
    expect(
      await within(PROPAGATION_MS, () => b.federation.trustedBundles([PARTNER]).size === 1),
      'B did not trust the resumed partner again',
    ).toBe(true);
    expect((await admin(a, 'DELETE', `/v1/admin/relationships/${PARTNER}`)).status).toBe(204);
    expect(
      await within(PROPAGATION_MS, () => b.federation.trustedBundles([PARTNER]).size === 0),
      'B still trusts a deleted partner',
    ).toBe(true);
    expect((await admin(b, 'GET', `/v1/admin/relationships/${PARTNER}`)).status).toBe(404);
  });
});
