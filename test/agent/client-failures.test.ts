// Issue 15, finding 5: every way the broker connection can fail gives the SDK and `agent run` a
// coded AgentError (never a crash in an 'error' listener), made to happen with real sockets on
// 127.0.0.1: refused, reset, timeout, DNS failure, untrusted chain, wrong SPIFFE ID, a close
// mid-response and an oversized response, under each way of bootstrapping the broker's bundle.
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAgent } from '../../src/agent/index.js';
import { closeServer, keyPemOf, listenLoopback } from '../helpers/agent.js';
import { cli } from '../helpers/cli.js';
import { createCa, createLeaf, pemOf, type TestCert } from '../helpers/pki.js';
import { codeOf } from '../helpers/error-code.js';

const TD = 'logistics.test';
const AGENT_API_ID = `spiffe://${TD}/fedbroker/agent-api`;

type Behaviour = (socket: Socket) => void;

/** A TLS server presenting `leaf` whose every request meets `behaviour` once the handshake ends. */
function tlsServer(leaf: TestCert, chain: readonly TestCert[], behaviour: Behaviour): Server {
  const server = createTlsServer(
    { cert: pemOf([leaf, ...chain]), key: keyPemOf(leaf) },
    (socket) => {
      socket.on('error', () => undefined);
      socket.once('data', () => behaviour(socket));
    },
  );
  return server;
}

const answer404: Behaviour = (socket) =>
  socket.end('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');

const closeMidResponse: Behaviour = (socket) => {
  socket.write('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n');
  socket.write('{"x509Svid":');
  setImmediate(() => socket.destroy());
};

const oversized: Behaviour = (socket) => {
  const size = 9 * 1024 * 1024;
  socket.write(
    `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${size}\r\n\r\n`,
  );
  const chunk = Buffer.alloc(64 * 1024, 0x20);
  let sent = 0;
  const pump = (): void => {
    while (sent < size && !socket.destroyed) {
      sent += chunk.length;
      if (!socket.write(chunk)) {
        socket.once('drain', pump);
        return;
      }
    }
  };
  pump();
};

describe('agent SDK connection failures give coded errors (issue 15 finding 5)', () => {
  const servers: Server[] = [];
  const ports = new Map<string, number>();
  let ca: TestCert;
  let dir: string;

  const sockets = new Set<Socket>();

  async function serve(name: string, server: Server): Promise<void> {
    servers.push(server);
    server.on('connection', (socket: Socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    ports.set(name, await listenLoopback(server));
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'agent-failures-'));
    ca = await createCa({ trustDomain: TD });
    const otherCa = await createCa({ trustDomain: TD });
    const good = await createLeaf(ca, { spiffeIds: [AGENT_API_ID] });
    const stranger = await createLeaf(otherCa, { spiffeIds: [AGENT_API_ID] });
    const wrongId = await createLeaf(ca, { spiffeIds: [`spiffe://${TD}/not-the-agent-api`] });

    // Refused: a port that was just free.
    const probe = createNetServer();
    ports.set('refused', await listenLoopback(probe));
    await closeServer(probe);
    // Reset: the TCP connection is reset as soon as it is accepted.
    await serve(
      'reset',
      createNetServer((socket) => socket.resetAndDestroy()),
    );
    // Timeout: accepted, then silence.
    await serve(
      'timeout',
      createNetServer((socket) => socket.on('error', () => undefined)),
    );
    await serve('untrusted', tlsServer(stranger, [], answer404));
    await serve('wrong-id', tlsServer(wrongId, [], answer404));
    await serve('mid-response', tlsServer(good, [], closeMidResponse));
    await serve('oversized', tlsServer(good, [], oversized));
  });

  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    for (const server of servers) await closeServer(server);
    rmSync(dir, { recursive: true, force: true });
  });

  const urlOf = (name: string): string =>
    name === 'dns' ? 'https://no-such-broker.invalid:8444' : `https://127.0.0.1:${ports.get(name)}`;

  const modes: [string, string][] = [
    ['refused', 'ERR_AGENT_BROKER_UNREACHABLE'],
    ['reset', 'ERR_AGENT_BROKER_UNREACHABLE'],
    ['timeout', 'ERR_AGENT_BROKER_TIMEOUT'],
    ['dns', 'ERR_AGENT_BROKER_UNREACHABLE'],
    ['untrusted', 'ERR_AGENT_BROKER_UNTRUSTED'],
    ['wrong-id', 'ERR_AGENT_BROKER_UNTRUSTED'],
    ['mid-response', 'ERR_AGENT_BROKER_UNREACHABLE'],
    ['oversized', 'ERR_AGENT_RESPONSE_TOO_LARGE'],
  ];
  const bootstraps = {
    'bundle + trust domain': () => ({ brokerBundle: pemOf(ca), trustDomain: TD }),
    'bundle only (trust domain read from the broker)': () => ({ brokerBundle: pemOf(ca) }),
    'bundle digest only': () => ({
      brokerBundleDigest: createHash('sha256').update(pemOf(ca)).digest('hex'),
    }),
  } as const;

  for (const [bootstrap, optionsOf] of Object.entries(bootstraps)) {
    it.each(modes)(`${bootstrap}: %s gives %s`, async (mode, expected) => {
      const code = await codeOf(
        createAgent({
          brokerUrl: urlOf(mode),
          joinToken: 'join-token-not-used',
          requestTimeoutMs: 500,
          watch: false,
          ...optionsOf(),
        }),
      );
      // The digest bootstrap fetches without trusting the chain: a stranger's bundle then fails
      // the digest check, which is the same verdict.
      expect(code).toBe(expected);
    });
  }

  // The CLI keeps the SDK's default 10 s request bound: the silent server is left to the SDK cases.
  it.each(modes.filter(([mode]) => mode !== 'timeout'))(
    'agent run: %s exits non-zero with error %s',
    async (mode, expected) => {
      const bundleFile = join(dir, 'bundle.pem');
      writeFileSync(bundleFile, pemOf(ca));
      const result = await cli([
        'agent',
        'run',
        '--broker',
        urlOf(mode),
        '--join-token',
        'join-token-not-used',
        '--bundle-digest',
        createHash('sha256').update(pemOf(ca)).digest('hex'),
        '--write',
        join(dir, 'out'),
        '--once',
      ]);
      expect(result.code).not.toBe(0);
      expect(result.stderr).toContain(`error ${expected}:`);
    },
  );
});
