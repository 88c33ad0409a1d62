// Issue 15: the bundle endpoint runs on its own worker thread, so a main thread that is busy (a
// request flood on another listener) cannot starve it; a dead worker is restarted, bounded.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Broker } from '../../src/main.js';
import {
  MAX_WORKER_RESTARTS,
  startIsolatedBundleListener,
  type IsolatedBundleListener,
} from '../../src/api/isolated-bundle-server.js';
import { serveBundle } from '../../src/federation/index.js';
import { admin, startTestBroker } from '../helpers/broker.js';
import { createWebPki, type WebPki } from '../helpers/web-pki.js';

const dir = mkdtempSync(join(tmpdir(), 'fedbroker-isolation-'));

/**
 * A client in another process: once `go` exists it GETs `url` and writes the status to `out`.
 * It is started (and has loaded) before the main thread blocks, so only the server can delay it.
 */
const CLIENT = `
const { existsSync, writeFileSync } = require('node:fs');
const { request } = require('node:https');
const [url, go, out] = process.argv.slice(1);
process.stdout.write('loaded\\n');
const wait = setInterval(() => {
  if (!existsSync(go)) return;
  clearInterval(wait);
  request(url, { rejectUnauthorized: false, agent: false }, (res) => {
    res.resume();
    res.on('end', () => writeFileSync(out, String(res.statusCode)));
  }).on('error', (e) => writeFileSync(out, 'error ' + e.code)).end();
}, 2);
`;

function startClient(
  url: string,
  name: string,
): Promise<{ go: string; out: string; child: ChildProcess }> {
  const go = join(dir, `${name}.go`);
  const out = join(dir, `${name}.out`);
  const child = spawn(process.execPath, ['-e', CLIENT, url, go, out], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    child.stdout.once('data', () => resolve({ go, out, child }));
    child.once('exit', (code) => reject(new Error(`client exited with ${String(code)}`)));
  });
}

/**
 * Blocks this (the broker's main) thread with a busy loop for `ms`, tells the client to go, and
 * says which came first: the client's answer or the end of the block.
 */
function blockMainThread(
  go: string,
  out: string,
  ms: number,
): 'answered while blocked' | 'block ended first' {
  writeFileSync(go, '');
  const end = Date.now() + ms;
  const nap = new Int32Array(new SharedArrayBuffer(4));
  while (Date.now() < end) {
    if (existsSync(out)) return 'answered while blocked';
    Atomics.wait(nap, 0, 0, 5); // still blocking: no event of this thread runs
  }
  return 'block ended first';
}

async function answerOf(client: { out: string; child: ChildProcess }): Promise<string> {
  if (client.child.exitCode === null) await new Promise((done) => client.child.once('exit', done));
  return readFileSync(client.out, 'utf8');
}

describe.each([
  { isolated: true, expected: 'answered while blocked' },
  { isolated: false, expected: 'block ended first' },
] as const)('bundleEndpoint.isolated: $isolated', ({ isolated, expected }) => {
  let broker: Broker;
  beforeAll(async () => {
    broker = await startTestBroker({
      trustDomain: `isolated-${String(isolated)}.test`,
      extra: {
        bundleEndpoint: { listen: '127.0.0.1:0', refreshHint: '30s', isolated },
      },
    });
  });
  afterAll(async () => {
    await broker?.stop();
  });

  it(`a bundle fetch while the main thread is blocked for 2 s: ${expected}`, async () => {
    const client = await startClient(broker.bundleEndpointUrl, `broker-${String(isolated)}`);
    expect(blockMainThread(client.go, client.out, 2000)).toBe(expected);
    expect(await answerOf(client)).toBe('200');
  });

  it('/readyz reports the bundle endpoint listening', async () => {
    const ready = await admin(broker, 'GET', '/readyz');
    expect(ready.body).toMatchObject({ checks: { bundleEndpoint: 'ok' } });
  });

  it.runIf(isolated)(
    'a dead worker: /readyz says so (503) until it is restarted, then the endpoint serves again',
    async () => {
      await broker.bundleEndpointWorker()?.terminate();
      // The restart loads a fresh thread (hundreds of ms); one local request is answered first.
      const down = await admin(broker, 'GET', '/readyz');
      expect(down.status).toBe(503);
      expect(down.body).toMatchObject({
        checks: { bundleEndpoint: 'bundle endpoint worker restarting' },
      });
      let ready = down;
      while (ready.status !== 200) {
        await new Promise((done) => setTimeout(done, 50));
        ready = await admin(broker, 'GET', '/readyz');
      }
      const client = await startClient(broker.bundleEndpointUrl, 'after-restart');
      writeFileSync(client.go, '');
      expect(await answerOf(client)).toBe('200');
    },
  );
});

