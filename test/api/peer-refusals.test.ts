// Refused client certificates are counted per source address as they are refused: past
// REFUSED_PEERS_PER_ADDRESS in a window, the agent API closes that address's new connections on
// accept, before any TLS work (OpenSSL's path building over a stranger's chain runs in the
// handshake, on the main thread); other addresses are still served, and the address is served again
// once its window ends. A real broker, real TLS from 127.0.0.x source addresses.
import { connect, type ConnectionOptions } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REFUSED_PEERS_PER_ADDRESS, REFUSED_PEERS_WINDOW_MS } from '../../src/api/peer-refusals.js';
import { Hono } from 'hono';
import { listenApp, LISTENERS } from '../../src/api/listeners.js';
import { DEFAULT_LISTENER_LIMITS } from '../../src/api/listener-limits.js';
import type { Broker } from '../../src/main.js';
import { startTestBroker } from '../helpers/broker.js';
import { testClock } from '../helpers/clock.js';
import { createCa, createLeaf, type TestCert } from '../helpers/pki.js';

/** One request on a new connection from `localAddress`: its status, or 'closed' before any TLS. */
function oneRequest(
  url: string,
  localAddress: string,
  path: string,
  client?: TestCert,
): Promise<number | 'closed'> {
  const target = new URL(url);
  return new Promise((resolve) => {
    const options: ConnectionOptions & { localAddress: string } = {
      host: target.hostname,
      port: Number(target.port),
      localAddress,
      rejectUnauthorized: false,
      ...(client === undefined
        ? {}
        : {
            cert: client.pem,
            key: client.nodePrivateKey().export({ format: 'pem', type: 'pkcs8' }),
          }),
    };
    // node:tls passes localAddress on to the TCP connection.
    const socket = connect(options);
    let secured = false;
    let received = '';
    const timer = setTimeout(() => socket.destroy(), 10_000);
    socket.setEncoding('latin1');
    socket.on('error', () => undefined);
    socket.on('data', (data: string) => (received += data));
    socket.once('secureConnect', () => {
      secured = true;
      socket.write(`GET ${path} HTTP/1.1\r\nhost: ${target.hostname}\r\nconnection: close\r\n\r\n`);
    });
    socket.once('close', () => {
      clearTimeout(timer);
      const status = /^HTTP\/1\.1 (\d{3})/.exec(received)?.[1];
      resolve(status !== undefined ? Number(status) : secured ? 0 : 'closed');
    });
  });
}

/**
 * A handshake with `client`'s certificate and no request: resolves true once it is done, false if
 * the connection was closed first. TLS 1.2, where the server finishes last: when the client sees
 * the handshake done, the server has run its handshake callback.
 */
