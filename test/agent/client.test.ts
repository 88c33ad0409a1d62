// createAgent against a real broker over real TLS on 127.0.0.1: enrolment with the bundle or only
// its digest, renewal, bundles pushed over the watch stream, JWT-SVIDs, and refusing a broker
// that is not the one the agent was told to trust.
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAgent, type Agent } from '../../src/agent/index.js';
import { bundleDigest, marshalBundle, marshalPem } from '../../src/bundle/index.js';
import type { Broker } from '../../src/main.js';
import { parseTrustDomain } from '../../src/spiffeid/index.js';
import { verifyX509Svid } from '../../src/svid/index.js';
import { approvePartner, startTestBroker } from '../helpers/broker.js';
import { bundleOf, createCa, createJwtKey, type TestJwtKey } from '../helpers/pki.js';
import { codeOf } from '../helpers/error-code.js';

const PARTNER = 'shipping.test';

/** Resolves once `check()` holds, re-checked on every update the agent reports (no polling). */
function untilUpdated(agent: Agent, check: () => boolean): Promise<void> {
  if (check()) return Promise.resolve();
  return new Promise((resolve) => {
    const off = agent.onUpdate(() => {
      if (check()) {
        off();
        resolve();
      }
    });
  });
}

describe('agent SDK createAgent against a real broker', () => {
  let broker: Broker;
  let entryId: string;
  let plainEntryId: string;
  let partnerKey: TestJwtKey;
  const agents: Agent[] = [];

  const token = async (id = entryId): Promise<string> =>
    (await broker.registration.createToken(id, { actor: 'test' })).token;
  const ownBundleJson = (): string => marshalBundle(broker.ca.localBundle()).toString('utf8');

  beforeAll(async () => {
    broker = await startTestBroker({ trustDomain: 'logistics.test' });
    entryId = (
      await broker.registration.createEntry(
        {
          spiffeId: 'spiffe://logistics.test/agents/planner/{instance}',
          federatesWith: [PARTNER],
        },
        'test',
      )
    ).id;
    plainEntryId = (
      await broker.registration.createEntry(
        { spiffeId: 'spiffe://logistics.test/agents/solo' },
        'test',
      )
    ).id;
    partnerKey = await createJwtKey('ES256', 'partner-kid-1');
  });
  afterAll(async () => {
    for (const agent of agents) await agent.close();
    await broker.stop();
  });

  it('enrols with the broker bundle: per-instance SVID verified against our bundle only', async () => {
    const agent = await createAgent({
      brokerUrl: broker.agentApiUrl,
      joinToken: await token(),
      brokerBundle: ownBundleJson(),
    });
    agents.push(agent);
    const svid = agent.x509Svid();
    expect(svid.spiffeId.toString()).toMatch(
      /^spiffe:\/\/logistics\.test\/agents\/planner\/[A-Za-z0-9_-]{22}$/,
    );
    expect(svid.instanceId).toBe(svid.spiffeId.path.split('/').at(-1));
    const verified = verifyX509Svid(svid.chainDer, agent.bundles());
    expect(verified.spiffeId.toString()).toBe(svid.spiffeId.toString());
    expect(agent.trustDomain.name).toBe('logistics.test');
    expect([...agent.bundles()].map((b) => b.trustDomain.name)).toEqual(['logistics.test']);
    // The key was generated here: the broker's audit trail and store never hold it.
    const audit = JSON.stringify(await broker.store.listAudit({ limit: 1000 }));
    expect(audit).not.toContain(svid.privateKeyPem.split('\n')[1]);
  });

  it('enrols with only the bundle digest, and each enrolment is a new instance', async () => {
    const digest = bundleDigest(ownBundleJson());
    const a = await createAgent({
      brokerUrl: broker.agentApiUrl,
      joinToken: await token(),
      brokerBundleDigest: digest,
    });
    const b = await createAgent({
      brokerUrl: broker.agentApiUrl,
      joinToken: await token(),
      brokerBundleDigest: digest,
    });
    agents.push(a, b);
    expect(a.spiffeId.toString()).not.toBe(b.spiffeId.toString());
  });

  it('refuses a broker whose bundle does not match, before the join token is sent', async () => {
    const joinToken = await token(plainEntryId);
    expect(
      await codeOf(
        createAgent({
          brokerUrl: broker.agentApiUrl,
          joinToken,
          brokerBundleDigest: 'a'.repeat(64),
        }),
      ),
    ).toBe('ERR_AGENT_BROKER_UNTRUSTED');
    const stranger = await createCa({ trustDomain: 'logistics.test' });
    expect(
      await codeOf(
        createAgent({
          brokerUrl: broker.agentApiUrl,
          joinToken,
          brokerBundle: marshalPem([stranger.der]),
          trustDomain: 'logistics.test',
        }),
      ),
    ).toBe('ERR_AGENT_BROKER_UNTRUSTED');
    // Neither attempt reached the broker with the token: it still enrols.
    const agent = await createAgent({
      brokerUrl: broker.agentApiUrl,
      joinToken,
      brokerBundle: ownBundleJson(),
    });
    agents.push(agent);
    expect(agent.spiffeId.toString()).toBe('spiffe://logistics.test/agents/solo');
    // And it is spent now.
    expect(
      await codeOf(
        createAgent({ brokerUrl: broker.agentApiUrl, joinToken, brokerBundle: ownBundleJson() }),
      ),
    ).toBe('ERR_AGENT_BROKER_REFUSED');
  });

  it('renews with a new key and the same SPIFFE ID, and drops cached JWT-SVIDs', async () => {
    const agent = agents[0] as Agent;
    const before = agent.x509Svid();
    const jwtBefore = await agent.jwtSvid('renew-test');
    const updates: string[] = [];
    const off = agent.onUpdate((what) => updates.push(what));
    await agent.renew();
    off();
    const after = agent.x509Svid();
    expect(after.spiffeId.toString()).toBe(before.spiffeId.toString());
    expect(after.privateKeyPem).not.toBe(before.privateKeyPem);
    expect(after.chainDer[0]?.equals(before.chainDer[0] as Buffer)).toBe(false);
    expect(updates).toContain('svid');
    // After a renewal (e.g. following a CA rotation) the next JWT-SVID is minted afresh.
    expect((await agent.jwtSvid('renew-test')).token).not.toBe(jwtBefore.token);
  });

  it('FED-30: an approved partner in federatesWith arrives over the watch stream, keyed by its trust domain', async () => {
    const agent = agents[0] as Agent;
    const solo = agents.find((a) => a.spiffeId.toString().endsWith('/solo')) as Agent;
    const partnerCa = await createCa({ trustDomain: PARTNER });
    await approvePartner(broker, PARTNER, bundleOf(PARTNER, [partnerCa], [partnerKey]));
    // The partner bundle arrives on the watch stream.
    await untilUpdated(agent, () => agent.bundles().has(parseTrustDomain(PARTNER)));
    expect(agent.bundles().size).toBe(2);
    // The entry without the partner never gets it.
    await solo.refreshBundles();
    expect(solo.bundles().has(parseTrustDomain(PARTNER))).toBe(false);

    // A partner JWT-SVID validates against the partner bundle; the solo agent cannot validate it.
    const jwt = await new SignJWT({ sub: `spiffe://${PARTNER}/agents/dispatch` })
      .setProtectedHeader({ alg: 'ES256', kid: partnerKey.kid, typ: 'JWT' })
      .setAudience('planner')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(partnerKey.privateKey);
    const validated = await agent.validateJwtSvid(jwt, 'planner');
    expect(validated.spiffeId.toString()).toBe(`spiffe://${PARTNER}/agents/dispatch`);
    expect(await codeOf(solo.validateJwtSvid(jwt, 'planner'))).toBe('ERR_SVID_JWT_NO_BUNDLE');

    // Suspending the partner removes it from the agent's set.
    await broker.federation.transition(PARTNER, 'suspend', { actor: 'test' });
    await untilUpdated(agent, () => !agent.bundles().has(parseTrustDomain(PARTNER)));
  });

  it('JWT-SVIDs for an audience validate locally and are reused while fresh', async () => {
    const agent = agents[0] as Agent;
    const first = await agent.jwtSvid(['shipping-api']);
    const again = await agent.jwtSvid('shipping-api');
    expect(again.token).toBe(first.token);
    const validated = await agent.validateJwtSvid(first.token, 'shipping-api');
    expect(validated.spiffeId.toString()).toBe(agent.spiffeId.toString());
    expect(await codeOf(agent.validateJwtSvid(first.token, 'someone-else'))).toMatch(
      /^ERR_SVID_JWT_/,
    );
  });

  it('an agent whose entry is deleted can no longer renew', async () => {
    const agent = agents.find((a) => a.spiffeId.toString().endsWith('/solo')) as Agent;
    await broker.registration.deleteEntry(plainEntryId);
    expect(await codeOf(agent.renew())).toBe('ERR_AGENT_BROKER_REFUSED');
  });
});
