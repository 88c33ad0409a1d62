// Worker threads that check CSR signatures (key import + verify, about 5 raw signatures of CPU) off
// the main thread when several issuances are in flight, so the checks use every core. Checks are
// batched per worker each tick; a failed worker is replaced and its checks fall back to the caller.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { HashName } from './key-type.js';

/** What a worker needs to check one signature; all public data. */
export interface CsrCheckJob {
  readonly family: 'ec' | 'rsa' | 'ed25519';
  readonly curve: string | undefined;
  /** EC point or Ed25519 key bytes. */
  readonly keyBits: Uint8Array;
  /** RSA modulus and exponent, base64url. */
  readonly n: string | undefined;
  readonly e: string | undefined;
  readonly hash: HashName | null;
  readonly data: Uint8Array;
  readonly signature: Uint8Array;
}

export interface CsrCheckPool {
  /** Resolves with the verdict; rejects if the worker failed (the caller then checks inline). */
  check(job: CsrCheckJob): Promise<boolean>;
  close(): Promise<void>;
}

// Plain CommonJS so that it runs the same from sources (tsx, vitest) and from dist.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createPublicKey, KeyObject, verify, webcrypto } = require('node:crypto');
async function importKey(job) {
  if (job.family === 'ec') {
    const key = await webcrypto.subtle.importKey(
      'raw', job.keyBits, { name: 'ECDSA', namedCurve: job.curve }, true, ['verify']);
    return KeyObject.from(key);
  }
  if (job.family === 'rsa') {
    return createPublicKey({ key: { kty: 'RSA', n: job.n, e: job.e }, format: 'jwk' });
  }
  const x = Buffer.from(job.keyBits).toString('base64url');
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x }, format: 'jwk' });
}
parentPort.on('message', async (jobs) => {
  const verdicts = [];
  for (const job of jobs) {
    try {
      verdicts.push(verify(job.hash, job.data, await importKey(job), job.signature));
    } catch {
      verdicts.push(false);
    }
  }
  parentPort.postMessage(verdicts);
});
`;

interface Slot {
  worker: Worker | undefined;
  /** Settlers of the checks sent, in order (a worker answers batches in order). */
  readonly inFlight: { resolve(ok: boolean): void; reject(error: Error): void }[];
  readonly queued: { job: CsrCheckJob; resolve(ok: boolean): void; reject(error: Error): void }[];
}

export function createCsrCheckPool(size = availableParallelism()): CsrCheckPool {
  const slots: Slot[] = Array.from({ length: Math.max(1, size) }, () => ({
    worker: undefined,
    inFlight: [],
    queued: [],
  }));
  let next = 0;
  let flushScheduled = false;
  let closed = false;

  const fail = (slot: Slot, error: Error): void => {
    slot.worker = undefined;
    for (const pending of slot.inFlight.splice(0)) pending.reject(error);
  };

  const start = (slot: Slot): Worker => {
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    worker.on('message', (verdicts: boolean[]) => {
      for (const ok of verdicts) slot.inFlight.shift()?.resolve(ok === true);
      // Only a worker with work keeps the process alive.
      if (slot.inFlight.length === 0) worker.unref();
    });
    worker.on('error', (error) => fail(slot, error));
    worker.on('exit', (code) => {
      if (slot.worker === worker) fail(slot, new Error(`csr check worker exited with ${code}`));
    });
    slot.worker = worker;
    return worker;
  };

  const flush = (): void => {
    flushScheduled = false;
    for (const slot of slots) {
      if (slot.queued.length === 0) continue;
      const batch = slot.queued.splice(0);
      if (closed) {
        for (const item of batch) item.reject(new Error('csr check pool is closed'));
        continue;
      }
      const worker = slot.worker ?? start(slot);
      worker.ref();
      for (const item of batch) slot.inFlight.push(item);
      worker.postMessage(batch.map((item) => item.job));
    }
  };

  return {
    check(job) {
      if (closed) return Promise.reject(new Error('csr check pool is closed'));
      const slot = slots[next++ % slots.length] as Slot;
      return new Promise<boolean>((resolve, reject) => {
        slot.queued.push({ job, resolve, reject });
        if (!flushScheduled) {
          flushScheduled = true;
          queueMicrotask(flush);
        }
      });
    },
    async close() {
      closed = true;
      await Promise.all(
        slots.map(async (slot) => {
          const worker = slot.worker;
          slot.worker = undefined;
          fail(slot, new Error('csr check pool is closed'));
          if (worker !== undefined) await worker.terminate();
        }),
      );
    },
  };
}
