// The agent API as the broker serves it: the app wired to the issuer, registration and federation,
// on TLS with the broker's own X509-SVID; a client certificate is asked for but checked by the app
// (join-token enrolment has none yet).
import type { Ca } from '../ca/index.js';
import type { Clock } from '../clock.js';
import type { BrokerConfig } from '../config/index.js';
import type { Federation } from '../federation/index.js';
import type { Logger } from '../log.js';
import type { Registration } from '../registration/index.js';
import type { SpiffeId } from '../spiffeid/index.js';
import { createAgentApp, type AgentDeps } from './agent-app.js';
import { listenerLimitsFromConfig, LISTENERS, serveApp, type AppListener } from './listeners.js';
import { requestMetrics, type BrokerMetrics } from './metrics.js';
import { createPeerRefusalGate } from './peer-refusals.js';
import { caPeerVerifier } from './peer-svid.js';
import type { OwnSvidKeeperDeps } from './own-svid-keeper.js';
import type { StopOrder } from './teardown.js';
import { createWatchLimiter } from './watch-limits.js';

export interface AgentApiDeps {
  readonly config: BrokerConfig['agentApi'];
  /** The SPIFFE ID on its certificate, told to agents at enrolment. */
  readonly spiffeId: SpiffeId;
  readonly issuer: Ca;
  readonly registration: Registration;
  readonly federation: Federation;
  readonly audit: AgentDeps['audit'];
  readonly ownSvids: OwnSvidKeeperDeps;
  readonly teardown: StopOrder;
  readonly metrics: BrokerMetrics;
  readonly logger: Logger;
  readonly nowMs: Clock;
  /** Uniform [0, 1) source of the watch heartbeat jitter; default Math.random. */
  readonly random: (() => number) | undefined;
}

/** Serves the agent API; resolves with its listener and the URL agents are told. */
export async function startAgentApi(
  deps: AgentApiDeps,
): Promise<{ listener: AppListener; publicUrl: string }> {
  const { config } = deps;
  const refusals = createPeerRefusalGate({
    now: deps.nowMs,
    logger: deps.logger,
    listener: LISTENERS.agent.name,
  });
  // One check per connection, shared by the listener (after the handshake) and the app.
  const peerVerifier = caPeerVerifier({
    ca: deps.issuer,
    now: deps.nowMs,
    peerRefused: refusals.refused,
  });
  const app = createAgentApp({
    ca: deps.issuer,
    registration: deps.registration,
    federation: deps.federation,
    audit: deps.audit,
    logger: deps.logger,
    now: deps.nowMs,
    serverSpiffeId: () => deps.spiffeId.toString(),
    signal: deps.teardown.signal,
    peerVerifier,
    middleware: [requestMetrics(deps.metrics, 'agent')],
    watch: createWatchLimiter({
      maxStreamsPerAgent: config.watch.maxStreamsPerAgent,
      maxStreams: config.watch.maxStreams,
      heartbeatMs: config.watch.heartbeat * 1000,
      ...(deps.random === undefined ? {} : { random: deps.random }),
    }),
  });
  const listener = await serveApp(deps, {
    fetch: app.fetch,
    listen: config.listen,
    listener: LISTENERS.agent,
    tlsId: deps.spiffeId,
    limits: listenerLimitsFromConfig(config.limits),
    admits: refusals.admits,
    onHandshake: peerVerifier,
  });
  // Issue 18: agents are told the public URL (agentApi.url); the listener's address otherwise.
  return { listener, publicUrl: config.url ?? listener.url };
}
