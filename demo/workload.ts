// A workload that gets its identity from `fedbroker agent serve` (issue 17): a node agent at
// logistics, a workload entry under it selected by this process's uid, and the SDK's Workload API
// source for that workload.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createWorkloadApiSource, type WorkloadApiSource } from '../src/agent/index.js';
import type { TokenJson } from './agents.js';
import { children, fedJson, tempDir, workloadSources, type BrokerProcess } from './processes.js';
import { detail, expect } from './report.js';
import {
  CALL_TIMEOUT_MS,
  CLI,
  LOGISTICS,
  READY_TIMEOUT_MS,
  SHIPPING,
  WAIT_TIMEOUT_MS,
} from './settings.js';
import { waitUntil, within } from './wait.js';

/**
 * Starts a node agent at logistics (a node entry and its join token), registers a workload entry
 * under it selected by this process's uid, and returns the SDK's Workload API source for it.
 * Started during step 3 (its CLI calls overlap the others'), awaited in step 4.
 */
export async function workloadFromAgentServe(
  logistics: BrokerProcess,
): Promise<{ source: WorkloadApiSource; summary: string }> {
  const nodeId = `spiffe://${LOGISTICS}/nodes/demo-host`;
  const uid = process.getuid?.() ?? 0;
  // The node entry and the workload entry under it are independent: created side by side.
  const [{ entry: node }] = await Promise.all([
    fedJson<{ entry: { id: string } }>(logistics, [
      'entry',
      'create',
      '--spiffe-id',
      nodeId,
      '--node',
    ]),
    fedJson(logistics, [
      'entry',
      'create',
      '--spiffe-id',
      `spiffe://${LOGISTICS}/agents/tracker`,
      '--parent-id',
      nodeId,
      '--selector',
      `unix:uid:${uid}`,
      '--federates-with',
      SHIPPING,
    ]),
  ]);
  const token = await fedJson<TokenJson>(logistics, ['token', 'generate', '--entry', node.id]);
  const socket = join(tempDir, 'workload-api.sock');
  const child = spawn(
    process.execPath,
    [
      CLI,
      'agent',
      'serve',
      '--broker',
      token.agentApiUrl,
      '--bundle-digest',
      token.bundleDigest,
      '--socket',
      socket,
      '--data-dir',
      join(tempDir, 'node-agent'),
    ],
    {
      env: { PATH: process.env['PATH'] ?? '', FEDBROKER_JOIN_TOKEN: token.token },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  children.add(child);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
  try {
    await within(
      waitUntil(() => existsSync(socket) || child.exitCode !== null, 'the Workload API socket'),
      READY_TIMEOUT_MS,
      'agent serve',
    );
    expect(child.exitCode === null, `agent serve exited ${child.exitCode}: ${stderr.trim()}`);
    const source = await within(
      createWorkloadApiSource({ socket, requestTimeoutMs: CALL_TIMEOUT_MS }),
      WAIT_TIMEOUT_MS,
      'the first X509-SVID from the Workload API',
    );
    workloadSources.push(source);
    const summary =
      `node agent ${nodeId} (fedbroker agent serve, node entry ${node.id}) serves the SPIFFE ` +
      `Workload API on unix://${socket}; workload entry selects unix:uid:${uid}`;
    return { source, summary };
  } catch (error) {
    if (stderr !== '') detail(`agent serve stderr:\n${stderr.trim()}`);
    throw error;
  }
}
