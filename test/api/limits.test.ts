// Issue 15 findings 1, 6 and 7 against a real broker over real sockets on 127.0.0.1: request bodies
// counted while streaming (413), connection caps and timeouts per listener, watch-stream caps.
import { request as httpsRequest } from 'node:https';
import type { IncomingMessage } from 'node:http';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Broker } from '../../src/main.js';
import { silentLogger } from '../../src/log.js';
import { startBroker } from '../../src/main.js';
import { ADMIN_TOKEN, startTestBroker, testConfig } from '../helpers/broker.js';
import { anchorsOf, attest, type AgentTls, type IssuedSvid } from '../helpers/agent-api.js';

const MiB = 1024 * 1024;

interface Target {
  readonly host: string;
  readonly port: number;
  readonly tls: boolean;
}

function targetOf(url: string): Target {
  const parsed = new URL(url);
  return {
    host: parsed.hostname,
    port: Number(parsed.port),
    tls: parsed.protocol === 'https:',
  };
}

/** A raw socket to `target` from `localAddress` (plain TCP, or TLS without checking the server). */
function open(target: Target, localAddress = '127.0.0.1'): Socket {
  const options = { host: target.host, port: target.port, localAddress };
  return target.tls ? tlsConnect({ ...options, rejectUnauthorized: false }) : netConnect(options);
}

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

/** Resolves once the server has closed `socket` (or it was never accepted). */
function closedByServer(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve();
    socket.on('error', () => undefined);
    socket.once('close', () => resolve());
    // A paused socket never reads the server's FIN.
    socket.resume();
  });
}

/** Resolves once `socket` is connected (TCP; TLS sockets: TCP too, before any handshake). */
function connected(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    socket.on('error', () => undefined);
    if (socket.readyState === 'open') resolve();
    else socket.once('connect', () => resolve());
  });
}

function statusOf(head: string): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
}

async function bundleStatus(broker: Broker): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      broker.bundleEndpointUrl,
      { rejectUnauthorized: false, agent: false },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end();
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
      const url =
        listener === 'agent'
          ? broker.agentApiUrl
          : listener === 'admin'
            ? broker.adminUrl
            : broker.bundleEndpointUrl;
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

describe('issue 15 finding 6: connection caps and timeouts per listener', () => {
  let broker: Broker;
  const limits = {
    maxConnections: 24,
    maxConnectionsPerAddress: 4,
    handshakeTimeout: '1s',
    headersTimeout: '1s',
    requestTimeout: '2s',
    keepAliveTimeout: '1s',
    idleTimeout: '2s',
  };
  beforeAll(async () => {
    broker = await startTestBroker({
      trustDomain: 'conn-limits.test',
      extra: {
        bundleEndpoint: {
          listen: '127.0.0.1:0',
          profile: 'https_spiffe',
          refreshHint: '30s',
          limits,
        },
        agentApi: { listen: '127.0.0.1:0', limits, watch: { maxStreams: 8, heartbeat: '1s' } },
        adminApi: { listen: '127.0.0.1:0', limits },
      },
    });
  });
  afterAll(async () => {
    await broker?.stop();
  });

  it.each(['bundle', 'agent', 'admin'] as const)(
    '%s listener: idle sockets past the per-address cap are closed on accept; another address is served',
    async (listener) => {
      const url =
        listener === 'agent'
          ? broker.agentApiUrl
          : listener === 'admin'
            ? broker.adminUrl
            : broker.bundleEndpointUrl;
      const target = { ...targetOf(url), tls: false };
      const idle = Array.from({ length: 10 }, () => open(target, '127.0.0.2'));
      try {
        await Promise.all(idle.map((s) => connected(s)));
        // Six of the ten are past the cap of 4: the server closes them on accept (well before
        // the 2 s idle timeout, which would close all ten).
        for (const s of idle) s.resume();
        let open = idle.length;
        for (let i = 0; i < 100 && open > 4; i++) {
          await new Promise((resolve) => setTimeout(resolve, 10));
          open = idle.filter((s) => !s.destroyed).length;
        }
        expect(open).toBe(4);
        // The legitimate client (127.0.0.1) is still served.
        if (listener === 'bundle') expect(await bundleStatus(broker)).toBe(200);
        if (listener === 'admin')
          expect((await fetch(`${broker.adminUrl}/healthz`)).status).toBe(200);
        if (listener === 'agent') {
          const response = await new Promise<IncomingMessage>((resolve, reject) => {
            const req = httpsRequest(
              `${broker.agentApiUrl}/v1/agent/bundle`,
              { rejectUnauthorized: false, agent: false },
              resolve,
            );
            req.on('error', reject);
            req.end();
          });
          response.resume();
          expect(response.statusCode).toBe(200);
        }
      } finally {
        for (const s of idle) s.destroy();
      }
    },
  );

  it('sockets past maxConnections are closed on accept; the listener serves again once they go', async () => {
    const target = { ...targetOf(broker.bundleEndpointUrl), tls: false };
    // 7 addresses x 4 = 28 > 24: the last four are closed by the server.
    const sockets: Socket[] = [];
    for (let a = 10; a < 17; a++) {
      for (let i = 0; i < 4; i++) sockets.push(open(target, `127.0.0.${a}`));
      await Promise.all(sockets.map((s) => connected(s)));
    }
    try {
      await Promise.all(sockets.slice(24).map((s) => closedByServer(s)));
      expect(sockets.slice(0, 24).filter((s) => s.destroyed)).toHaveLength(0);
    } finally {
      for (const s of sockets) s.destroy();
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await bundleStatus(broker)).toBe(200);
  });

  // Node's default handshake timeout is 120 s: with it, these waits never end within the test timeout.
  it.each(['bundle', 'agent'] as const)(
    '%s listener: a silent pre-TLS socket is closed after the handshake timeout',
    async (listener) => {
      const url = listener === 'agent' ? broker.agentApiUrl : broker.bundleEndpointUrl;
      const socket = open({ ...targetOf(url), tls: false });
      await connected(socket);
      await closedByServer(socket);
      expect(socket.destroyed).toBe(true);
    },
    15_000,
  );

  it('admin listener (plain HTTP): a socket that never sends a request is closed after the idle timeout', async () => {
    const socket = open({ ...targetOf(broker.adminUrl), tls: false });
    await connected(socket);
    await closedByServer(socket);
    expect(socket.destroyed).toBe(true);
  }, 15_000);

  it('a TLS client that completes the handshake but sends nothing is closed after the idle timeout', async () => {
    const socket = open(targetOf(broker.bundleEndpointUrl));
    await new Promise<void>((resolve) => socket.once('secureConnect', () => resolve()));
    await closedByServer(socket);
    expect(socket.destroyed).toBe(true);
  }, 15_000);
});

