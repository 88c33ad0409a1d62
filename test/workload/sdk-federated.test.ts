// Issue 17: SVIDs from two node agents' Workload API sockets authenticate across trust domains with
// the SDK's mTLS helpers. Two real `fedbroker serve` (logistics.example, shipping.example)
// federated through the CLI, one real `fedbroker agent serve` per organisation, and the SDK's
// createWorkloadApiSource on each socket: a logistics server accepts the shipping client and
// nothing else. And the same from Python and Go, the languages of many agents, speaking only the
// Workload API with their own gRPC, TLS and X.509 stacks (examples/python: grpcio, ssl, PyJWT;
// examples/go: grpc-go, crypto/tls, crypto/x509; stubs from the published proto): each identified
// by its binary's path, each verifying peers against the bundle of the peer's own trust domain.
import type { ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  authorizeId,
  connectMtls,
  createWorkloadApiSource,
  guardServer,
  parseSpiffeId,
  peerIdOf,
  tlsServerOptions,
  type WorkloadApiSource,
} from '../../src/agent/index.js';
import { closeServer, listenLoopback } from '../helpers/agent.js';
import {
  buildCli,
  eventually,
  freePort,
  loopbackInitArgs,
  startServe,
  stopServe,
} from '../helpers/built-cli.js';
import { federateBuilt, fedbrokerOk } from '../helpers/built-federation.js';
import { startAgentServe } from '../helpers/workload-agent.js';
import {
  PYTHON,
  goWorkload,
  pythonWorkload,
  runProgram,
  startProgram,
  type WorkloadProgram,
} from '../helpers/workload-programs.js';

const WAIT_MS = 30_000;
const LOGISTICS = 'logistics.example';
const SHIPPING = 'shipping.example';
const UID = process.getuid?.() ?? 0;
const root = mkdtempSync(join(tmpdir(), 'fedbroker-wapi-federated-'));
chmodSync(root, 0o755);
const configOf = (td: string): string => join(root, td, 'broker.yaml');
const socketOf = (td: string): string => join(root, `${td}.sock`);
const children: ChildProcess[] = [];
const sources: WorkloadApiSource[] = [];

const fedbroker = fedbrokerOk;

async function json<T>(td: string, args: string[]): Promise<T> {
  return JSON.parse(await fedbroker([...args, '--config', configOf(td), '--json'])) as T;
}

/** `to` accepts and approves an invitation from `from`; resolves once `to` holds its bundle. */
const federate = (from: string, to: string): Promise<void> =>
  federateBuilt(from, to, { configOf, dir: root, reason: 'issue 17', waitMs: WAIT_MS });

/** A node entry, its agent serve, and a workload entry for this process federating with `partner`. */
async function nodeAgent(td: string, partner: string): Promise<void> {
  const nodeId = `spiffe://${td}/nodes/host-1`;
  const { entry } = await json<{ entry: { id: string } }>(td, [
    'entry',
    'create',
    '--spiffe-id',
    nodeId,
    '--node',
  ]);
  const token = await json<{ token: string; agentApiUrl: string; bundleDigest: string }>(td, [
    'token',
    'generate',
    '--entry',
    entry.id,
  ]);
  await json(td, [
    'entry',
    'create',
    '--spiffe-id',
    `spiffe://${td}/app`,
    '--parent-id',
    nodeId,
    '--selector',
    `unix:uid:${UID}`,
    '--federates-with',
    partner,
  ]);
  // The Python and Go workloads: this uid AND the program's path (so they also match the entry above).
  for (const [language, path] of [
    ['python', realpathSync(PYTHON)],
    ['go', programs.go.command],
  ]) {
    await json(td, [
      'entry',
      'create',
      '--spiffe-id',
      `spiffe://${td}/${language}`,
      '--parent-id',
      nodeId,
      '--selector',
      `unix:uid:${UID}`,
      '--selector',
      `unix:path:${path}`,
      '--federates-with',
      partner,
    ]);
  }
  const agent = await startAgentServe(socketOf(td), join(root, `${td}-node`), [
    '--broker',
    token.agentApiUrl,
    '--join-token',
    token.token,
    '--bundle-digest',
    token.bundleDigest,
  ]);
  children.push(agent.child);
}

