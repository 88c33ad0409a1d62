// The CA's own signing threads on the ecverify addon (native-ecdsa.ts `ownThreads`, native/lanes.c
// createLanes): exactly as many threads as asked (ca.csrCheckWorkers, one fewer than the cores in a
// broker, so the event loop keeps a core), the same answers as the thread pool, every batch answered
// before they close, nothing that keeps the process alive when idle, and an environment that goes
// away (a worker thread) taking them with it. Proof of possession (X509-8) is unchanged.
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { copyFileSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createCa } from '../../src/ca/index.js';
import {
  loadEcdsaChecker,
  type EcdsaCheck,
  type EcdsaChecker,
  type OwnThreadsChecker,
} from '../../src/ca/native-ecdsa.js';
import { addonPath } from '../../src/native.js';
import { newKeyAndCsr } from '../../src/agent/csr.js';
import { testClock } from '../helpers/clock.js';
import { opensslVerify, removeTempDirs, tempDir } from './support.js';
import { uncompressedPoint } from '../helpers/ec-point.js';

afterAll(removeTempDirs);

const { checker } = loadEcdsaChecker();
const linux = process.platform === 'linux';

/** The threads of this process named `ecdsa-lane` (Linux: /proc/self/task/N/comm). */
function laneThreads(): number {
  return readdirSync('/proc/self/task').filter(
    (tid) => readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim() === 'ecdsa-lane',
  ).length;
}

/** A P-256 check over `data`: valid, over other data (invalid), or with a point off the curve. */
function checks(count: number): { check: EcdsaCheck; expected: 1 | 0 | -1 }[] {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const point = uncompressedPoint(publicKey);
  return Array.from({ length: count }, (_, i) => {
    const data = Buffer.from(`check ${i}`);
    const signature = sign('sha256', data, privateKey);
    const kind = i % 3;
    if (kind === 0)
      return { check: { curve: 'P-256', hash: 'sha256', point, data, signature }, expected: 1 };
    if (kind === 1) {
      const other = Buffer.from(`check ${i}!`);
      return {
        check: { curve: 'P-256', hash: 'sha256', point, data: other, signature },
        expected: 0,
      };
    }
    const offCurve = Buffer.alloc(65, 4);
    return {
      check: { curve: 'P-256', hash: 'sha256', point: offCurve, data, signature },
      expected: -1,
    };
  });
}

function own(threads: number): OwnThreadsChecker {
  const made = (checker as EcdsaChecker).ownThreads?.(threads);
  if (made === undefined) throw new Error('the addon checker has no ownThreads');
  return made;
}

