// The node agent's link to the broker (contract 17): enrols once with a node entry's join token
// (or resumes with the SVID kept in --data-dir), keeps its own X509-SVID renewed over mTLS, follows
// GET /v1/agent/node/watch, and asks the broker to sign workload CSRs and JWT-SVIDs.
import { request as httpsRequest } from 'node:https';
import type { IncomingMessage } from 'node:http';
import {
  authorizeId,
  createAgent,
  csrPem,
  newKeyAndCsr,
  tlsClientOptions,
  type X509Source,
} from '../agent/index.js';
import { BundleSet, parseStrictJson, type Bundle } from '../bundle/index.js';
import { AgentError, WorkloadError, isBrokerError } from '../errors.js';
import { spiffeIdFromSegments, type SpiffeId, type TrustDomain } from '../spiffeid/index.js';
import { verifyX509Svid } from '../svid/index.js';
import { loadNodeSvid, saveNodeSvid, type NodeSvid } from './node-store.js';
import { parseNodeState, type NodeState } from './node-state.js';
import type {
  IssuedJwt,
  IssuedX509,
  NodeSource,
  SignJwtRequest,
  SignX509Request,
} from './source.js';

export interface NodeAgentLogger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
}

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

const MAX_RESPONSE_BYTES = 8 * 1024 * 1024;
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 30_000;
const WATCH_IDLE_MS = 60_000;

/** Capped, jittered exponential backoff (half fixed, half random). */
export function backoffMs(attempt: number): number {
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** Math.min(attempt, 16));
  return Math.round(base / 2 + (Math.random() * base) / 2);
}

function refused(path: string, status: number, text: string): AgentError {
  let code = `HTTP ${status}`;
  let message = text.slice(0, 300);
  try {
    const parsed = JSON.parse(text) as { error?: { code?: string; message?: string } };
    code = parsed.error?.code ?? code;
    message = parsed.error?.message ?? message;
  } catch {
    // not JSON
  }
  return new AgentError('ERR_AGENT_BROKER_REFUSED', `broker refused ${path}: ${code}: ${message}`, {
    context: { brokerCode: code, status },
  });
}

