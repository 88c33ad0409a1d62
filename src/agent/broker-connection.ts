// The agent's HTTPS connection to the broker's agent API: bounded requests, the mTLS agent that
// presents the current SVID and accepts only the broker (its SPIFFE ID, our trust domain's bundle
// only), and the classification of failures into the agent's error codes.
import type { ClientRequest, IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { PeerCertificate } from 'node:tls';
import { BundleSet, marshalPem, parseStrictJson, type Bundle } from '../bundle/index.js';
import type { Clock } from '../clock.js';
import { AgentError, isBrokerError } from '../errors.js';
import type { SpiffeId } from '../spiffeid/index.js';
import { chainFromPeerCertificate, classifyTlsFailure } from '../svid/index.js';
import { authorizeId } from './authorize.js';
import { authenticatePeer } from './verify-peer.js';
import type { X509SvidWithKey } from './x509-source.js';

/** Bound on any broker response body, and on the watch stream's unparsed buffer. */
export const MAX_RESPONSE_BYTES = 8 * 1024 * 1024;

export interface BrokerResponse {
  readonly status: number;
  readonly body: Buffer;
}

/** Who the broker is, once known: its agent API ID and our trust domain's current bundle. */
export interface BrokerIdentity {
  readonly brokerId: SpiffeId;
  readonly ownBundle: () => Bundle;
}

export function untrusted(message: string, cause?: unknown): AgentError {
  return new AgentError(
    'ERR_AGENT_BROKER_UNTRUSTED',
    message,
    cause === undefined ? {} : { cause },
  );
}

export function unreachable(message: string, cause?: unknown): AgentError {
  return new AgentError(
    'ERR_AGENT_BROKER_UNREACHABLE',
    message,
    cause === undefined ? {} : { cause },
  );
}

export function tooLarge(): AgentError {
  return new AgentError(
    'ERR_AGENT_RESPONSE_TOO_LARGE',
    `broker response larger than ${MAX_RESPONSE_BYTES} bytes`,
  );
}

function closedError(): AgentError {
  return new AgentError('ERR_AGENT_CLOSED', 'the agent was closed');
}

/** A broker error body becomes ERR_AGENT_BROKER_REFUSED carrying the broker's own code. */
function refused(path: string, response: BrokerResponse): AgentError {
  const text = response.body.toString('utf8');
  let code = `HTTP ${response.status}`;
  let message = text.slice(0, 300);
  try {
    const parsed = JSON.parse(text) as { error?: { code?: string; message?: string } };
    code = parsed.error?.code ?? code;
    message = parsed.error?.message ?? message;
  } catch {
    // not JSON
  }
  return new AgentError('ERR_AGENT_BROKER_REFUSED', `broker refused ${path}: ${code}: ${message}`, {
    context: { brokerCode: code, status: response.status },
  });
}

export class BrokerConnection {
  readonly host: string;
  readonly port: number;
  private closedFlag = false;
  private readonly controller = new AbortController();
  private identity: BrokerIdentity | undefined;
  private svid: X509SvidWithKey | undefined;
  private mtls: HttpsAgent | undefined;

  constructor(
    readonly url: URL,
    private readonly timeoutMs: number,
    private readonly now: Clock,
  ) {
    this.host = url.hostname.replace(/^\[|\]$/g, '');
    this.port = Number(url.port === '' ? 443 : url.port);
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  /** From now on the mTLS agent accepts only `identity.brokerId` under our bundle (X509-28). */
  trustBroker(identity: BrokerIdentity): void {
    this.identity = identity;
  }

  /** Presents `svid` on new connections; connections made with the previous one are closed. */
  presentSvid(svid: X509SvidWithKey): void {
    this.svid = svid;
    const old = this.mtls;
    this.mtls = this.newMtlsAgent();
    old?.destroy();
  }

  /** A JSON call over mTLS; a broker error body becomes ERR_AGENT_BROKER_REFUSED. */
  async call(method: string, path: string, body?: unknown): Promise<unknown> {
    if (this.closedFlag) throw closedError();
    const response = await this.send(this.mtlsAgent(), method, path, body);
    if (response.status !== 200) throw refused(path, response);
    return parseStrictJson(response.body);
  }

  /** Opens a long-lived GET over mTLS (the watch stream); the caller owns the request. */
  stream(
    path: string,
    signal: AbortSignal,
    onResponse: (response: IncomingMessage) => void,
  ): ClientRequest {
    const request = httpsRequest(
      {
        host: this.host,
        port: this.port,
        method: 'GET',
        path,
        agent: this.mtlsAgent(),
        signal,
        headers: { accept: 'text/event-stream' },
      },
      onResponse,
    );
    request.end();
    return request;
  }

  /** One request with `agent`; the body is read up to MAX_RESPONSE_BYTES within the timeout. */
  send(agent: HttpsAgent, method: string, path: string, body?: unknown): Promise<BrokerResponse> {
    return new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body), 'utf8');
      const request = httpsRequest(
        {
          host: this.host,
          port: this.port,
          method,
          path,
          agent,
          signal: this.controller.signal,
          headers: {
            accept: 'application/json',
            ...(payload === undefined
              ? {}
              : { 'content-type': 'application/json', 'content-length': payload.length }),
          },
        },
        (response) => this.readBody(response, resolve, reject),
      );
      request.setTimeout(this.timeoutMs, () =>
        request.destroy(
          new AgentError(
            'ERR_AGENT_BROKER_TIMEOUT',
            `no answer from the broker at ${this.url.origin} within ${this.timeoutMs} ms`,
          ),
        ),
      );
      request.on('error', (error) => reject(this.requestError(error)));
      request.end(payload);
    });
  }

  close(): void {
    this.closedFlag = true;
    this.controller.abort();
    this.mtls?.destroy();
  }

  private readBody(
    response: IncomingMessage,
    resolve: (response: BrokerResponse) => void,
    reject: (error: Error) => void,
  ): void {
    const chunks: Buffer[] = [];
    let size = 0;
    response.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_RESPONSE_BYTES) {
        response.destroy(tooLarge());
        return;
      }
      chunks.push(chunk);
    });
    response.on('end', () =>
      resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks) }),
    );
    response.on('error', (error) => reject(this.responseError(error)));
    // A connection closed before the whole body arrived ('end' never comes).
    response.on('close', () => {
      if (!response.complete) {
        reject(unreachable('the broker closed the connection mid-response'));
      }
    });
  }

  private mtlsAgent(): HttpsAgent {
    this.mtls ??= this.newMtlsAgent();
    return this.mtls;
  }

  private newMtlsAgent(): HttpsAgent {
    const svid = this.svid;
    return new HttpsAgent({
      keepAlive: true,
      maxCachedSessions: 0,
      ...this.brokerTls(),
      ...(svid === undefined ? {} : { cert: marshalPem(svid.chainDer), key: svid.privateKeyPem }),
    });
  }

  /** TLS options that accept only the broker: chain to our bundle, then exactly its SPIFFE ID. */
  private brokerTls(): Record<string, unknown> {
    const identity = this.identity;
    if (identity === undefined) throw new TypeError('trustBroker() before the first mTLS call');
    const anchors = identity.ownBundle().x509Authorities;
    return {
      ca: marshalPem(anchors.map((a) => a.der)),
      rejectUnauthorized: true,
      servername: /^[\d.:]+$/.test(this.host) ? undefined : this.host,
      // Replaces the host-name check: the broker is identified by its SPIFFE ID (X509-28).
      checkServerIdentity: (_host: string, cert: PeerCertificate): Error | undefined => {
        try {
          authenticatePeer(
            chainFromPeerCertificate(cert, anchors),
            new BundleSet([identity.ownBundle()]),
            authorizeId(identity.brokerId),
            this.now(),
          );
          return undefined;
        } catch (error) {
          return untrusted(`the agent API is not ${identity.brokerId.toString()}`, error);
        }
      },
    };
  }

  /** A failed response body: our own checks keep their code; anything else is unreachable. */
  private responseError(error: unknown): Error {
    if (isBrokerError(error)) return error;
    if (this.closedFlag) return closedError();
    return unreachable('broker response failed', error);
  }

  /** Classifies a failed request: our own checks keep their code; a failed chain is untrusted. */
  private requestError(error: Error & { code?: unknown }): Error {
    if (isBrokerError(error)) return error;
    if (this.closedFlag) return closedError();
    if (classifyTlsFailure(error) === 'certificate') {
      return untrusted(
        `the agent API at ${this.url.origin} did not present a chain to the broker bundle (${String(error.code)})`,
        error,
      );
    }
    return unreachable(`cannot reach the broker at ${this.url.origin}: ${error.message}`, error);
  }
}
