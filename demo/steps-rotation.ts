// Step 6 of the demo: logistics rotates its CA mid-run. The new X.509 and JWT authorities are
// prepared, reach the agents at shipping over the watch stream after a refresh, are activated
// (with --force, since the demo checks propagation itself), and the planner's next call is
// verified against them.
import { X509Certificate, createHash } from 'node:crypto';
import { parseTrustDomain, type Agent } from '../src/agent/index.js';
import { describeAgent, issuingAuthority, kidOf } from './agents.js';
import { plannerCalls } from './dispatch.js';
import { fed, fedJson, fedRaw, type BrokerProcess } from './processes.js';
import { expect, pass, progress, short } from './report.js';
import { AUDIENCE, LOGISTICS, SHIPPING, WAIT_TIMEOUT_MS } from './settings.js';
import type { Calls } from './steps-calls.js';
import type { Brokers } from './steps-setup.js';
import { waitUntil, within } from './wait.js';

type AuthorityJson = { id: string; state: string };

/** The authorities before and after `localauthority prepare`. */
interface Prepared {
  /** Fingerprint of the X.509 authority that signed the planner's SVID before the rotation. */
  readonly oldFingerprint: string | undefined;
  /** Fingerprint of the prepared X.509 authority, as published in the logistics bundle. */
  readonly newFingerprint: string;
  readonly x509: string;
  readonly jwt: string;
}

/** 6. CA rotation at logistics, mid-run. */
export async function rotateLogistics(
  { logistics, shipping }: Brokers,
  calls: Calls,
): Promise<void> {
  progress.step = '6';
  const prepared = await prepareAuthorities(logistics, calls);
  await propagate(shipping, calls, prepared);
  await activate(logistics, prepared);
  await renewAndCall(calls, prepared);
}

const fingerprintsOf = (pem: string): string[] =>
  [...pem.matchAll(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g)].map((m) =>
    createHash('sha256').update(new X509Certificate(m[0]).raw).digest('hex'),
  );

/** 6.1: prepares new X.509 and JWT authorities at logistics, published beside the active ones. */
async function prepareAuthorities(
  logistics: BrokerProcess,
  { planner, before }: Calls,
): Promise<Prepared> {
  const activeOf = async (kind: 'x509' | 'jwt'): Promise<string | undefined> =>
    (
      await fedJson<{ authorities: AuthorityJson[] }>(logistics, ['localauthority', kind, 'show'])
    ).authorities.find((a) => a.state === 'active')?.id;
  const oldX509 = await activeOf('x509');
  const oldJwt = await activeOf('jwt');
  const oldFingerprint = issuingAuthority(planner);
  expect(
    oldFingerprint === before.caller.x509Authority,
    'dispatch saw a different authority than the planner holds',
  );
  const oldFingerprints = new Set(
    fingerprintsOf(await fed(logistics, ['bundle', 'show', '--format', 'pem'])),
  );
  const preparedX509 = (
    await fedJson<{ authority: AuthorityJson }>(logistics, ['localauthority', 'x509', 'prepare'])
  ).authority.id;
  const preparedJwt = (
    await fedJson<{ authority: AuthorityJson }>(logistics, ['localauthority', 'jwt', 'prepare'])
  ).authority.id;
  const newFingerprint = fingerprintsOf(
    await fed(logistics, ['bundle', 'show', '--format', 'pem']),
  ).find((fp) => !oldFingerprints.has(fp));
  expect(
    newFingerprint !== undefined,
    'the prepared x509 authority is not in the logistics bundle',
  );
  pass(
    '6.1',
    `${LOGISTICS} localauthority prepare: x509 ${short(preparedX509)} (sha256 ${short(newFingerprint)}) ` +
      `and jwt ${preparedJwt} published beside active x509 ${short(oldX509)} / jwt ${oldJwt}`,
  );
  return { oldFingerprint, newFingerprint, x509: preparedX509, jwt: preparedJwt };
}