describe('issue 15 finding 7: watch streams', () => {
  let broker: Broker;
  let tls: AgentTls;
  // The jitter source, injected: each stream's heartbeat wait draws from it (no sleeping).
  const draws: number[] = [];
  const sequence = [0.05, 0.5, 0.95];
  const random = (): number => {
    const value = sequence[draws.length % sequence.length] ?? 0.5;
    draws.push(value);
    return value;
  };
  beforeAll(async () => {
    const loaded = testConfig({
      trustDomain: 'watch-limits.test',
      extra: {
        agentApi: {
          listen: '127.0.0.1:0',
          watch: { maxStreamsPerAgent: 2, maxStreams: 5, heartbeat: '20s' },
        },
      },
    });
    broker = await startBroker(loaded, { logger: silentLogger, random });
    tls = {
      anchorsPem: anchorsOf(broker.ca.localBundle()),
      serverSpiffeId: broker.agentApiSpiffeId,
    };
  });
  afterAll(async () => {
    await broker?.stop();
  });

  async function enrolAgent(path: string): Promise<IssuedSvid> {
    const entry = await broker.registration.createEntry(
      { spiffeId: `spiffe://watch-limits.test/${path}` },
      'test',
    );
    const token = (await broker.registration.createToken(entry.id, { actor: 'test' })).token;
    return attest(broker.agentApiUrl, tls, token);
  }

  interface Watch {
    readonly status: number;
    readonly headers: IncomingMessage['headers'];
    readonly body: () => string;
    close(): void;
  }

  function watch(svid: IssuedSvid): Promise<Watch> {
    return new Promise((resolve, reject) => {
      const req = httpsRequest(
        `${broker.agentApiUrl}/v1/agent/bundles/watch`,
        {
          agent: false,
          ca: tls.anchorsPem,
          checkServerIdentity: () => undefined,
          cert: svid.certPem,
          key: svid.keyPem,
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (text += d));
          res.on('error', () => undefined);
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: () => text,
            close: () => req.destroy(),
          });
        },
      );
      req.on('error', reject);
      req.end();
    });
  }

  it('the (cap+1)-th stream of one agent gets 429 ERR_API_TOO_MANY_STREAMS with Retry-After; a closed one frees its place', async () => {
    const agent = await enrolAgent('agents/one');
    const first = await watch(agent);
    const second = await watch(agent);
    try {
      expect([first.status, second.status]).toEqual([200, 200]);
      const third = await watch(agent);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(third.status).toBe(429);
      expect(Number(third.headers['retry-after'])).toBeGreaterThan(0);
      expect(JSON.parse(third.body()).error.code).toBe('ERR_API_TOO_MANY_STREAMS');
      // Another agent is not held back by this one's cap.
      const other = await watch(await enrolAgent('agents/other'));
      expect(other.status).toBe(200);
      other.close();
      first.close();
      // The server sees the close and releases the place.
      let again: Watch | undefined;
      for (let i = 0; i < 50; i++) {
        again = await watch(agent);
        if (again.status === 200) break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(again?.status).toBe(200);
      again?.close();
    } finally {
      first.close();
      second.close();
    }
  });

  it('heartbeats are jittered per stream: each open stream draws its own wait (not one shared beat)', async () => {
    const agents = await Promise.all([1, 2, 3].map((i) => enrolAgent(`agents/beat-${i}`)));
    const before = draws.length;
    const streams = await Promise.all(agents.map((agent) => watch(agent)));
    try {
      // Each stream writes its first event, then draws its wait from the injected source.
      for (let i = 0; i < 100 && draws.length - before < 3; i++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      expect(streams.map((s) => s.status)).toEqual([200, 200, 200]);
      expect(draws.length - before).toBe(3);
      // 20 s mean heartbeat scaled by 0.5 + r: the three waits are 11 s, 20 s and 29 s.
      expect(new Set(draws.slice(before)).size).toBe(3);
    } finally {
      for (const s of streams) s.close();
    }
  });

  it('the global cap: past maxStreams every agent gets 429', async () => {
    const agents = await Promise.all([1, 2, 3].map((i) => enrolAgent(`agents/global-${i}`)));
    const streams: Watch[] = [];
    try {
      for (const agent of agents) {
        streams.push(await watch(agent), await watch(agent));
      }
      // 6 asked for, 5 allowed (earlier streams of the test above may still be closing: ≥ 1 refused).
      const statuses = streams.map((s) => s.status);
      expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(1);
      expect(statuses.filter((s) => s === 200).length).toBeLessThanOrEqual(5);
    } finally {
      for (const s of streams) s.close();
    }
  });
});
