// The SDK agents: an entry and a join token made through the CLI, the agent's enrolment with them,
// and what the demo prints about an agent (its SPIFFE ID and instance, bundles, signing authority).
import { X509Certificate } from 'node:crypto';
import { createAgent, type Agent } from '../src/agent/index.js';
import { agents, fedJson, type BrokerProcess } from './processes.js';
import { expect, pass, short } from './report.js';
import { CALL_TIMEOUT_MS, WAIT_TIMEOUT_MS } from './settings.js';
import { within } from './wait.js';

export interface TokenJson {
  token: string;
  tokenId: string;
  spiffeId: string;
  agentApiUrl: string;
  bundleDigest: string;
}

export async function registerAgent(
  step: string,
  broker: BrokerProcess,
  template: string,
  federatesWith: readonly string[],
): Promise<TokenJson> {
  const { entry } = await fedJson<{ entry: { id: string; spiffeId: string } }>(broker, [
    'entry',
    'create',
    '--spiffe-id',
    template,
    ...federatesWith.flatMap((td) => ['--federates-with', td]),
    '--description',
    'issue-7 demo agent',
  ]);
  const token = await fedJson<TokenJson>(broker, [
    'token',
    'generate',
    '--entry',
    entry.id,
    '--ttl',
    '10m',
  ]);
  pass(
    step,
    `${broker.td} entry ${entry.id} for ${entry.spiffeId} (federates with ${federatesWith.join(', ')}); ` +
      `join token ${token.tokenId} (agent API ${token.agentApiUrl}, bundle sha256 ${short(token.bundleDigest)})`,
  );
  return token;
}

/**
 * Enrols an SDK agent with its join token. The broker's bundle is trusted by the sha256 digest the
 * token carries, or, when `brokerBundle` is given, by that bundle (from `fedbroker bundle show`).
 */
export async function enrolAgent(token: TokenJson, brokerBundle?: string): Promise<Agent> {
  const agent = await within(
    createAgent({
      brokerUrl: token.agentApiUrl,
      joinToken: token.token,
      ...(brokerBundle === undefined
        ? { brokerBundleDigest: token.bundleDigest }
        : { brokerBundle }),
      requestTimeoutMs: CALL_TIMEOUT_MS,
    }),
    WAIT_TIMEOUT_MS,
    `enrolment at ${token.agentApiUrl}`,
  );
  agents.push(agent);
  const id = agent.spiffeId.toString();
  expect(
    id.startsWith(token.spiffeId.replace('{instance}', '')) && agent.x509Svid().instanceId,
    `enrolled as ${id}, entry is ${token.spiffeId}`,
  );
  pass(
    '4.1',
    `agent enrolled (broker bundle by ${brokerBundle === undefined ? 'sha256 digest from the token' : 'bundle show'}): ` +
      `${describeAgent(agent)}; bundles: ${bundleNames(agent)}`,
  );
  return agent;
}

export function describeAgent(agent: Agent): string {
  const id = agent.x509Svid().spiffeId.toString();
  return `${id} (instance ${agent.x509Svid().instanceId ?? '-'})`;
}

function bundleNames(agent: Agent): string {
  return [...agent.bundles()].map((b) => b.trustDomain.name).join(', ');
}

/** Fingerprint of the bundle authority that signed the agent's current X509-SVID. */
export function issuingAuthority(agent: Agent): string | undefined {
  const leafDer = agent.x509Svid().chainDer[0];
  if (leafDer === undefined) return undefined;
  const leaf = new X509Certificate(leafDer);
  const own = agent.bundles().get(agent.trustDomain);
  return own?.x509Authorities.find(
    (a) => leaf.checkIssued(a.certificate) && leaf.verify(a.publicKey),
  )?.fingerprintSha256;
}

export function kidOf(token: string): string {
  const header = JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString('utf8'));
  return String((header as { kid?: unknown }).kid);
}
