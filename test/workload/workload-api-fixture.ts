// The Workload API test world for the workload-api*.test.ts files: a server over a real Unix socket
// with a fake node-state source (a real CA signs), clients built from the published proto, and a
// child client run as another uid or binary. useWorkloadApiWorld() registers its set-up and clean-up.
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll } from 'vitest';
import {
  createAttestor,
  createWorkloadApiServer,
  loadPeerCred,
  type Attestor,
  type WorkloadApiServer,
} from '../../src/workload/index.js';
import { createFakeNode, type FakeNode } from '../helpers/workload-node.js';
import { WORKLOAD_CLIENT_SCRIPT, workloadClient } from '../helpers/workload-client.js';

export const UID = process.getuid?.() ?? 0;
export const NODE_SHA256 = createHash('sha256')
  .update(readFileSync(process.execPath))
  .digest('hex');
export const BOOT_ID = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();

// Live bindings: set by useWorkloadApiWorld() and start(), read by the test files.
export let dir: string;
export let node: FakeNode;
export let server: WorkloadApiServer;
export let attestor: Attestor;
export let socket: string;
const clients: grpc.Client[] = [];

export function client(): ReturnType<typeof workloadClient> {
  const c = workloadClient(socket);
  clients.push(c);
  return c;
}

/** Runs the child client as `uid` (or with another node binary), one JSON line per call. */
export function child(
  args: string[],
  options: { uid?: number; gid?: number; binary?: string } = {},
): Promise<{ ids?: string[]; code?: number }[]> {
  return new Promise((resolve, reject) => {
    const proc = spawn(
      options.binary ?? process.execPath,
      [WORKLOAD_CLIENT_SCRIPT, socket, ...args],
      {
        ...(options.uid === undefined ? {} : { uid: options.uid, gid: options.gid ?? options.uid }),
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    let err = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
    proc.on('error', reject);
    proc.on('close', (code) => {
      if (code !== 0) reject(new Error(`client exited ${code}: ${err}`));
      else
        resolve(
          out
            .trim()
            .split('\n')
            .map((line) => JSON.parse(line) as { ids?: string[]; code?: number }),
        );
    });
  });
}

/** Starts a server (and a fake node) for one test; useWorkloadApiWorld() closes both after it. */
export async function start(now?: () => number, limits?: object): Promise<void> {
  node = await createFakeNode(now === undefined ? {} : { now });
  attestor = createAttestor();
  socket = join(dir, `agent-${Math.random().toString(36).slice(2)}.sock`);
  server = createWorkloadApiServer({
    socketPath: socket,
    source: node,
    peerCred: loadPeerCred(),
    attestor,
    bootId: BOOT_ID,
    ...(now === undefined ? {} : { now }),
    ...(limits === undefined ? {} : { limits }),
  });
  await server.listen();
}

/** A temporary directory for the file's sockets; every test's clients, server and node closed after it. */
export function useWorkloadApiWorld(): void {
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'wapi-test-'));
    chmodSync(dir, 0o755);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await server?.close();
    await node?.close();
  });
}