/** 6.2, 6.3: shipping refreshes logistics and its agents receive the new authorities. */
async function propagate(
  shipping: BrokerProcess,
  { dispatch, planner }: Calls,
  prepared: Prepared,
): Promise<void> {
  const logisticsTd = parseTrustDomain(LOGISTICS);
  const refresh = await fed(shipping, ['federation', 'refresh', LOGISTICS]);
  pass('6.2', `${SHIPPING} federation refresh ${LOGISTICS}: ${refresh.trim()}`);
  const holdsNew = (agent: Agent): boolean => {
    const bundle = agent.bundles().get(logisticsTd);
    return (
      bundle !== undefined &&
      bundle.x509Authorities.some((a) => a.fingerprintSha256 === prepared.newFingerprint) &&
      bundle.jwtAuthorities.has(prepared.jwt)
    );
  };
  const waitedMs = await waitUntil(
    () => holdsNew(dispatch) && holdsNew(planner),
    'the agents to receive the new logistics authorities over the watch stream',
  );
  const dispatchView = dispatch.bundles().get(logisticsTd);
  pass(
    '6.3',
    `dispatch ${describeAgent(dispatch)} holds the new ${LOGISTICS} authorities (pushed over the watch stream; waited ${waitedMs} ms after the refresh): ` +
      `x509 ${dispatchView?.x509Authorities.map((a) => short(a.fingerprintSha256)).join(', ')}; ` +
      `jwt ${[...(dispatchView?.jwtAuthorities.keys() ?? [])].join(', ')}`,
  );
}

/** 6.4, 6.5: activation is refused before FED-50's wait, then forced. */
async function activate(logistics: BrokerProcess, prepared: Prepared): Promise<void> {
  const early = await fedRaw(logistics, ['localauthority', 'x509', 'activate']);
  expect(
    early.code !== 0 && early.stderr.startsWith('error ERR_CA_ACTIVATION_TOO_EARLY'),
    `activate without --force: exit ${early.code} ${early.stderr.trim()}`,
  );
  pass(
    '6.4',
    `activate without --force is refused (ERR_CA_ACTIVATION_TOO_EARLY: FED-50 waits 5 × refresh hint); ` +
      `the demo checked propagation itself, so it activates with --force`,
  );
  for (const kind of ['x509', 'jwt'] as const) {
    const activated = await fedJson<{ authority: AuthorityJson }>(logistics, [
      'localauthority',
      kind,
      'activate',
      '--force',
    ]);
    expect(
      activated.authority.state === 'active' &&
        activated.authority.id === (kind === 'x509' ? prepared.x509 : prepared.jwt),
      `${kind} activate: ${JSON.stringify(activated.authority)}`,
    );
  }
  pass(
    '6.5',
    `${LOGISTICS} localauthority activate --force: x509 ${short(prepared.x509)} and jwt ${prepared.jwt} active`,
  );
}

/** 6.6 to 6.8: the planner renews and its next call is verified against the new authorities. */
async function renewAndCall(
  { planner, dispatch, port, before }: Calls,
  prepared: Prepared,
): Promise<void> {
  const shippingTd = parseTrustDomain(SHIPPING);
  await within(planner.renew(), WAIT_TIMEOUT_MS, 'planner renewal');
  const renewedFingerprint = issuingAuthority(planner);
  expect(
    renewedFingerprint === prepared.newFingerprint,
    `the renewed SVID is signed by ${short(renewedFingerprint)}, expected ${short(prepared.newFingerprint)}`,
  );
  pass(
    '6.6',
    `planner renewed: ${describeAgent(planner)}, X509-SVID now signed by ${short(renewedFingerprint)} ` +
      `(was ${short(prepared.oldFingerprint)})`,
  );
  const after = await plannerCalls('6.7', planner, dispatch, port, shippingTd);
  expect(
    after.caller.x509Authority === prepared.newFingerprint,
    `dispatch verified the planner against ${short(after.caller.x509Authority)}`,
  );
  expect(after.caller.jwtKid === prepared.jwt, `dispatch saw JWT key ${after.caller.jwtKid}`);
  expect(
    kidOf((await planner.jwtSvid(AUDIENCE)).token) === prepared.jwt,
    'the JWT-SVID was not signed by the new key',
  );
  pass(
    '6.8',
    `after the rotation dispatch verified the planner's X509-SVID against ${short(after.caller.x509Authority)} ` +
      `(new) and its JWT-SVID against key ${after.caller.jwtKid} (new); before: ${short(before.caller.x509Authority)} / ${before.caller.jwtKid}`,
  );
}
