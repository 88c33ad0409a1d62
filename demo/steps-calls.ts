// Steps 4 and 5 of the demo: the SDK agents enrol and the planner (and a workload served by
// `fedbroker agent serve`) call dispatch across trust domains over mTLS + JWT-SVID; then saas,
// which shipping never approved, is refused at the handshake.
import { parseTrustDomain, type Agent, type WorkloadApiSource } from '../src/agent/index.js';
import { describeAgent, enrolAgent } from './agents.js';
import {
  callDispatch,
  plannerCalls,
  serveDispatch,
  type DispatchAnswer,
  type Refusal,
} from './dispatch.js';
import { detail, expect, messageOf, pass, progress } from './report.js';
import { AUDIENCE, LOGISTICS, SAAS, SHIPPING } from './settings.js';
import type { Registered } from './steps-setup.js';
import { waitUntil } from './wait.js';

/** What step 4 leaves for steps 5 and 6. */
export interface Calls {
  readonly dispatch: Agent;
  readonly planner: Agent;
  readonly assistant: Agent;
  /** The dispatch service's port. */
  readonly port: number;
  /** The handshakes dispatch refused, as they happen. */
  readonly refusals: Refusal[];
  /** The planner's first call, before the CA rotation. */
  readonly before: DispatchAnswer;
}

/** 4. Agents (SDK) and the mTLS + JWT call. */
export async function callAcross(registered: Registered): Promise<Calls> {
  progress.step = '4';
  const logisticsTd = parseTrustDomain(LOGISTICS);
  const shippingTd = parseTrustDomain(SHIPPING);
  const saasTd = parseTrustDomain(SAAS);
  const dispatch = await enrolAgent(registered.dispatchToken);
  const planner = await enrolAgent(registered.plannerToken);
  const assistant = await enrolAgent(registered.saasToken, registered.saasBundle);
  expect(dispatch.bundles().has(logisticsTd), 'dispatch lacks the logistics.example bundle');
  expect(!dispatch.bundles().has(saasTd), 'dispatch holds a saas.example bundle');
  expect(planner.bundles().has(shippingTd), 'planner lacks the shipping.example bundle');
  expect(assistant.bundles().has(shippingTd), 'saas assistant lacks the shipping.example bundle');

  const { port, refusals } = await serveDispatch(dispatch, logisticsTd);
  pass(
    '4.2',
    `dispatch ${describeAgent(dispatch)} serves https://127.0.0.1:${port}/v1/pickups ` +
      `(mTLS, authorizeMemberOf(${LOGISTICS}), JWT-SVID audience ${AUDIENCE})`,
  );
  const before = await plannerCalls('4.3', planner, dispatch, port, shippingTd);

  const wrongAudience = await callDispatch(planner, port, shippingTd, 'spiffe://elsewhere/api');
  expect(wrongAudience.status === 401, `JWT for another audience got HTTP ${wrongAudience.status}`);
  pass(
    '4.4',
    `a JWT-SVID for another audience is refused by dispatch even over valid mTLS: HTTP 401 ${JSON.parse(wrongAudience.body).error}`,
  );

  await workloadCalls(await registered.trackerSetup, dispatch, port);
  return { dispatch, planner, assistant, port, refusals, before };
}

/**
 * A workload with no token of its own: its identity comes from the node agent's Workload API,
 * attested by its uid, and it calls dispatch over mTLS + JWT-SVID like the SDK agents.
 */
async function workloadCalls(
  { source: tracker, summary }: { source: WorkloadApiSource; summary: string },
  dispatch: Agent,
  port: number,
): Promise<void> {
  const shippingTd = parseTrustDomain(SHIPPING);
  pass('4.5', summary);
  const trackerId = tracker.x509Svid().spiffeId.toString();
  expect(trackerId === `spiffe://${LOGISTICS}/agents/tracker`, `workload got ${trackerId}`);
  expect(tracker.bundles().has(shippingTd), 'the workload lacks the shipping.example bundle');
  const tracked = await callDispatch(tracker, port, shippingTd);
  expect(tracked.status === 200, `dispatch answered the workload HTTP ${tracked.status}`);
  const trackedAnswer = JSON.parse(tracked.body) as DispatchAnswer;
  expect(
    trackedAnswer.caller.spiffeId === trackerId && tracked.server === dispatch.spiffeId.toString(),
    `dispatch saw ${trackedAnswer.caller.spiffeId}, the workload saw ${tracked.server ?? 'nobody'}`,
  );
  pass(
    '4.6',
    `workload ${trackerId} (SVID from agent serve, no join token) → dispatch ` +
      `${trackedAnswer.server.spiffeId}: mTLS both ways + JWT-SVID, HTTP 200`,
  );
}

/** 5. saas.example is refused: shipping never approved it. */
export async function refusedPartner({ assistant, port, refusals }: Calls): Promise<void> {
  progress.step = '5';
  const shippingTd = parseTrustDomain(SHIPPING);
  refusals.length = 0;
  let outcome: string;
  try {
    const result = await callDispatch(assistant, port, shippingTd);
    outcome = `HTTP ${result.status}`;
  } catch (error) {
    outcome = `refused (${(error as { code?: string }).code ?? messageOf(error)})`;
  }
  await waitUntil(() => refusals.length > 0, 'dispatch to report the refused handshake');
  const refusal = refusals[0];
  expect(outcome.startsWith('refused'), `the saas assistant's call got ${outcome}`);
  expect(
    refusal?.code === 'ERR_AGENT_PEER_UNVERIFIED' && refusal.svidCode === 'ERR_SVID_NO_BUNDLE',
    `dispatch refused with ${refusal?.code}/${refusal?.svidCode}: ${refusal?.message}`,
  );
  detail(
    `saas assistant (${describeAgent(assistant)})\n` +
      `  → talking to dispatch: ${outcome}\n` +
      `dispatch: handshake refused, ${refusal.code} (${refusal.svidCode}): no ${SAAS} bundle, relationship pending`,
  );
  pass(
    '5',
    `expected failure: ${assistant.spiffeId.toString()} (instance ${assistant.x509Svid().instanceId}) ` +
      `refused by dispatch at the mTLS handshake: ${refusal.svidCode} (shipping never approved ${SAAS})`,
  );
}