describe('the isolated bundle listener', () => {
  let pki: WebPki;
  let listener: IsolatedBundleListener;
  const bundle = (sequence: number) =>
    serveBundle(Buffer.from(`{"keys":[],"spiffe_sequence":${sequence}}`), 300);

  function get(url: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      request(url, { ca: pki.caPem, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
        .on('error', reject)
        .end();
    });
  }
  async function upAgain(): Promise<void> {
    while (!listener.state().up) await new Promise((done) => setTimeout(done, 20));
  }

  beforeAll(async () => {
    pki = createWebPki();
    listener = await startIsolatedBundleListener({
      host: '127.0.0.1',
      port: 0,
      identity: { cert: pki.certPem, key: pki.keyPem },
      bundle: bundle(1),
    });
  });
  afterAll(async () => {
    await listener?.close();
  });

  it('serves what the main thread posts', async () => {
    expect(await get(listener.url)).toEqual({
      status: 200,
      body: '{"keys":[],"spiffe_sequence":1}',
    });
    listener.publish(bundle(2));
    expect((await get(listener.url)).body).toBe('{"keys":[],"spiffe_sequence":2}');
    listener.publish(undefined);
    expect((await get(listener.url)).status).toBe(503);
    listener.publish(bundle(2));
  });

  it('a worker that dies is restarted on the same port with the latest bundle; down meanwhile', async () => {
    await listener.worker().terminate();
    expect(listener.state()).toEqual({ up: false, detail: 'bundle endpoint worker restarting' });
    listener.publish(bundle(3)); // while down: goes in with the restarted worker
    await upAgain();
    expect(await get(listener.url)).toEqual({
      status: 200,
      body: '{"keys":[],"spiffe_sequence":3}',
    });
  });

  it(`restarts are bounded: after ${MAX_WORKER_RESTARTS} within a minute it stays down`, async () => {
    // One restart was spent by the test above.
    for (let i = 1; i < MAX_WORKER_RESTARTS; i++) {
      await listener.worker().terminate();
      await upAgain();
    }
    await listener.worker().terminate();
    expect(listener.state().up).toBe(false);
    expect(listener.state().detail).toMatch(/not restarted/);
    await expect(get(listener.url)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});

describe('the isolated bundle listener: bind failure and shutdown', () => {
  it('a port in use rejects with its errno (main.ts turns it into ERR_CONFIG_LISTEN)', async () => {
    const pki = createWebPki();
    const first = await startIsolatedBundleListener({
      host: '127.0.0.1',
      port: 0,
      identity: { cert: pki.certPem, key: pki.keyPem },
      bundle: undefined,
    });
    try {
      await expect(
        startIsolatedBundleListener({
          host: '127.0.0.1',
          port: first.port,
          identity: { cert: pki.certPem, key: pki.keyPem },
          bundle: undefined,
        }),
      ).rejects.toMatchObject({ code: 'EADDRINUSE' });
    } finally {
      await first.close();
    }
  });

  it('close() ends the worker and closes the socket', async () => {
    const pki = createWebPki();
    const listener = await startIsolatedBundleListener({
      host: '127.0.0.1',
      port: 0,
      identity: { cert: pki.certPem, key: pki.keyPem },
      bundle: undefined,
    });
    const exited = new Promise<number>((done) => listener.worker().once('exit', done));
    await listener.close();
    await exited;
    const refused = await new Promise<string>((done) => {
      const socket = connect(listener.port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        done('connected');
      });
      socket.once('error', (error: NodeJS.ErrnoException) => done(error.code ?? 'error'));
    });
    expect(refused).toBe('ECONNREFUSED');
  });
});