/** Enrols (or resumes), then keeps the node's SVID and state current until close(). */
export async function createNodeAgent(options: NodeAgentOptions): Promise<NodeAgent> {
  const now = options.now ?? Date.now;
  const logger = options.logger;
  const url = new URL(options.brokerUrl);
  if (url.protocol !== 'https:') throw new TypeError('brokerUrl must be an https URL');
  const timeoutMs = options.requestTimeoutMs ?? 10_000;

  let node: NodeSvid | undefined = loadNodeSvid(options.dataDir, now());
  if (node !== undefined) {
    logger?.info('node agent resumed with its stored SVID', { spiffeId: node.spiffeId.toString() });
  } else {
    if (options.joinToken === undefined) {
      throw new WorkloadError(
        'ERR_WORKLOAD_NODE_SVID_MISSING',
        `no valid node SVID in "${options.dataDir}" and no join token given`,
      );
    }
    const agent = await createAgent({
      brokerUrl: options.brokerUrl,
      joinToken: options.joinToken,
      ...(options.brokerBundle === undefined ? {} : { brokerBundle: options.brokerBundle }),
      ...(options.brokerBundleDigest === undefined
        ? {}
        : { brokerBundleDigest: options.brokerBundleDigest }),
      watch: false,
      requestTimeoutMs: timeoutMs,
    });
    const svid = agent.x509Svid();
    const own = agent.bundles().get(agent.trustDomain) as Bundle;
    await agent.close();
    node = {
      spiffeId: svid.spiffeId,
      chainDer: [...svid.chainDer],
      privateKeyPem: svid.privateKeyPem,
      expiresAt: svid.expiresAt,
      bundle: own,
    };
    saveNodeSvid(options.dataDir, node);
    logger?.info('node agent enrolled', { spiffeId: node.spiffeId.toString() });
  }
  let current: NodeSvid = node;
  const trustDomain: TrustDomain = current.spiffeId.trustDomain;
  const brokerId = spiffeIdFromSegments(trustDomain, 'fedbroker', 'agent-api');
  const source: X509Source = {
    x509Svid: () => current,
    bundles: () => new BundleSet([current.bundle]),
  };
  const controller = new AbortController();
  let closed = false;
  let state: NodeState | undefined;
  const listeners = new Set<() => void>();
  let readyResolve: () => void = () => undefined;
  let readyReject: (error: Error) => void = () => undefined;
  const readyPromise = new Promise<void>((resolve, reject) => {
    readyResolve = resolve;
    readyReject = reject;
  });
  readyPromise.catch(() => undefined);

  function open(
    method: string,
    path: string,
    body: unknown,
    onResponse: (response: IncomingMessage) => void,
    onError: (error: Error) => void,
    signal: AbortSignal,
  ): { destroy: (error?: Error) => void } {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body), 'utf8');
    // A fresh verified connection each time: the gate presents our current SVID and accepts only
    // the broker's agent API (X509-28), so a renewed SVID applies to the next request.
    const request = httpsRequest(
      {
        ...tlsClientOptions(source, authorizeId(brokerId), { timeoutMs }),
        host: url.hostname.replace(/^\[|\]$/g, ''),
        port: Number(url.port === '' ? 443 : url.port),
        method,
        path,
        signal,
        headers: {
          accept:
            body === undefined && path.endsWith('/watch')
              ? 'text/event-stream'
              : 'application/json',
          ...(payload === undefined
            ? {}
            : { 'content-type': 'application/json', 'content-length': payload.length }),
        },
      },
      onResponse,
    );
    request.on('error', (error) =>
      onError(closed ? new AgentError('ERR_AGENT_CLOSED', 'closed') : error),
    );
    request.end(payload);
    return request;
  }

  function call(method: string, path: string, body?: unknown): Promise<unknown> {
    if (closed)
      return Promise.reject(new AgentError('ERR_AGENT_CLOSED', 'the node agent was closed'));
    return new Promise((resolve, reject) => {
      const request = open(
        method,
        path,
        body,
        (response) => {
          const chunks: Buffer[] = [];
          let size = 0;
          response.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_RESPONSE_BYTES) response.destroy(new Error('response too large'));
            else chunks.push(chunk);
          });
          response.on('error', (error) => reject(unreachable(error)));
          response.on('end', () => {
            const text = Buffer.concat(chunks);
            if (response.statusCode !== 200) {
              reject(refused(path, response.statusCode ?? 0, text.toString('utf8')));
              return;
            }
            try {
              resolve(parseStrictJson(text));
            } catch (error) {
              reject(
                new WorkloadError('ERR_WORKLOAD_STATE_INVALID', `malformed answer from ${path}`, {
                  cause: error,
                }),
              );
            }
          });
        },
        (error) => reject(unreachable(error)),
        controller.signal,
      );
      const timer = setTimeout(
        () => request.destroy(new Error('broker request timed out')),
        timeoutMs,
      );
      timer.unref();
      controller.signal.addEventListener('abort', () => clearTimeout(timer), { once: true });
    });
  }

  function unreachable(error: Error): Error {
    if (isBrokerError(error)) return error;
    return new AgentError(
      'ERR_AGENT_BROKER_UNREACHABLE',
      `cannot reach the broker: ${error.message}`,
      { cause: error },
    );
  }

  // --- Own SVID renewal ---------------------------------------------------------------------------
  let renewTimer: NodeJS.Timeout | undefined;
  let renewFailures = 0;
  async function renew(): Promise<void> {
    const { privateKey, csrDer } = newKeyAndCsr();
    const response = (await call('POST', '/v1/agent/x509svid', { csr: csrPem(csrDer) })) as {
      x509Svid?: { chain?: unknown };
    };
    const chain = response.x509Svid?.chain;
    if (!Array.isArray(chain) || chain.length === 0 || !chain.every((c) => typeof c === 'string')) {
      throw new WorkloadError('ERR_WORKLOAD_STATE_INVALID', 'malformed renewal answer');
    }
    const chainDer = (chain as string[]).map((c) => Buffer.from(c, 'base64'));
    const verified = verifyX509Svid(chainDer, new BundleSet([current.bundle]), {
      now: new Date(now()),
    });
    if (verified.spiffeId.toString() !== current.spiffeId.toString()) {
      throw new WorkloadError('ERR_WORKLOAD_STATE_INVALID', 'the broker renewed another SPIFFE ID');
    }
    current = {
      ...current,
      chainDer,
      privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
      expiresAt: verified.leaf.notAfter,
    };
    saveNodeSvid(options.dataDir, current);
    logger?.info('node SVID renewed', { expiresAt: current.expiresAt.toISOString() });
  }
  function scheduleRenewal(): void {
    if (closed) return;
    const lifetime = current.expiresAt.getTime() - now();
    const delay =
      renewFailures === 0
        ? Math.max(1000, Math.floor(lifetime / 2))
        : Math.max(1000, Math.min(backoffMs(renewFailures), Math.floor(lifetime / 4)));
    renewTimer = setTimeout(() => {
      renew()
        .then(() => {
          renewFailures = 0;
        })
        .catch((error: unknown) => {
          renewFailures += 1;
          logger?.warn('node SVID renewal failed; retrying', {
            error: (error as Error).message,
            attempt: renewFailures,
          });
        })
        .finally(scheduleRenewal);
    }, delay);
    renewTimer.unref();
  }
  scheduleRenewal();

  // --- Node state watch ---------------------------------------------------------------------------
  let watchAttempt = 0;
  let watchTimer: NodeJS.Timeout | undefined;
  function applyState(data: string): void {
    const next = parseNodeState(parseStrictJson(data), trustDomain);
    if ((next.skippedEntries ?? 0) > 0) {
      logger?.warn('node state: entries left out as malformed', { count: next.skippedEntries });
    }
    const own = next.bundles.get(trustDomain);
    state = next;
    if (
      own !== undefined &&
      !own.x509Authorities.every((a, i) => current.bundle.x509Authorities[i]?.der.equals(a.der))
    ) {
      current = { ...current, bundle: own };
      saveNodeSvid(options.dataDir, current);
    } else if (own !== undefined) {
      current = { ...current, bundle: own };
    }
    watchAttempt = 0;
    readyResolve();
    for (const listener of listeners) listener();
  }

  function startWatch(): void {
    if (closed) return;
    let buffer = '';
    let finished = false;
    let idle: NodeJS.Timeout | undefined;
    const done = (reason: string): void => {
      if (finished) return;
      finished = true;
      clearTimeout(idle);
      if (closed) return;
      watchAttempt += 1;
      const delay = backoffMs(watchAttempt);
      logger?.warn('node watch ended; reconnecting', { reason, inMs: delay });
      watchTimer = setTimeout(startWatch, delay);
      watchTimer.unref();
    };
    const request = open(
      'GET',
      '/v1/agent/node/watch',
      undefined,
      (response) => {
        if (response.statusCode !== 200) {
          response.resume();
          done(`HTTP ${response.statusCode}`);
          return;
        }
        const bump = (): void => {
          clearTimeout(idle);
          idle = setTimeout(() => request.destroy(new Error('watch idle')), WATCH_IDLE_MS);
          idle.unref();
        };
        bump();
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          bump();
          buffer += chunk;
          if (buffer.length > MAX_RESPONSE_BYTES) {
            request.destroy(new Error('watch event too large'));
            return;
          }
          let end: number;
          while ((end = buffer.search(/\r?\n\r?\n/)) !== -1) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, '');
            handleEvent(block);
          }
        });
        response.on('end', () => done('stream closed'));
        response.on('error', () => done('stream failed'));
      },
      (error) => done(error.message),
      controller.signal,
    );
  }

  function handleEvent(block: string): void {
    let event = 'message';
    const data: string[] = [];
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon === -1 ? line : line.slice(0, colon);
      const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
    }
    if (event !== 'state') return;
    try {
      applyState(data.join('\n'));
    } catch (error) {
      logger?.warn('ignoring a malformed node state', { error: (error as Error).message });
    }
  }
  startWatch();

  function instanceField(instance: string | undefined): { instance?: string } {
    return instance === undefined ? {} : { instance };
  }

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
      const response = (await call('POST', '/v1/agent/node/x509svid', {
        entryId: request.entryId,
        csr: request.csrDer.toString('base64'),
        ...instanceField(request.instance),
        workload: request.workload,
      })) as { x509Svid?: { chain?: unknown } };
      const chain = response.x509Svid?.chain;
      if (
        !Array.isArray(chain) ||
        chain.length === 0 ||
        !chain.every((c) => typeof c === 'string')
      ) {
        throw new WorkloadError('ERR_WORKLOAD_STATE_INVALID', 'malformed workload SVID answer');
      }
      return { chainDer: (chain as string[]).map((c) => Buffer.from(c, 'base64')) };
    },
    async signJwt(request: SignJwtRequest): Promise<IssuedJwt> {
      const response = (await call('POST', '/v1/agent/node/jwtsvid', {
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
      clearTimeout(renewTimer);
      clearTimeout(watchTimer);
      controller.abort();
      listeners.clear();
      readyReject(new AgentError('ERR_AGENT_CLOSED', 'the node agent was closed'));
    },
  };
}
