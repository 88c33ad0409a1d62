// Steps 1 to 3 of the demo, all through the CLI: three brokers start, they federate (shipping never
// approves saas), and each gets an entry and a join token for its agent.
import type { WorkloadApiSource } from '../src/agent/index.js';
import { freePorts } from '../test/helpers/free-port.js';
import { registerAgent, type TokenJson } from './agents.js';
import { approve, fetchedOnce, inviteAndAccept, relationships } from './federation.js';
import { brokerOf, fed, fedJson, startBroker, tempDir, type BrokerProcess } from './processes.js';
import { detail, expect, pass, progress } from './report.js';
import { LOGISTICS, SAAS, SHIPPING } from './settings.js';
import { workloadFromAgentServe } from './workload.js';

export interface Brokers {
  readonly logistics: BrokerProcess;
  readonly shipping: BrokerProcess;
  readonly saas: BrokerProcess;
  readonly all: readonly BrokerProcess[];
}

/** What step 3 made for step 4: the agents' join tokens and the workload being set up. */
export interface Registered {
  readonly plannerToken: TokenJson;
  readonly dispatchToken: TokenJson;
  readonly saasToken: TokenJson;
  /** saas's bundle from `fedbroker bundle show`, which its agent trusts instead of a digest. */
  readonly saasBundle: string;
  readonly trackerSetup: Promise<{ source: WorkloadApiSource; summary: string }>;
}

/** 1. Brokers. */
export async function startBrokers(): Promise<Brokers> {
  progress.step = '1';
  // Ports below the ephemeral range, so nothing running beside the demo takes one before a broker binds it.
  const ports = await freePorts(9);
  const logistics = brokerOf(LOGISTICS, ports.slice(0, 3));
  const shipping = brokerOf(SHIPPING, ports.slice(3, 6));
  const saas = brokerOf(SAAS, ports.slice(6, 9));
  const all = [logistics, shipping, saas];
  await Promise.all(all.map(startBroker));
  for (const b of all) {
    pass(
      '1',
      `${b.td} broker ready: fedbroker serve pid ${b.child?.pid}, CA + file store in ${b.dir.slice(tempDir.length + 1)}/state, ` +
        `bundle endpoint https://127.0.0.1:${b.ports.bundle}, agent API :${b.ports.agent}, admin :${b.ports.admin} (/readyz 200)`,
    );
  }
  return { logistics, shipping, saas, all };
}

/** 2. Federation through the CLI. */
export async function federate({ logistics, shipping, saas }: Brokers): Promise<void> {
  progress.step = '2';
  await inviteAndAccept('2.1', logistics, shipping);
  await approve('2.1', shipping, LOGISTICS);
  await inviteAndAccept('2.2', shipping, logistics);
  await approve('2.2', logistics, SHIPPING);
  // saas trusts shipping (so its agent can authenticate shipping's server) ...
  await inviteAndAccept('2.3', shipping, saas);
  await approve('2.3', saas, SHIPPING);
  // ... but shipping never approves saas: that relationship stays pending.
  await inviteAndAccept('2.3', saas, shipping);
  await Promise.all([
    fetchedOnce(shipping, LOGISTICS),
    fetchedOnce(logistics, SHIPPING),
    fetchedOnce(saas, SHIPPING),
  ]);
  for (const [broker, partner] of [
    [logistics, SHIPPING],
    [shipping, LOGISTICS],
  ] as const) {
    const found = (await relationships(broker)).find((r) => r.trustDomain === partner);
    expect(
      found?.state === 'active' && found.status.lastSuccessAtMs !== null,
      `${broker.td}: ${partner} is not active with a successful fetch`,
    );
    pass(
      '2.4',
      `${broker.td} federation list: ${partner} active, last fetch ${new Date(found.status.lastSuccessAtMs).toISOString()}`,
    );
    detail(await fed(broker, ['federation', 'list']));
  }
  const pending = (await relationships(shipping)).find((r) => r.trustDomain === SAAS);
  expect(
    pending?.state === 'pending' && pending.status.lastSuccessAtMs === null,
    `shipping's saas.example relationship is ${pending?.state ?? 'missing'}, expected pending and never fetched`,
  );
  const shippingBundles = await fedJson<{ bundles: { trustDomain: string; trusted?: boolean }[] }>(
    shipping,
    ['bundle', 'list'],
  );
  expect(
    !shippingBundles.bundles.some((b) => b.trustDomain === SAAS && b.trusted === true),
    'shipping trusts a saas.example bundle',
  );
  pass(
    '2.5',
    `shipping.example: ${SAAS} pending (never approved, never fetched, no bundle trusted)`,
  );
}

/** 3. Entries and join tokens through the CLI. */
export async function registerAgents({ logistics, shipping, saas }: Brokers): Promise<Registered> {
  progress.step = '3';
  // Issue 17's workload (step 4.5) is set up meanwhile; a failure surfaces where it is awaited.
  const trackerSetup = workloadFromAgentServe(logistics);
  trackerSetup.catch(() => undefined);
  const plannerToken = await registerAgent(
    '3',
    logistics,
    'spiffe://logistics.example/agents/planner/instance/{instance}',
    [SHIPPING],
  );
  // Dispatch would federate with saas too: only the pending approval keeps saas out.
  const dispatchToken = await registerAgent(
    '3',
    shipping,
    'spiffe://shipping.example/agents/dispatch/instance/{instance}',
    [LOGISTICS, SAAS],
  );
  const saasToken = await registerAgent(
    '3',
    saas,
    'spiffe://saas.example/agents/assistant/instance/{instance}',
    [SHIPPING],
  );
  const saasBundle = await fed(saas, ['bundle', 'show']);
  return { plannerToken, dispatchToken, saasToken, saasBundle, trackerSetup };
}