describe.skipIf(checker === undefined || !linux)('the CA signing threads (ecverify lanes)', () => {
  it('X509-8: answers every check as the thread pool does, and signs only what passed', async () => {
    const lanes = own(2);
    try {
      const ca = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const key = lanes.signingKey(ca.privateKey);
      expect(key).toBeDefined();
      const cases = checks(60);
      const pooled = await Promise.all(
        cases.map(({ check }) => (checker as EcdsaChecker).verifySoon(check)),
      );
      const onLanes = await Promise.all(cases.map(({ check }) => lanes.verifySoon(check)));
      expect(onLanes).toEqual(cases.map((c) => c.expected));
      expect(onLanes).toEqual(pooled);
      const tbsList = cases.map((_, i) => Buffer.from(`tbs ${i}`));
      const signed = await Promise.all(
        cases.map(({ check }, i) =>
          lanes.verifyThenSignSoon(check, key as never, 'sha256', tbsList[i] as Buffer),
        ),
      );
      signed.forEach((result, i) => {
        const expected = (cases[i] as { expected: number }).expected;
        expect(result.verdict).toBe(expected);
        if (result.verdict === 1) {
          expect(verify('sha256', tbsList[i] as Buffer, ca.publicKey, result.signature)).toBe(true);
        } else {
          expect(result.signature).toBeUndefined();
        }
      });
      expect(lanes.traffic().checks).toBe(120);
    } finally {
      lanes.close();
    }
  });

  it('runs exactly as many threads as asked, and none once closed', () => {
    const before = laneThreads();
    const three = own(3);
    const one = own(1);
    expect(laneThreads() - before).toBe(4);
    three.close();
    three.close(); // closing twice is harmless
    expect(laneThreads() - before).toBe(1);
    one.close();
    expect(laneThreads()).toBe(before);
  });

  it('closing answers the batch each thread holds and refuses the queued rest at once (the CA falls back)', async () => {
    const lanes = own(1);
    const cases = checks(400); // 50 batches, tens of milliseconds of work for one thread
    const settled = Promise.allSettled(cases.map(({ check }) => lanes.verifySoon(check)));
    // The batcher hands over at 8 checks or at the end of the turn: flush the last one, then close.
    await new Promise<void>((resolve) => setImmediate(resolve));
    lanes.close();
    const results = await settled;
    const answered = results.flatMap((r, i) => (r.status === 'fulfilled' ? [[r.value, i]] : []));
    const refused = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : []));
    expect(answered.length + refused.length).toBe(400);
    for (const [verdict, i] of answered) expect(verdict).toBe(cases[i as number]?.expected);
    expect(refused.length).toBeGreaterThan(0);
    for (const error of refused) expect(error.message).toBe('the signing threads are closed');
    await expect(lanes.verifySoon((cases[0] as { check: EcdsaCheck }).check)).rejects.toThrow(
      'the signing threads are closed',
    );
  });

  it('a CA whose signing threads cannot start still starts, says so, and issues on the thread pool', async () => {
    const warnings: string[] = [];
    const refusing: EcdsaChecker = {
      ...(checker as EcdsaChecker),
      ownThreads: () => {
        throw new Error('cannot start the signing threads');
      },
    };
    const clock = testClock();
    const ca = await createCa(
      {
        now: clock.nowMs,
        ecdsa: refusing,
        requestsInFlight: () => 8,
        logger: { info() {}, warn: (message) => warnings.push(message), error() {} },
      },
      { trustDomain: 'lanes.example', dataDir: tempDir(), csrCheckWorkers: 2 },
    );
    try {
      expect(warnings).toEqual([
        'ca: the signing threads cannot start; checks use the thread pool',
      ]);
      const issued = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          ca.issueX509Svid({
            spiffeId: `spiffe://lanes.example/agent/${i}`,
            csr: newKeyAndCsr().csrDer,
          }),
        ),
      );
      expect(issued).toHaveLength(8);
    } finally {
      await ca.close();
    }
  });

  // exit() (an uncaught exception, process.exit) runs OpenSSL's cleanup but no environment hook:
  // busy lane threads then took freed locks and the process died of SIGSEGV (18 in 20 runs).
  it('a process that dies of an uncaught exception while its threads sign exits 1, never SIGSEGV', () => {
    const [valid] = checks(1);
    const { check } = valid as { check: EcdsaCheck };
    const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
    const script = `
      const { generateKeyPairSync } = require('node:crypto');
      const addon = require(${JSON.stringify(addonPath('ecverify'))});
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const key = addon.signingKey(privateKey.export({ format: 'der', type: 'pkcs8' }));
      const lanes = addon.createLanes(1);
      const of = (h) => Buffer.from(h, 'hex');
      const n = 8;
      const feed = () => {
        for (let b = 0; b < 16; b++) {
          addon.verifyThenSignBatch(key, new Uint8Array(n), new Uint8Array(n),
            Array(n).fill(of('${hex(check.point)}')), Array(n).fill(of('${hex(check.data)}')),
            Array(n).fill(of('${hex(check.signature)}')), new Uint8Array(n),
            Array(n).fill(Buffer.from('tbs')), lanes).catch(() => {});
        }
      };
      setInterval(feed, 1);
      setTimeout(() => { throw new Error('fatal'); }, 50 + Math.random() * 50);
    `;
    for (let run = 0; run < 10; run++) {
      const result = spawnSync(process.execPath, ['-e', script], {
        encoding: 'utf8',
        timeout: 20_000,
      });
      expect({ run, status: result.status, signal: result.signal }).toEqual({
        run,
        status: 1,
        signal: null,
      });
      expect(result.stderr).toContain('Error: fatal');
    }
  });

  it('a CA runs ca.csrCheckWorkers threads while open, issues on them, and ends them on close', async () => {
    const before = laneThreads();
    const clock = testClock();
    const ca = await createCa(
      { now: clock.nowMs, requestsInFlight: () => 32 },
      { trustDomain: 'lanes.example', dataDir: tempDir(), csrCheckWorkers: 2 },
    );
    try {
      expect(laneThreads() - before).toBe(2);
      const csrs = Array.from({ length: 24 }, () => newKeyAndCsr().csrDer);
      const issued = await Promise.all(
        csrs.map((csr, i) =>
          ca.issueX509Svid({ spiffeId: `spiffe://lanes.example/agent/${i}`, csr }),
        ),
      );
      for (const svid of issued.slice(0, 3)) {
        const result = opensslVerify(
          ca.localBundle(),
          svid.chainDer,
          Math.floor(svid.notBefore.getTime() / 1000) + 60,
        );
        expect(result.output).toContain('OK');
        expect(result.ok).toBe(true);
      }
    } finally {
      await ca.close();
    }
    expect(laneThreads()).toBe(before);
  });

  it('keeps the process alive while a batch is out, and not once it is idle', () => {
    const path = addonPath('ecverify');
    const [valid] = checks(1);
    const { check } = valid as { check: EcdsaCheck };
    const script = `
      const addon = require(${JSON.stringify(path)});
      const lanes = addon.createLanes(1);
      const hex = (s) => Uint8Array.from(Buffer.from(s, 'hex'));
      addon.verifyBatch(Uint8Array.of(0), Uint8Array.of(0), [hex('${Buffer.from(check.point).toString('hex')}')],
        [hex('${Buffer.from(check.data).toString('hex')}')], [hex('${Buffer.from(check.signature).toString('hex')}')], lanes)
        .then((verdicts) => console.log('answered', verdicts[0]));
      // lanes are never closed: once the batch is answered nothing keeps the process running.
    `;
    const run = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20_000 });
    expect(run.stderr).toBe('');
    expect(run.stdout.trim()).toBe('answered 1');
    expect(run.status).toBe(0);
  });

  // A worker thread terminated with batches out: their answers cannot be made any more. The addon
  // used to write them through a null pointer and crash the whole process (on the thread pool too:
  // 14 crashes in 40 runs before the fix); each run here is a fresh process, ten per path.
  it.each(['lanes', 'pool'] as const)(
    'survives a worker thread that goes away with batches out (%s), and leaves no threads behind',
    (path) => {
      const script = `
        const { Worker } = require('node:worker_threads');
        const body = \`
          const { parentPort } = require('node:worker_threads');
          const addon = require(${JSON.stringify(addonPath('ecverify'))});
          const lanes = ${path === 'lanes' ? 'addon.createLanes(2)' : 'undefined'};
          const bytes = new Uint8Array(65).fill(4);
          for (let i = 0; i < 200; i++) {
            addon.verifyBatch(Uint8Array.of(0), Uint8Array.of(0), [bytes], [bytes], [bytes], lanes);
          }
          parentPort.postMessage('queued');
        \`;
        const worker = new Worker(body, { eval: true });
        worker.once('message', () => worker.terminate().then(() => {
          const fs = require('node:fs');
          const lanes = fs.readdirSync('/proc/self/task').filter((t) =>
            fs.readFileSync('/proc/self/task/' + t + '/comm', 'utf8').trim() === 'ecdsa-lane').length;
          console.log('lane threads after terminate', lanes);
        }));
      `;
      for (let run = 0; run < 10; run++) {
        const result = spawnSync(process.execPath, ['-e', script], {
          encoding: 'utf8',
          timeout: 20_000,
        });
        expect({
          run,
          status: result.status,
          signal: result.signal,
          stderr: result.stderr,
        }).toEqual({ run, status: 0, signal: null, stderr: '' });
        expect(result.stdout.trim()).toBe('lane threads after terminate 0');
      }
    },
  );

  it('refuses a handle made by another copy of the addon (another path), and exits cleanly', () => {
    const copies = tempDir('ecverify-copies-');
    copyFileSync(addonPath('ecverify'), join(copies, 'a.node'));
    copyFileSync(addonPath('ecverify'), join(copies, 'b.node'));
    const script = `
      const a = require(${JSON.stringify(join(copies, 'a.node'))});
      const b = require(${JSON.stringify(join(copies, 'b.node'))});
      const lanes = a.createLanes(1);
      const none = new Uint8Array(0);
      const results = [];
      for (const attempt of [() => b.verifyBatch(none, none, [], [], [], lanes), () => b.closeLanes(lanes)]) {
        try { attempt(); results.push('accepted'); } catch (e) { results.push(e.constructor.name); }
      }
      console.log(results.join(' '));
    `;
    const run = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20_000 });
    expect(run.stderr).toBe('');
    expect(run.stdout.trim()).toBe('TypeError TypeError');
    expect(run.status).toBe(0);
  });

  it("one environment's close, waiting for its thread's batch, does not hold up another's lanes", () => {
    const [valid] = checks(1);
    const { check } = valid as { check: EcdsaCheck };
    const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
    const path = JSON.stringify(addonPath('ecverify'));
    const script = `
      const { Worker } = require('node:worker_threads');
      const addon = require(${path});
      const body = \`
        const { parentPort } = require('node:worker_threads');
        const addon = require(${path});
        const lanes = addon.createLanes(1);
        const n = 4096; // one long batch: the thread holds it while close waits
        const of = (h) => Buffer.from(h, 'hex');
        addon.verifyBatch(new Uint8Array(n), new Uint8Array(n), Array(n).fill(of('${hex(check.point)}')),
          Array(n).fill(of('${hex(check.data)}')), Array(n).fill(of('${hex(check.signature)}')), lanes)
          .catch(() => {});
        setTimeout(() => {
          parentPort.postMessage({ closing: true });
          addon.closeLanes(lanes);
          parentPort.postMessage({ closedAt: Date.now() });
        }, 10);
      \`;
      let mineDoneAt;
      const worker = new Worker(body, { eval: true });
      worker.on('message', (message) => {
        if (message.closing) {
          // The worker's thread is inside its close now (or about to be): make and close lanes here.
          const mine = addon.createLanes(1);
          addon.closeLanes(mine);
          mineDoneAt = Date.now();
        } else {
          console.log(mineDoneAt < message.closedAt ? 'not held up' : 'held up');
          worker.terminate();
        }
      });
    `;
    const run = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 30_000 });
    expect(run.stderr).toBe('');
    expect(run.stdout.trim()).toBe('not held up');
  });

  it('refuses arguments that are not what it takes, with a TypeError', () => {
    const script = `
      const addon = require(${JSON.stringify(addonPath('ecverify'))});
      const results = [];
      for (const bad of [0, 65, 'two', 1.5, undefined]) {
        try { addon.createLanes(bad); results.push('made'); } catch (e) { results.push(e.constructor.name); }
      }
      const { generateKeyPairSync } = require('node:crypto');
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const key = addon.signingKey(privateKey.export({ format: 'der', type: 'pkcs8' }));
      const lanes = addon.createLanes(1);
      const none = new Uint8Array(0);
      const attempts = [
        () => addon.closeLanes({}),
        () => addon.verifyBatch(none, none, [], [], [], { not: 'lanes' }),
        // One kind of handle for the other (both are externals): refused, never read as the other.
        () => addon.closeLanes(key),
        () => addon.verifyBatch(none, none, [], [], [], key),
        () => addon.verifyThenSignBatch(lanes, none, none, [], [], [], none, []),
      ];
      for (const attempt of attempts) {
        try { attempt(); results.push('accepted'); } catch (e) { results.push(e.constructor.name); }
      }
      addon.closeLanes(lanes);
      console.log(results.join(' '));
    `;
    const run = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20_000 });
    expect(run.stderr).toBe('');
    expect(run.stdout.trim()).toBe(Array(10).fill('TypeError').join(' '));
  });
});
