// Issue 17: SVIDs from two node agents' Workload API sockets authenticate across trust domains with
// the SDK's mTLS helpers. Two real `fedbroker serve` (logistics.example, shipping.example)
// federated through the CLI, one real `fedbroker agent serve` per organisation, and the SDK's
// createWorkloadApiSource on each socket: a logistics server accepts the shipping client and
// nothing else.
import type { ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
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

beforeAll(async () => {
  await buildCli();
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
});
