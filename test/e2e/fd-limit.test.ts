// Issue 15 finding 6, as reported: a broker process with a 1,024 file-descriptor limit and 1,100
// idle sockets against its listeners. With the default connection caps it keeps descriptors for its
// own work: the bundle endpoint still answers and a CA state write (authority prepare) succeeds.
import { spawn, type ChildProcess } from 'node:child_process';
import { request as httpsRequest } from 'node:https';
import { connect, type Socket } from 'node:net';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN } from '../helpers/broker.js';

const root = resolve(import.meta.dirname, '..', '..');

interface Urls {
  readonly bundleEndpointUrl: string;
  readonly agentApiUrl: string;
  readonly adminUrl: string;
}

let child: ChildProcess | undefined;
let urls: Urls;
const idle: Socket[] = [];

beforeAll(async () => {
  child = spawn(
    'prlimit',
    [
      '--nofile=1024:1024',
      process.execPath,
      '--import',
      'tsx',
      resolve(root, 'test/helpers/broker-child.ts'),
      'fd-limit.test',
    ],
    { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const lines = createInterface({ input: child.stdout! });
  urls = await new Promise<Urls>((done, fail) => {
    lines.once('line', (line) => done(JSON.parse(line) as Urls));
    child?.once('exit', (code) => fail(new Error(`broker exited with ${String(code)}`)));
  });
}, 60_000);

afterAll(async () => {
  for (const socket of idle) socket.destroy();
  if (child !== undefined && child.exitCode === null) {
    const exited = new Promise((done) => child?.once('exit', done));
    child.kill('SIGTERM');
    await exited;
  }
});

function portOf(url: string): number {
  return Number(new URL(url).port);
}

/** Opens `count` idle TCP sockets over the three listeners from the addresses `from(i)`. */
async function openIdle(count: number, from: (i: number) => string): Promise<Socket[]> {
  const ports = [urls.bundleEndpointUrl, urls.agentApiUrl, urls.adminUrl].map(portOf);
  const opened = await Promise.all(
    Array.from(
      { length: count },
      (_, i) =>
        new Promise<Socket>((done) => {
          const socket = connect({
            host: '127.0.0.1',
            port: ports[i % 3] ?? 0,
            localAddress: from(i),
          });
          socket.on('error', () => undefined);
          socket.resume();
          socket.once('connect', () => done(socket));
          socket.once('close', () => done(socket));
        }),
    ),
  );
  idle.push(...opened);
  return opened;
}

/**
 * Waits until at most `max` of `sockets` are still open: the broker accepts (and closes what it
 * refuses) from its listen backlog as fast as its event loop allows, so a loaded machine takes longer.
 */
async function openAtMost(sockets: readonly Socket[], max: number): Promise<number> {
  let open = sockets.filter((s) => !s.destroyed).length;
  for (let i = 0; i < 300 && open > max; i++) {
    await new Promise((done) => setTimeout(done, 100));
    open = sockets.filter((s) => !s.destroyed).length;
  }
  return open;
}

function bundleStatus(): Promise<number> {
  return new Promise<number>((done, fail) => {
    const req = httpsRequest(
      urls.bundleEndpointUrl,
      { rejectUnauthorized: false, agent: false, localAddress: '127.0.5.1' },
      (res) => {
        res.resume();
        res.on('end', () => done(res.statusCode ?? 0));
      },
    );
    req.on('error', fail);
    req.end();
  });
}

describe('issue 15 finding 6: 1,100 idle sockets under a 1,024 descriptor limit', () => {
  it('from one host: most are closed on accept; the listeners serve others; a CA state write succeeds', async () => {
    const sockets = await openIdle(1100, () => '127.0.4.1');
    // Per-address caps of the three listeners: 16 + 64 + 32.
    expect(await openAtMost(sockets, 112)).toBeLessThanOrEqual(112);
    expect(await bundleStatus()).toBe(200);
    expect((await fetch(`${urls.adminUrl}/healthz`)).status).toBe(200);
    const prepared = await fetch(`${urls.adminUrl}/v1/admin/authorities/jwt/prepare`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(prepared.status).toBe(201);
    for (const socket of sockets) socket.destroy();
  }, 60_000);

  it('from 110 hosts: the total caps hold (the broker keeps descriptors for itself), then it serves again', async () => {
    const sockets = await openIdle(1100, (i) => `127.0.4.${(i % 110) + 10}`);
    // Default totals 256 + 512 + 64 = 832, well under the 1,024 descriptors.
    expect(await openAtMost(sockets, 832)).toBeLessThanOrEqual(832);
    for (const socket of sockets) socket.destroy();
    await new Promise((done) => setTimeout(done, 500));
    expect(await bundleStatus()).toBe(200);
    const prepared = await fetch(`${urls.adminUrl}/v1/admin/authorities/x509/prepare`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(prepared.status).toBe(201);
  }, 60_000);
});
