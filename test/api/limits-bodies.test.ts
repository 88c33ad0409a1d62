// Issue 15 finding 1 against a real broker over real sockets on 127.0.0.1: request bodies are counted
// while they stream in (413 early, connection closed) on every listener, memory stays bounded under
// parallel uploads, and a body within the limit still reaches its handler.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Broker } from '../../src/main.js';
import { ADMIN_TOKEN, startTestBroker } from '../helpers/broker.js';
import {
  closedByServer,
  listenerUrl,
  open,
  statusOf,
  targetOf,
  type Target,
} from './limits-fixture.js';

const MiB = 1024 * 1024;

interface UploadResult {
  /** Body bytes the server let us write before it answered and closed the connection. */
  readonly bodyBytesWritten: number;
  readonly head: string;
  readonly closedByServer: boolean;
}

/**
 * Sends a chunked body of up to `totalBytes` (64 KiB chunks, with backpressure, one shared buffer
 * so the client's own memory stays flat); stops when the server closes the connection.
 */
function chunkedUpload(
  target: Target,
  path: string,
  totalBytes: number,
  headers: Record<string, string> = {},
): Promise<UploadResult> {
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  const framed = Buffer.concat([
    Buffer.from(`${chunk.length.toString(16)}\r\n`),
    chunk,
    Buffer.from('\r\n'),
  ]);
  return new Promise((resolve) => {
    const socket = open(target);
    let written = 0;
    let received = '';
    let closed = false;
    socket.setEncoding('latin1');
    socket.on('data', (data: string) => {
      received += data;
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      closed = true;
      resolve({
        bodyBytesWritten: written,
        head: received.split('\r\n\r\n')[0] ?? '',
        closedByServer: written < totalBytes,
      });
    });
    const pump = (): void => {
      while (!closed && written < totalBytes) {
        written += chunk.length;
        if (!socket.write(framed)) {
          socket.once('drain', pump);
          return;
        }
      }
      if (!closed && written >= totalBytes) socket.end('0\r\n\r\n');
    };
    const start = (): void => {
      const head = [
        `POST ${path} HTTP/1.1`,
        `host: ${target.host}`,
        'content-type: application/json',
        'transfer-encoding: chunked',
        ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
        '',
        '',
      ].join('\r\n');
      socket.write(head);
      pump();
    };
    socket.once(target.tls ? 'secureConnect' : 'connect', start);
  });
}

describe('issue 15 finding 1: request bodies are counted while they stream in', () => {
  let broker: Broker;
  beforeAll(async () => {
    broker = await startTestBroker({ trustDomain: 'body-limits.test' });
  });
  afterAll(async () => {
    await broker?.stop();
  });

  // The old code read a chunked body whole (content-length was the only check), then answered 400.
  it.each([
    ['agent API, unauthenticated POST /v1/agent/attest', 'agent', '/v1/agent/attest', {}],
    ['agent API, mTLS route without a certificate', 'agent', '/v1/agent/x509svid', {}],
    [
      'admin API, wrong token',
      'admin',
      '/v1/admin/relationships',
      { authorization: 'Bearer nope-nope-nope-nope' },
    ],
    [
      'admin API, the admin token',
      'admin',
      '/v1/admin/relationships',
      { authorization: `Bearer ${ADMIN_TOKEN}` },
    ],
    ['bundle endpoint (takes no body)', 'bundle', '/', {}],
  ] as const)(
    '%s: a chunked 128 MiB body gets 413 ERR_API_BODY_TOO_LARGE early and the connection closed',
    async (_name, listener, path, headers) => {
      const url = listenerUrl(broker, listener);
      const result = await chunkedUpload(targetOf(url), path, 128 * MiB, headers);
      expect(statusOf(result.head)).toBe(413);
      expect(result.closedByServer).toBe(true);
      // Limit (≤ 2 MiB) plus what the socket buffers held when the server stopped reading.
      expect(result.bodyBytesWritten).toBeLessThan(24 * MiB);
    },
  );

  it('the 413 body carries the code; a declared content-length over the limit is refused unread', async () => {
    const target = targetOf(broker.agentApiUrl);
    const socket = open(target);
    await new Promise<void>((resolve) => socket.once('secureConnect', () => resolve()));
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (text += d));
    socket.write(
      `POST /v1/agent/attest HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${128 * MiB}\r\n\r\n`,
    );
    await closedByServer(socket);
    expect(statusOf(text)).toBe(413);
    expect(text.toLowerCase()).toContain('connection: close');
    const body = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as {
      error: { code: string };
    };
    expect(body.error.code).toBe('ERR_API_BODY_TOO_LARGE');
  });

  it('64 MiB of parallel chunked uploads leave the broker RSS bounded (counted in bytes, not time)', async () => {
    const before = process.memoryUsage().rss;
    let peak = before;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 20);
    try {
      const results = await Promise.all(
        Array.from({ length: 8 }, () =>
          chunkedUpload(targetOf(broker.agentApiUrl), '/v1/agent/attest', 128 * MiB),
        ),
      );
      for (const result of results) expect(statusOf(result.head)).toBe(413);
      const written = results.reduce((sum, r) => sum + r.bodyBytesWritten, 0);
      expect(written).toBeLessThan(8 * 24 * MiB);
    } finally {
      clearInterval(sampler);
    }
    // Eight 128 MiB bodies buffered whole (the old behaviour) grow RSS by more than 1 GiB.
    expect(peak - before).toBeLessThan(128 * MiB);
  });

  it('a body within the limit still reaches the handler (400 ERR_API_VALIDATION, not 413)', async () => {
    const response = await fetch(`${broker.adminUrl}/v1/admin/relationships`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ trustDomain: 'x'.repeat(1000) }),
    });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe(
      'ERR_API_VALIDATION',
    );
  });
});
