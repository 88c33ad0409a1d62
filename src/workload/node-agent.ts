// The node agent's link to the broker (contract 17): enrols once with a node entry's join token
// (or resumes with the SVID kept in --data-dir), keeps its own X509-SVID renewed over mTLS, follows
// GET /v1/agent/node/watch, and asks the broker to sign workload CSRs and JWT-SVIDs.
import { createAgent, csrPem, newKeyAndCsr, type X509Source } from '../agent/index.js';
import { BundleSet, bundleContentEquals, parseStrictJson, type Bundle } from '../bundle/index.js';
import { AgentError, WorkloadError } from '../errors.js';
import { agentApiIdOf, type SpiffeId } from '../spiffeid/index.js';
import { verifyX509Svid } from '../svid/index.js';
import { createBrokerClient, type BrokerClient } from './broker-client.js';
import { loadNodeSvid, saveNodeSvid, type NodeSvid } from './node-store.js';
import { parseNodeState, type NodeState } from './node-state.js';
import { backoffMs, followNodeWatch } from './node-watch.js';
import type {
  IssuedJwt,
  IssuedX509,
  NodeSource,
  SignJwtRequest,
  SignX509Request,
} from './source.js';
import type { Logger } from '../log.js';

export { backoffMs } from './node-watch.js';

export type NodeAgentLogger = Pick<Logger, 'info' | 'warn'>;

export interface NodeAgentOptions {
  readonly brokerUrl: string;
  /** A node entry's join token; needed only when --data-dir holds no valid node SVID. */
  readonly joinToken?: string;
  readonly brokerBundle?: Uint8Array;
  readonly brokerBundleDigest?: string;
  readonly dataDir: string;
  readonly logger?: NodeAgentLogger;
  readonly now?: () => number;
  readonly requestTimeoutMs?: number;
}

export interface NodeAgent extends NodeSource {
  readonly spiffeId: SpiffeId;
  /** Resolves once the first node state arrived (or rejects on close). */
  ready(): Promise<void>;
  close(): Promise<void>;
}

function chainOf(value: unknown, what: string): Buffer[] {
  const chain = (value as { x509Svid?: { chain?: unknown } } | null)?.x509Svid?.chain;
  if (!Array.isArray(chain) || chain.length === 0 || !chain.every((c) => typeof c === 'string')) {
    throw new WorkloadError('ERR_WORKLOAD_STATE_INVALID', `malformed ${what} answer`);
  }
  return (chain as string[]).map((c) => Buffer.from(c, 'base64'));
}

/** The stored node SVID, or a new one from enrolment with the join token. */
async function enrolOrResume(options: NodeAgentOptions, nowMs: number): Promise<NodeSvid> {
  const stored = loadNodeSvid(options.dataDir, nowMs);
  if (stored !== undefined) {
    options.logger?.info('node agent resumed with its stored SVID', {
      spiffeId: stored.spiffeId.toString(),
    });
    return stored;
  }
  if (options.joinToken === undefined) {
    throw new WorkloadError(
      'ERR_WORKLOAD_NODE_SVID_MISSING',
      `no valid node SVID in "${options.dataDir}" and no join token given`,
    );
  }
  // The SDK's enrolment: bundle or digest pinning, key generated here, SVID verified.
  const agent = await createAgent({
    brokerUrl: options.brokerUrl,
    joinToken: options.joinToken,
    ...(options.brokerBundle === undefined ? {} : { brokerBundle: options.brokerBundle }),
    ...(options.brokerBundleDigest === undefined
      ? {}
      : { brokerBundleDigest: options.brokerBundleDigest }),
    watch: false,
    ...(options.requestTimeoutMs === undefined
      ? {}
      : { requestTimeoutMs: options.requestTimeoutMs }),
  });
  const svid = agent.x509Svid();
  const own = agent.bundles().get(agent.trustDomain) as Bundle;
  await agent.close();
  const node: NodeSvid = {
    spiffeId: svid.spiffeId,
    chainDer: [...svid.chainDer],
    privateKeyPem: svid.privateKeyPem,
    expiresAt: svid.expiresAt,
    bundle: own,
  };
  saveNodeSvid(options.dataDir, node);
  options.logger?.info('node agent enrolled', { spiffeId: node.spiffeId.toString() });
  return node;
}

