// Before enrolment: which bundle and SPIFFE ID the agent trusts the broker with. The bundle is given
// beside the join token, or only its SHA-256 (fetched, then compared before anything is sent); the
// trust domain is given or read from the broker's certificate, whose chain must end at that bundle.
import { createHash } from 'node:crypto';
import { Agent as HttpsAgent } from 'node:https';
import type { PeerCertificate } from 'node:tls';
import { marshalPem, parseBundleOrPem, type Bundle } from '../bundle/index.js';
import { isBrokerError } from '../errors.js';
import {
  agentApiIdOf,
  parseSpiffeId,
  parseTrustDomain,
  type SpiffeId,
  type TrustDomain,
} from '../spiffeid/index.js';
import { untrusted, type BrokerConnection } from './broker-connection.js';

/** The CreateAgentOptions fields that say whom to trust. */
export interface BrokerTrustOptions {
  readonly brokerBundle?: string | Uint8Array;
  readonly brokerBundleDigest?: string;
  readonly trustDomain?: string;
  readonly brokerSpiffeId?: string;
}

export interface BrokerTrust {
  readonly trustDomain: TrustDomain;
  /** Our trust domain's bundle as bootstrapped (replaced by the broker's later answers). */
  readonly ownBundle: Bundle;
  /** The agent API's SPIFFE ID (default `spiffe://<td>/fedbroker/agent-api`). */
  readonly brokerId: SpiffeId;
}

/** Resolves the bootstrap trust; throws ERR_AGENT_BROKER_* for the broker, TypeError for options. */
export async function establishBrokerTrust(
  connection: BrokerConnection,
  options: BrokerTrustOptions,
): Promise<BrokerTrust> {
  const placeholder = parseTrustDomain('bootstrap.invalid');
  const bootstrapBytes =
    options.brokerBundle !== undefined
      ? options.brokerBundle
      : await fetchBundleByDigest(connection, options.brokerBundleDigest);
  let trustDomain: TrustDomain;
  let ownBundle: Bundle;
  try {
    const roots = parseBundleOrPem(bootstrapBytes, placeholder).x509Authorities;
    if (roots.length === 0) throw untrusted('the broker bundle holds no X.509 authority');
    trustDomain =
      options.trustDomain === undefined
        ? await brokerTrustDomain(connection, marshalPem(roots.map((a) => a.der)))
        : parseTrustDomain(options.trustDomain);
    ownBundle = parseBundleOrPem(bootstrapBytes, trustDomain);
  } catch (error) {
    if (isBrokerError(error) && error.code.startsWith('ERR_AGENT_')) throw error;
    throw untrusted('the broker bundle could not be read', error);
  }
  const brokerId =
    options.brokerSpiffeId === undefined
      ? agentApiIdOf(trustDomain)
      : parseSpiffeId(options.brokerSpiffeId);
  if (!brokerId.isMemberOf(trustDomain)) {
    throw new TypeError('brokerSpiffeId must be in the broker trust domain');
  }
  return { trustDomain, ownBundle, brokerId };
}

/** The broker's bundle, fetched without authentication and accepted only if its digest matches. */
async function fetchBundleByDigest(
  connection: BrokerConnection,
  digest: string | undefined,
): Promise<Buffer> {
  const expected = String(digest)
    .toLowerCase()
    .replace(/^sha256:/, '');
  if (!/^[0-9a-f]{64}$/.test(expected)) {
    throw new TypeError('brokerBundleDigest must be a SHA-256 hex digest');
  }
  // Nothing secret is sent on this unauthenticated request; the digest is the trust anchor.
  const fetched = await connection.send(
    new HttpsAgent({ rejectUnauthorized: false, keepAlive: false }),
    'GET',
    '/v1/agent/bundle',
  );
  const actual = createHash('sha256').update(fetched.body).digest('hex');
  if (fetched.status !== 200 || actual !== expected) {
    throw untrusted(
      `the broker's bundle does not match the digest given with the join token (got ${actual.slice(0, 16)}…)`,
    );
  }
  return fetched.body;
}

/** The trust domain on the broker's certificate, whose chain must end at the given roots. */
async function brokerTrustDomain(
  connection: BrokerConnection,
  rootsPem: string,
): Promise<TrustDomain> {
  let seen: string | undefined;
  const agent = new HttpsAgent({
    keepAlive: false,
    ca: rootsPem,
    rejectUnauthorized: true,
    checkServerIdentity: (_host: string, cert: PeerCertificate) => {
      const uri = /(?:^|, )URI:(spiffe:\/\/[^,]+)/.exec(cert.subjectaltname ?? '');
      seen = uri?.[1];
      return undefined;
    },
  });
  await connection.send(agent, 'GET', '/v1/agent/bundle');
  if (seen === undefined) throw untrusted('the agent API certificate holds no SPIFFE ID');
  return parseSpiffeId(seen).trustDomain;
}
