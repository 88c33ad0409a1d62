// Pipelined requests are capped per connection as they arrive (MAX_REQUESTS_PER_CONNECTION), on a
// real broker over real sockets: a stranger, an agent with a verified X509-SVID (exempt from turns,
// not from the cap) and an admin caller alike; within the cap every request is answered, in order.
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_REQUESTS_PER_CONNECTION } from '../../src/api/connection-turns.js';
import type { Broker } from '../../src/main.js';
import { ADMIN_TOKEN, startTestBroker } from '../helpers/broker.js';
import { anchorsOf, attest, type IssuedSvid } from '../helpers/agent-api.js';

interface Pipelined {
  /** Status codes of the answers received, in order. */
  readonly statuses: number[];
  /** The server closed the connection before answering them all. */
  readonly cutOff: boolean;
}

/**
 * Writes `count` GET requests at once on one connection and reads answers until all have come
 * (then closes) or the server closes the connection. Bounded: gives up after 15 s.
 */
function pipeline(
  url: string,
  path: string,
  count: number,
  options: { readonly tls?: ConnectionOptions; readonly headers?: string } = {},
): Promise<Pipelined> {
  const target = new URL(url);
  const secure = target.protocol === 'https:';
  const address = { host: target.hostname, port: Number(target.port) };
  return new Promise((resolve) => {
    const socket = secure
      ? tlsConnect({ ...address, rejectUnauthorized: false, ...options.tls })
      : netConnect(address);
    let received = '';
    const statuses = (): number[] =>
      [...received.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
    const timer = setTimeout(() => socket.destroy(), 15_000);
    socket.setEncoding('latin1');
    socket.on('error', () => undefined);
    socket.on('data', (data: string) => {
      received += data;
      if (statuses().length === count) socket.end();
    });
    socket.once('close', () => {
      clearTimeout(timer);
      const answered = statuses();
      resolve({ statuses: answered, cutOff: answered.length < count });
    });
    socket.once(secure ? 'secureConnect' : 'connect', () => {
      const one = `GET ${path} HTTP/1.1\r\nhost: ${target.hostname}\r\n${options.headers ?? ''}\r\n`;
      socket.write(one.repeat(count));
    });
  });
}

describe('pipelined requests are capped per connection as they arrive', () => {
  let broker: Broker;
  let agent: IssuedSvid;

  beforeAll(async () => {
    broker = await startTestBroker({ trustDomain: 'pipelining.test' });
    const entry = await broker.registration.createEntry(
      { spiffeId: 'spiffe://pipelining.test/agent' },
      'test',
    );
    const { token } = await broker.registration.createToken(entry.id, { actor: 'test' });
    agent = await attest(
      broker.agentApiUrl,
      { anchorsPem: anchorsOf(broker.ca.localBundle()), serverSpiffeId: broker.agentApiSpiffeId },
      token,
    );
  });
  afterAll(async () => {
    await broker?.stop();
  });

  const over = MAX_REQUESTS_PER_CONNECTION * 8;

  it(`a stranger (no client certificate): ${MAX_REQUESTS_PER_CONNECTION} pipelined requests are all answered; ${over} close the connection`, async () => {
    const within = await pipeline(
      broker.agentApiUrl,
      '/v1/agent/bundle',
      MAX_REQUESTS_PER_CONNECTION,
    );
    expect(within).toEqual({
      statuses: Array<number>(MAX_REQUESTS_PER_CONNECTION).fill(200),
      cutOff: false,
    });
    const flood = await pipeline(broker.agentApiUrl, '/v1/agent/bundle', over);
    expect(flood.cutOff).toBe(true);
    expect(flood.statuses.length).toBeLessThanOrEqual(MAX_REQUESTS_PER_CONNECTION);
    // The listener goes on serving.
    expect((await pipeline(broker.agentApiUrl, '/v1/agent/bundle', 1)).statuses).toEqual([200]);
  });

  it('an agent whose SVID verifies (exempt from turns) is held to the same cap', async () => {
    const tls = { cert: agent.certPem, key: agent.keyPem };
    const within = await pipeline(
      broker.agentApiUrl,
      '/v1/agent/bundles',
      MAX_REQUESTS_PER_CONNECTION,
      { tls },
    );
    expect(within).toEqual({
      statuses: Array<number>(MAX_REQUESTS_PER_CONNECTION).fill(200),
      cutOff: false,
    });
    const flood = await pipeline(broker.agentApiUrl, '/v1/agent/bundles', over, { tls });
    expect(flood.cutOff).toBe(true);
    expect(flood.statuses.length).toBeLessThanOrEqual(MAX_REQUESTS_PER_CONNECTION);
  });

  it('the admin API: the same cap', async () => {
    const headers = `authorization: Bearer ${ADMIN_TOKEN}\r\n`;
    const within = await pipeline(broker.adminUrl, '/v1/admin/relationships', 4, { headers });
    expect(within).toEqual({ statuses: [200, 200, 200, 200], cutOff: false });
    const flood = await pipeline(broker.adminUrl, '/v1/admin/relationships', over, { headers });
    expect(flood.cutOff).toBe(true);
    expect(flood.statuses.length).toBeLessThanOrEqual(MAX_REQUESTS_PER_CONNECTION);
  });
});