/** Renews the node's own SVID at half its lifetime; failures retry with capped backoff. */
function keepRenewed(deps: {
  readonly client: BrokerClient;
  readonly now: () => number;
  get(): NodeSvid;
  set(next: NodeSvid): void;
  warn(message: string, fields?: Record<string, unknown>): void;
}): () => void {
  let timer: NodeJS.Timeout | undefined;
  let failures = 0;
  let stopped = false;
  async function renew(): Promise<void> {
    const current = deps.get();
    const { privateKey, csrDer } = newKeyAndCsr();
    const chainDer = chainOf(
      await deps.client.call('POST', '/v1/agent/x509svid', { csr: csrPem(csrDer) }),
      'renewal',
    );
    const verified = verifyX509Svid(chainDer, new BundleSet([current.bundle]), {
      now: new Date(deps.now()),
    });
    if (verified.spiffeId.toString() !== current.spiffeId.toString()) {
      throw new WorkloadError('ERR_WORKLOAD_STATE_INVALID', 'the broker renewed another SPIFFE ID');
    }
    deps.set({
      ...deps.get(),
      chainDer,
      privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
      expiresAt: verified.leaf.notAfter,
    });
  }
  function schedule(): void {
    if (stopped) return;
    const lifetime = deps.get().expiresAt.getTime() - deps.now();
    const delay =
      failures === 0
        ? Math.max(1000, Math.floor(lifetime / 2))
        : Math.max(1000, Math.min(backoffMs(failures), Math.floor(lifetime / 4)));
    timer = setTimeout(() => {
      renew()
        .then(() => {
          failures = 0;
        })
        .catch((error: unknown) => {
          failures += 1;
          deps.warn('node SVID renewal failed; retrying', {
            error: (error as Error).message,
            attempt: failures,
          });
        })
        .finally(schedule);
    }, delay);
    timer.unref();
  }
  schedule();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

/** Enrols (or resumes), then keeps the node's SVID and state current until close(). */
export async function createNodeAgent(options: NodeAgentOptions): Promise<NodeAgent> {
  const now = options.now ?? Date.now;
  const logger = options.logger;
  const url = new URL(options.brokerUrl);
  if (url.protocol !== 'https:') throw new TypeError('brokerUrl must be an https URL');
  let current = await enrolOrResume(options, now());
  const trustDomain = current.spiffeId.trustDomain;
  const source: X509Source = {
    x509Svid: () => current,
    bundles: () => new BundleSet([current.bundle]),
  };
  const client = createBrokerClient({
    url,
    source,
    brokerId: agentApiIdOf(trustDomain),
    timeoutMs: options.requestTimeoutMs ?? 10_000,
  });
  let closed = false;
  let state: NodeState | undefined;
  const listeners = new Set<() => void>();
  let markReady: () => void = () => undefined;
  let failReady: (error: Error) => void = () => undefined;
  const readyPromise = new Promise<void>((resolve, reject) => {
    markReady = resolve;
    failReady = reject;
  });
  readyPromise.catch(() => undefined);

  const stopRenewal = keepRenewed({
    client,
    now,
    get: () => current,
    set: (next) => {
      current = next;
      saveNodeSvid(options.dataDir, next);
      logger?.info('node SVID renewed', { expiresAt: next.expiresAt.toISOString() });
    },
    warn: (message, fields) => logger?.warn(message, fields),
  });

  // --- Node state ------------------------------------------------------------------------------
  function applyState(data: string): void {
    const next = parseNodeState(parseStrictJson(data), trustDomain);
    if ((next.skippedEntries ?? 0) > 0) {
      logger?.warn('node state: entries left out as malformed', { count: next.skippedEntries });
    }
    const own = next.bundles.get(trustDomain);
    state = next;
    if (own !== undefined) {
      const changed = !bundleContentEquals(own, current.bundle);
      current = { ...current, bundle: own };
      // The stored bundle authenticates the broker after a restart: keep it current.
      if (changed) saveNodeSvid(options.dataDir, current);
    }
    markReady();
    for (const listener of listeners) listener();
  }
  const stopWatch = followNodeWatch(client, applyState, (message, fields) =>
    logger?.warn(message, fields),
  );

  const instanceField = (instance: string | undefined): { instance?: string } =>
    instance === undefined ? {} : { instance };

  return {
    nodeId: current.spiffeId.toString(),
    spiffeId: current.spiffeId,
    trustDomain,
    state: () => state,
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    ready: () => readyPromise,
    async signX509(request: SignX509Request): Promise<IssuedX509> {
      const response = await client.call('POST', '/v1/agent/node/x509svid', {
        entryId: request.entryId,
        csr: request.csrDer.toString('base64'),
        ...instanceField(request.instance),
        workload: request.workload,
      });
      return { chainDer: chainOf(response, 'workload SVID') };
    },
    async signJwt(request: SignJwtRequest): Promise<IssuedJwt> {
      const response = (await client.call('POST', '/v1/agent/node/jwtsvid', {
        entryId: request.entryId,
        audience: request.audience,
        ...instanceField(request.instance),
        workload: request.workload,
      })) as { spiffeId?: unknown; token?: unknown; expiresAt?: unknown };
      const expiresAt = new Date(String(response.expiresAt));
      if (
        typeof response.token !== 'string' ||
        typeof response.spiffeId !== 'string' ||
        Number.isNaN(expiresAt.getTime())
      ) {
        throw new WorkloadError('ERR_WORKLOAD_STATE_INVALID', 'malformed JWT-SVID answer');
      }
      return { spiffeId: response.spiffeId, token: response.token, expiresAt };
    },
    async close() {
      if (closed) return;
      closed = true;
      stopRenewal();
      stopWatch();
      client.close();
      listeners.clear();
      failReady(new AgentError('ERR_AGENT_CLOSED', 'the node agent was closed'));
    },
  };
}