function handshakeOnly(url: string, localAddress: string, client: TestCert): Promise<boolean> {
  const target = new URL(url);
  const options: ConnectionOptions & { localAddress: string } = {
    host: target.hostname,
    port: Number(target.port),
    localAddress,
    rejectUnauthorized: false,
    maxVersion: 'TLSv1.2',
    cert: client.pem,
    key: client.nodePrivateKey().export({ format: 'pem', type: 'pkcs8' }),
  };
  return new Promise((resolve) => {
    const socket = connect(options);
    const timer = setTimeout(() => socket.destroy(), 10_000);
    socket.on('error', () => undefined);
    socket.once('secureConnect', () => {
      resolve(true);
      socket.destroy();
    });
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
}

describe('refused client certificates close their address on accept (agent API)', () => {
  const clock = testClock(Date.now(), { followWallClock: true });
  let broker: Broker;
  let stranger: TestCert;

  beforeAll(async () => {
    broker = await startTestBroker({ trustDomain: 'refusals.test', now: clock.nowMs });
    const theirs = await createCa({ trustDomain: 'test.example' });
    stranger = await createLeaf(theirs, { spiffeIds: ['spiffe://test.example/agent'] });
  });
  afterAll(() => broker?.stop());

  it(`answers ${REFUSED_PEERS_PER_ADDRESS} refusals, then closes that address only until the window ends`, async () => {
    const url = broker.agentApiUrl;
    for (let i = 0; i < REFUSED_PEERS_PER_ADDRESS; i++) {
      expect(await oneRequest(url, '127.0.0.21', '/v1/agent/bundles', stranger)).toBe(401);
    }
    // Closed on accept, with or without a certificate, on any path.
    expect(await oneRequest(url, '127.0.0.21', '/v1/agent/bundles', stranger)).toBe('closed');
    expect(await oneRequest(url, '127.0.0.21', '/v1/agent/bundle')).toBe('closed');
    // Another address is served as before.
    expect(await oneRequest(url, '127.0.0.22', '/v1/agent/bundle')).toBe(200);
    expect(await oneRequest(url, '127.0.0.22', '/v1/agent/bundles', stranger)).toBe(401);
    // Connections without a certificate never count.
    for (let i = 0; i < REFUSED_PEERS_PER_ADDRESS + 5; i++) {
      expect(await oneRequest(url, '127.0.0.23', '/v1/agent/bundles')).toBe(401);
    }
    clock.advanceMs(REFUSED_PEERS_WINDOW_MS + 1000);
    expect(await oneRequest(url, '127.0.0.21', '/v1/agent/bundle')).toBe(200);
  });

  it('counts a refused certificate at the handshake, before (or without) any request', async () => {
    const url = broker.agentApiUrl;
    for (let i = 0; i < REFUSED_PEERS_PER_ADDRESS; i++) {
      expect(await handshakeOnly(url, '127.0.0.24', stranger)).toBe(true);
    }
    expect(await handshakeOnly(url, '127.0.0.24', stranger)).toBe(false);
    expect(await oneRequest(url, '127.0.0.24', '/v1/agent/bundle')).toBe('closed');
  });

  it('refuses TLS 1.2 renegotiation: the certificate checked after the handshake stays the one', async () => {
    const target = new URL(broker.agentApiUrl);
    const outcome = await new Promise<string>((resolve) => {
      const socket = connect({
        host: target.hostname,
        port: Number(target.port),
        rejectUnauthorized: false,
        maxVersion: 'TLSv1.2',
      });
      const timer = setTimeout(() => socket.destroy(), 10_000);
      socket.on('error', () => undefined);
      socket.resume();
      socket.once('close', () => {
        clearTimeout(timer);
        resolve('refused');
      });
      socket.once('secureConnect', () => {
        socket.renegotiate({ rejectUnauthorized: false }, (error) => {
          resolve(error === null || error === undefined ? 'renegotiated' : 'refused');
          socket.destroy();
        });
      });
    });
    expect(outcome).toBe('refused');
  });
});

describe('refused client certificates close their address on accept (admin API with tls)', () => {
  let broker: Broker;
  let stranger: TestCert;

  beforeAll(async () => {
    broker = await startTestBroker({
      trustDomain: 'refusals-admin.test',
      extra: { adminApi: { listen: '127.0.0.1:0', tls: true } },
    });
    const theirs = await createCa({ trustDomain: 'test.example' });
    stranger = await createLeaf(theirs, { spiffeIds: ['spiffe://test.example/admin'] });
  });
  afterAll(() => broker?.stop());

  it(`closes an address after ${REFUSED_PEERS_PER_ADDRESS} refused handshakes; others are served`, async () => {
    const url = broker.adminUrl;
    for (let i = 0; i < REFUSED_PEERS_PER_ADDRESS; i++) {
      expect(await handshakeOnly(url, '127.0.0.31', stranger)).toBe(true);
    }
    expect(await handshakeOnly(url, '127.0.0.31', stranger)).toBe(false);
    expect(await oneRequest(url, '127.0.0.31', '/healthz')).toBe('closed');
    expect(await oneRequest(url, '127.0.0.32', '/healthz')).toBe(200);
  });
});

describe('a handshake check that throws', () => {
  it('closes that connection only; the listener goes on serving', async () => {
    const ca = await createCa({ trustDomain: 'throws.test' });
    const server = await createLeaf(ca, { spiffeIds: ['spiffe://throws.test/server'] });
    const app = new Hono().get('/', (c) => c.text('ok'));
    let calls = 0;
    const listener = await listenApp({
      fetch: app.fetch,
      listen: '127.0.0.1:0',
      listener: LISTENERS.agent,
      limits: DEFAULT_LISTENER_LIMITS,
      identity: {
        cert: server.pem,
        key: server.nodePrivateKey().export({ format: 'pem', type: 'pkcs8' }).toString(),
      },
      onHandshake: () => {
        calls += 1;
        if (calls === 1) throw new TypeError('a check no input was foreseen for');
      },
    });
    try {
      expect(await oneRequest(listener.url, '127.0.0.41', '/')).not.toBe(200);
      expect(await oneRequest(listener.url, '127.0.0.41', '/')).toBe(200);
      expect(calls).toBe(2);
    } finally {
      await listener.close();
    }
  });
});
