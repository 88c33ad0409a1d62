// The node agent's requests to the broker's agent API: each on a fresh connection verified by the
// SDK's mTLS gate (our current SVID presented, only the broker's agent-API ID accepted, X509-28),
// bounded in size and time; error bodies become ERR_AGENT_BROKER_REFUSED with the broker's code.
import type { IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { authorizeId, tlsClientOptions, type X509Source } from '../agent/index.js';
import { parseStrictJson } from '../bundle/index.js';
import { AgentError, WorkloadError, isBrokerError } from '../errors.js';
import type { SpiffeId } from '../spiffeid/index.js';

export const MAX_RESPONSE_BYTES = 8 * 1024 * 1024;

export interface BrokerClient {
  /** A JSON request; resolves with the parsed 200 body. */
  call(method: string, path: string, body?: unknown): Promise<unknown>;
  /** A raw request (for event streams); `onError` gets every failure to connect. */
  open(
    path: string,
    onResponse: (response: IncomingMessage) => void,
    onError: (error: Error) => void,
  ): { destroy: (error?: Error) => void };
  close(): void;
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

function unreachable(error: Error): Error {
  if (isBrokerError(error)) return error;
  return new AgentError(
    'ERR_AGENT_BROKER_UNREACHABLE',
    `cannot reach the broker: ${error.message}`,
    {
      cause: error,
    },
  );
}

export function createBrokerClient(options: {
  readonly url: URL;
  readonly source: X509Source;
  readonly brokerId: SpiffeId;
  readonly timeoutMs: number;
}): BrokerClient {
  const controller = new AbortController();
  const { url, timeoutMs } = options;

  function request(
    method: string,
    path: string,
    body: unknown,
    accept: string,
    onResponse: (response: IncomingMessage) => void,
    onError: (error: Error) => void,
  ): { destroy: (error?: Error) => void } {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body), 'utf8');
    const req = httpsRequest(
      {
        ...tlsClientOptions(options.source, authorizeId(options.brokerId), { timeoutMs }),
        host: url.hostname.replace(/^\[|\]$/g, ''),
        port: Number(url.port === '' ? 443 : url.port),
        method,
        path,
        signal: controller.signal,
        headers: {
          accept,
          ...(payload === undefined
            ? {}
            : { 'content-type': 'application/json', 'content-length': payload.length }),
        },
      },
      onResponse,
    );
    req.on('error', (error) =>
      onError(
        controller.signal.aborted
          ? new AgentError('ERR_AGENT_CLOSED', 'closed')
          : unreachable(error),
      ),
    );
    req.end(payload);
    return req;
  }

  return {
    call(method, path, body) {
      if (controller.signal.aborted) {
        return Promise.reject(new AgentError('ERR_AGENT_CLOSED', 'the node agent was closed'));
      }
      return new Promise((resolve, reject) => {
        const req = request(
          method,
          path,
          body,
          'application/json',
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
              clearTimeout(timer);
              const text = Buffer.concat(chunks);
              if (response.statusCode !== 200) {
                reject(refused(path, response.statusCode ?? 0, text.toString('utf8')));
                return;
              }
              try {
                resolve(parseStrictJson(text));
              } catch (cause) {
                reject(
                  new WorkloadError('ERR_WORKLOAD_STATE_INVALID', `malformed answer from ${path}`, {
                    cause,
                  }),
                );
              }
            });
          },
          reject,
        );
        const timer = setTimeout(
          () => req.destroy(new Error('broker request timed out')),
          timeoutMs,
        );
        timer.unref();
      });
    },
    open(path, onResponse, onError) {
      return request('GET', path, undefined, 'text/event-stream', onResponse, onError);
    },
    close() {
      controller.abort();
    },
  };
}
