// The CSR-check worker pool: one batch in flight per worker, checks that arrive meanwhile queued
// and sent as the next batch; each check answered as soon as it is done; verdicts stay in order and
// right; closing refuses what is left.
import { generateKeyPairSync, sign } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createCsrCheckPool,
  type CsrCheckJob,
  type CsrCheckPool,
  type CsrCheckVerdict,
} from '../../src/ca/csr-check-pool.js';
import { uncompressedPoint } from '../helpers/ec-point.js';

function ecJob(valid: boolean, payload?: Buffer): CsrCheckJob {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const point = uncompressedPoint(publicKey);
  const data = payload ?? Buffer.from(`certificationRequestInfo ${Math.random()}`);
  const signature = sign('sha256', data, privateKey);
  return {
    family: 'ec',
    curve: 'P-256',
    keyBits: new Uint8Array(point),
    n: undefined,
    e: undefined,
    hash: 'sha256',
    data: new Uint8Array(valid ? data : Buffer.concat([data, Buffer.from('x')])),
    signature: new Uint8Array(signature),
  };
}

const verdictOf = (valid: boolean): CsrCheckVerdict => (valid ? 'valid' : 'invalid');

let pool: CsrCheckPool | undefined;
afterEach(async () => {
  await pool?.close();
  pool = undefined;
});

describe('csr check pool', () => {
  it.each([1, 2])('answers every check of a burst right, with %i worker(s)', async (size) => {
    pool = createCsrCheckPool(size);
    const valid = Array.from({ length: 24 }, (_, i) => i % 3 !== 0);
    const jobs = valid.map((v) => ecJob(v));
    const expected = valid.map(verdictOf);
    await expect(Promise.all(jobs.map((job) => pool?.check(job)))).resolves.toEqual(expected);
  });

  it('queues checks that arrive while the worker is busy and answers them as the next batch', async () => {
    pool = createCsrCheckPool(1);
    const first = pool.check(ecJob(true));
    // Asked for on later turns of the event loop, while the first batch is being checked.
    const later: Promise<CsrCheckVerdict>[] = [];
    for (let i = 0; i < 5; i++) {
      await new Promise((resolve) => setImmediate(resolve));
      later.push(pool.check(ecJob(i !== 2)));
    }
    await expect(first).resolves.toBe('valid');
    await expect(Promise.all(later)).resolves.toEqual([
      'valid',
      'valid',
      'invalid',
      'valid',
      'valid',
    ]);
  });

  it('sends checks asked for by separate callbacks of one event-loop turn as one batch', async () => {
    pool = createCsrCheckPool(1);
    const jobs = [ecJob(true), ecJob(false), ecJob(true)];
    // Three immediates queued together run in one check phase, with microtasks drained after each
    // (like requests read from three connections in one poll phase). Timers would not do: under
    // load, timers set in one loop can fall due in different turns.
    const verdicts = await Promise.all(
      jobs.map(
        (job) =>
          new Promise<CsrCheckVerdict>((resolve, reject) => {
            setImmediate(() => void pool?.check(job).then(resolve, reject));
          }),
      ),
    );
    expect(verdicts).toEqual(['valid', 'invalid', 'valid']);
    expect(pool.traffic()).toEqual({ batches: 1, checks: 3, answers: 3 });
  });

  it('answers the first check of a batch before the last one is done', async () => {
    pool = createCsrCheckPool(1);
    // The second check hashes 64 MiB (a few hundred ms); the first is an ordinary CSR.
    const quick = pool.check(ecJob(true));
    const slow = pool.check(ecJob(true, Buffer.alloc(64 * 1024 * 1024, 1)));
    await expect(quick).resolves.toBe('valid');
    expect(pool.traffic()).toEqual({ batches: 1, checks: 2, answers: 1 });
    // Had the worker answered the batch as one message, the slow verdict would be here already.
    const next = await Promise.race([
      slow.then(() => 'slow answered'),
      new Promise((resolve) => setImmediate(() => resolve('still checking'))),
    ]);
    expect(next).toBe('still checking');
    await expect(slow).resolves.toBe('valid');
    expect(pool.traffic()).toEqual({ batches: 1, checks: 2, answers: 2 });
  });

  it("answers 'bad-key' for a key that does not import (a point off the curve), 'invalid' for a bad signature", async () => {
    pool = createCsrCheckPool(1);
    const offCurve = ecJob(true);
    const point = Buffer.from(offCurve.keyBits);
    point[point.length - 1] = (point[point.length - 1] as number) ^ 1;
    const garbled = { ...ecJob(true), signature: new Uint8Array([0x30, 0x02, 0x01]) };
    await expect(
      Promise.all([
        pool.check({ ...offCurve, keyBits: new Uint8Array(point) }),
        pool.check(garbled),
        pool.check(ecJob(false)),
      ]),
    ).resolves.toEqual(['bad-key', 'invalid', 'invalid']);
  });

  it('refuses queued and new checks once closed', async () => {
    pool = createCsrCheckPool(1);
    const pending = Array.from({ length: 4 }, () => pool?.check(ecJob(true)));
    const closing = pool.close();
    const settled = await Promise.allSettled(pending);
    await closing;
    // Each check either finished before the close or was refused; none is left hanging.
    for (const result of settled) {
      if (result.status === 'rejected') {
        expect((result.reason as Error).message).toMatch(/closed/);
      } else {
        expect(result.value).toBe('valid');
      }
    }
    await expect(pool.check(ecJob(true))).rejects.toThrow(/closed/);
  });
});
