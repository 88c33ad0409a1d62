// Worker threads that check CSR signatures (key import + verify, about 5 raw signatures of CPU) off
// the main thread when several issuances are in flight, so the checks use every core. Each worker
// has one batch in flight at most; checks that arrive meanwhile form its next batch. The worker
// answers each check of a batch as soon as it is done, so the first caller does not wait for the
// last check. A failed worker is replaced and its checks fall back to the caller.
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

/** A worker's answer: the signature verifies, it does not, or the key does not import (not a key). */
export type CsrCheckVerdict = 'valid' | 'invalid' | 'bad-key';

export interface CsrCheckPool {
  /** Resolves with the verdict; rejects if the worker failed (the caller then checks inline). */
  check(job: CsrCheckJob): Promise<CsrCheckVerdict>;
  /**
   * Since the pool was made: messages (batches) sent to workers, the checks they carried, and the
   * answers (one message per check) received back.
   */
  traffic(): { readonly batches: number; readonly checks: number; readonly answers: number };
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
// One answer per check, in batch order, each sent as soon as it is known: a check's caller does not
// wait for the rest of its batch. When the main thread is busy, several answers are read in one
// wake-up, so this costs little more than one answer per batch.
// A key that does not import is 'bad-key' (the CA's ERR_CA_CSR_INVALID, as on the main thread); a
// signature that does not verify, or that verify() cannot read, is 'invalid' (ERR_CA_CSR_SIGNATURE).
parentPort.on('message', async (jobs) => {
  for (const job of jobs) {
    let verdict = 'bad-key';
    try {
      const key = await importKey(job);
      try {
        verdict = verify(job.hash, job.data, key, job.signature) ? 'valid' : 'invalid';
      } catch {
        verdict = 'invalid';
      }
    } catch {
      verdict = 'bad-key';
    }
    parentPort.postMessage(verdict);
  }
});
`;

interface Settler {
  resolve(verdict: CsrCheckVerdict): void;
  reject(error: Error): void;
}

interface Slot {
  worker: Worker | undefined;
  /** Settlers of the one batch the worker is checking, in order; each answer settles the first. */
  inFlight: Settler[];
  /** Checks waiting for the worker to finish its batch; sent together as the next batch. */
  readonly queued: (Settler & { job: CsrCheckJob })[];
}

/**
 * One batch in flight per worker: checks that arrive while a worker is busy wait and go to it as
 * one message when it has answered the whole batch. Under load (API requests arriving one by one,
 * each read on its own turn of the event loop) this keeps a message and a worker wake-up per batch
 * rather than per check, which is most of the cost of the hop; an idle worker still gets a check at
 * once. Answers come back one per check, because a caller waiting for the rest of its batch costs
 * more than the extra messages (bench/agent-renewals.ts: API renewals rose about 4%).
 */
export function createCsrCheckPool(size: number): CsrCheckPool {
  const slots: Slot[] = Array.from({ length: Math.max(1, size) }, () => ({
    worker: undefined,
    inFlight: [],
    queued: [],
  }));
  let flushScheduled = false;
  let closed = false;
  let batchesSent = 0;
  let checksSent = 0;
  let answersReceived = 0;

  const send = (slot: Slot): void => {
    if (slot.inFlight.length > 0 || slot.queued.length === 0) return;
    const batch = slot.queued.splice(0);
    if (closed) {
      for (const item of batch) item.reject(new Error('csr check pool is closed'));
      return;
    }
    const worker = slot.worker ?? start(slot);
    worker.ref();
    slot.inFlight = batch;
    batchesSent += 1;
    checksSent += batch.length;
    worker.postMessage(batch.map((item) => item.job));
  };

  const fail = (slot: Slot, error: Error): void => {
    slot.worker = undefined;
    const pending = slot.inFlight;
    slot.inFlight = [];
    for (const item of pending) item.reject(error);
    // Checks that were waiting for this worker go to a fresh one.
    send(slot);
  };

  const start = (slot: Slot): Worker => {
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    worker.on('message', (verdict: unknown) => {
      answersReceived += 1;
      const answered = slot.inFlight.shift();
      if (slot.inFlight.length === 0) {
        // The batch is done: the next one first, so the worker is busy again while this caller
        // goes on. Only a worker with work keeps the process alive.
        send(slot);
        if (slot.inFlight.length === 0) worker.unref();
      }
      answered?.resolve(verdict === 'valid' || verdict === 'bad-key' ? verdict : 'invalid');
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
    for (const slot of slots) send(slot);
  };

  /** The worker with the least work sent or waiting. */
  const leastBusy = (): Slot => {
    let best = slots[0] as Slot;
    let bestLoad = Infinity;
    for (const slot of slots) {
      const load = slot.inFlight.length + slot.queued.length;
      if (load < bestLoad) {
        best = slot;
        bestLoad = load;
      }
    }
    return best;
  };

  return {
    check(job) {
      if (closed) return Promise.reject(new Error('csr check pool is closed'));
      const slot = leastBusy();
      return new Promise<CsrCheckVerdict>((resolve, reject) => {
        slot.queued.push({ job, resolve, reject });
        // Checks asked for in the same turn of the event loop share a message: requests read from
        // several connections in one poll phase go to a worker together (setImmediate runs after
        // that phase), rather than one message per connection.
        if (!flushScheduled && slot.inFlight.length === 0) {
          flushScheduled = true;
          setImmediate(flush);
        }
      });
    },
    traffic: () => ({ batches: batchesSent, checks: checksSent, answers: answersReceived }),
    async close() {
      closed = true;
      await Promise.all(
        slots.map(async (slot) => {
          const worker = slot.worker;
          slot.worker = undefined;
          const error = new Error('csr check pool is closed');
          for (const item of slot.queued.splice(0)) item.reject(error);
          fail(slot, error);
          if (worker !== undefined) await worker.terminate();
        }),
      );
    },
  };
}
