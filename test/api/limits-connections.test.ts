// Issue 15 finding 6 against a real broker over real sockets on 127.0.0.1: connection caps per address
// and per listener (closed on accept, served again once they go), and handshake and idle timeouts on
// the bundle, agent and admin listeners.
import { request as httpsRequest } from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Broker } from '../../src/main.js';
import { startTestBroker } from '../helpers/broker.js';
import { closedByServer, connected, listenerUrl, open, targetOf } from './limits-fixture.js';

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
      const url = listenerUrl(broker, listener);
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