const programs = {} as Record<'python' | 'go', WorkloadProgram>;

beforeAll(async () => {
  await buildCli();
  programs.python = pythonWorkload(join(root, 'python'));
  programs.go = goWorkload(join(root, 'go'));
  for (const td of [LOGISTICS, SHIPPING]) {
    await fedbroker(loopbackInitArgs(td, join(root, td), await freePort()));
    children.push((await startServe(configOf(td))).child);
  }
  await federate(LOGISTICS, SHIPPING);
  await federate(SHIPPING, LOGISTICS);
  await nodeAgent(LOGISTICS, SHIPPING);
  await nodeAgent(SHIPPING, LOGISTICS);
}, 300_000);

afterAll(async () => {
  for (const source of sources) await source.close();
  for (const child of children.reverse()) await stopServe(child);
  rmSync(root, { recursive: true, force: true });
});

describe('Workload API SVIDs across trust domains with the SDK mTLS helpers (issue 17)', () => {
  it('a logistics server accepts the shipping client; each side trusts only the peer trust domain', async () => {
    for (const td of [LOGISTICS, SHIPPING]) {
      sources.push(await createWorkloadApiSource({ socket: `unix://${socketOf(td)}` }));
    }
    const [logistics, shipping] = sources as [WorkloadApiSource, WorkloadApiSource];
    // The partner bundle arrives once each broker serves it for the entry's federatesWith.
    await eventually('federated bundles on both sockets', WAIT_MS, async () =>
      logistics.bundles().get(parseSpiffeId(`spiffe://${SHIPPING}/x`).trustDomain) !== undefined &&
      shipping.bundles().get(parseSpiffeId(`spiffe://${LOGISTICS}/x`).trustDomain) !== undefined
        ? true
        : undefined,
    );
    expect(logistics.x509Svid().spiffeId.toString()).toBe(`spiffe://${LOGISTICS}/app`);
    const seen: string[] = [];
    const options = tlsServerOptions(
      logistics,
      authorizeId(parseSpiffeId(`spiffe://${SHIPPING}/app`)),
    );
    const server = guardServer(
      tls.createServer(options, (socket) => {
        seen.push(peerIdOf(socket)?.toString() ?? 'nobody');
        socket.end('hello\n');
      }),
      options,
    );
    const port = await listenLoopback(server);
    try {
      const socket = await connectMtls(
        shipping,
        authorizeId(parseSpiffeId(`spiffe://${LOGISTICS}/app`)),
        {
          host: '127.0.0.1',
          port,
        },
      );
      const text = await new Promise<string>((resolve) => {
        let data = '';
        socket.on('data', (chunk: Buffer) => (data += chunk.toString()));
        socket.on('end', () => resolve(data));
      });
      expect(text).toBe('hello\n');
      expect(seen).toEqual([`spiffe://${SHIPPING}/app`]);
      // The client refuses a server it does not authorise (another ID of the right trust domain).
      await expect(
        connectMtls(shipping, authorizeId(parseSpiffeId(`spiffe://${LOGISTICS}/other`)), {
          host: '127.0.0.1',
          port,
        }),
      ).rejects.toMatchObject({ code: 'ERR_AGENT_PEER_UNAUTHORIZED' });
    } finally {
      await closeServer(server);
    }
  });

  it.each(['python', 'go'] as const)(
    '%s: its own SVID by binary path, verified by its own X.509 stack, an mTLS round trip, a verified JWT-SVID; refusals as the spec says',
    async (language) => {
      const id = `spiffe://${LOGISTICS}/${language}`;
      const run = await runProgram(programs[language], socketOf(LOGISTICS), 'check', [
        '--spiffe-id',
        id,
      ]);
      expect(run.code, run.stderr).toBe(0);
      const [result] = run.lines;
      expect(result).toMatchObject({
        spiffe_id: id,
        mtls: { 'server saw': id, client: { server: id, reply: `hello from ${id}` } },
        jwt: { sub: id, validated: id },
      });
      // Python's ssl checked the chain in the handshake; Go's crypto/x509 also on its own.
      if (language === 'go') expect(result!['x509 verify']).toBe('ok');
      else expect(result).toMatchObject({ 'leaf uri sans': [id], 'key matches leaf': true });
      // Status names differ by library (INVALID_ARGUMENT, InvalidArgument); the code is the same.
      const invalid = language === 'go' ? 'InvalidArgument' : 'INVALID_ARGUMENT';
      expect(result).toMatchObject({
        jwt: { 'wrong audience': invalid },
        'no header': invalid,
        'no audience': invalid,
      });
      // The program matches both entries (uid, and uid + path); node itself only the first.
      expect((result!['all ids'] as string[]).sort()).toEqual([`spiffe://${LOGISTICS}/app`, id]);
    },
  );

  it.each([
    ['go', 'python'],
    ['python', 'go'],
  ] as const)(
    'a %s server of logistics accepts a %s client of shipping; each checks the other against its own trust domain bundle only',
    async (serverLanguage, clientLanguage) => {
      const serverId = `spiffe://${LOGISTICS}/${serverLanguage}`;
      const clientId = `spiffe://${SHIPPING}/${clientLanguage}`;
      const serve = (): ReturnType<typeof startProgram> =>
        startProgram(programs[serverLanguage], socketOf(LOGISTICS), 'serve', [
          '--spiffe-id',
          serverId,
          '--peer-id',
          clientId,
        ]);
      const dial = (port: unknown, peer: string): ReturnType<typeof runProgram> =>
        runProgram(programs[clientLanguage], socketOf(SHIPPING), 'dial', [
          '--spiffe-id',
          clientId,
          '--peer-id',
          peer,
          '--port',
          String(port),
        ]);
      const server = serve();
      const dialled = await dial((await server.firstLine)['port'], serverId);
      expect(dialled.code, dialled.stderr).toBe(0);
      expect(dialled.lines).toEqual([{ server: serverId, reply: `hello from ${serverId}` }]);
      expect((await server.done).lines[1]).toEqual({ client: clientId });

      // A client that takes the server for one of its own trust domain (Python: checks it with its
      // own bundle; Go: expects another ID) is refused: never a pooled root set.
      const again = serve();
      const confused = await dial((await again.firstLine)['port'], `spiffe://${SHIPPING}/x`);
      expect(confused.code).not.toBe(0);
      expect(confused.stderr).toMatch(
        clientLanguage === 'python' ? /CERTIFICATE_VERIFY_FAILED/ : /is not spiffe:\/\/shipping/,
      );
      expect((await again.done).code).not.toBe(0);
    },
  );

  it("the SDK's logistics server accepts the Python and Go clients of shipping, and refuses their other identity", async () => {
    const [logistics] = sources as [WorkloadApiSource];
    const allowed = [`spiffe://${SHIPPING}/python`, `spiffe://${SHIPPING}/go`];
    const options = tlsServerOptions(logistics, (id) => allowed.includes(id.toString()));
    const seen: string[] = [];
    const server = guardServer(
      tls.createServer(options, (socket) => {
        seen.push(peerIdOf(socket)?.toString() ?? 'nobody');
        socket.end(`hello from spiffe://${LOGISTICS}/app`);
      }),
      options,
    );
    const port = await listenLoopback(server);
    const serverId = `spiffe://${LOGISTICS}/app`;
    try {
      for (const language of ['python', 'go'] as const) {
        const dial = (id: string): ReturnType<typeof runProgram> =>
          runProgram(programs[language], socketOf(SHIPPING), 'dial', [
            '--spiffe-id',
            id,
            '--peer-id',
            serverId,
            '--port',
            String(port),
          ]);
        const ok = await dial(`spiffe://${SHIPPING}/${language}`);
        expect(ok.code, ok.stderr).toBe(0);
        expect(ok.lines).toEqual([{ server: serverId, reply: `hello from ${serverId}` }]);
        // The same process presenting its other SVID (shipping/app) is not authorised: it hears
        // nothing (TLS 1.3: its handshake ends before the server judged it; then it is closed).
        const refused = await dial(`spiffe://${SHIPPING}/app`);
        expect(refused.lines[0]?.['reply'] ?? '').toBe('');
      }
      expect(seen).toEqual(allowed);
    } finally {
      await closeServer(server);
    }
  });
});
