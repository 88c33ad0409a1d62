// Where the CA checks a CSR's proof of possession (X509-8 keeps every check; only the thread
// changes): inline when nothing else waits for the main thread, on the thread pool when another
// issuance is in flight or the process is serving other requests (CaDeps.requestsInFlight).
import { afterAll, describe, expect, it } from 'vitest';
import { createCa, type Ca } from '../../src/ca/index.js';
import { loadEcdsaChecker, type EcdsaChecker } from '../../src/ca/native-ecdsa.js';
import { opensslCsr, removeTempDirs, tempDir, testClock, TD } from './support.js';

afterAll(removeTempDirs);

const { checker } = loadEcdsaChecker();

/** The addon's checker, counting where each check ran. */
function countingChecker(inner: EcdsaChecker): EcdsaChecker & { inline: number; pooled: number } {
  const counting = {
    inline: 0,
    pooled: 0,
    verify: (check: Parameters<EcdsaChecker['verify']>[0]) => {
      counting.inline += 1;
      return inner.verify(check);
    },
    verifySoon: (check: Parameters<EcdsaChecker['verifySoon']>[0]) => {
      counting.pooled += 1;
      return inner.verifySoon(check);
    },
    traffic: () => inner.traffic(),
  };
  return counting;
}

async function caWith(
  ecdsa: EcdsaChecker,
  requestsInFlight: (() => number) | undefined,
): Promise<Ca> {
  const clock = testClock();
  return createCa(
    requestsInFlight === undefined
      ? { now: clock.nowMs, ecdsa }
      : { now: clock.nowMs, ecdsa, requestsInFlight },
    { trustDomain: TD, dataDir: tempDir(), csrCheckWorkers: 1 },
  );
}

describe.skipIf(checker === undefined)('where CSR checks run (ecverify addon)', () => {
  const csrs = [opensslCsr(), opensslCsr(), opensslCsr()];
  const spiffeId = `spiffe://${TD}/w`;

  it('checks a lone issuance inline when no count is given or only this request is in flight', async () => {
    for (const inFlight of [undefined, () => 1, () => 0]) {
      const counting = countingChecker(checker as EcdsaChecker);
      const ca = await caWith(counting, inFlight);
      try {
        for (const csr of csrs) await ca.issueX509Svid({ spiffeId, csr });
        expect({ inline: counting.inline, pooled: counting.pooled }).toEqual({
          inline: csrs.length,
          pooled: 0,
        });
      } finally {
        await ca.close();
      }
    }
  });

  it('checks on the thread pool while the process serves other requests, even one issuance at a time', async () => {
    let inFlight = 3;
    const counting = countingChecker(checker as EcdsaChecker);
    const ca = await caWith(counting, () => inFlight);
    try {
      for (const csr of csrs) await ca.issueX509Svid({ spiffeId, csr });
      expect({ inline: counting.inline, pooled: counting.pooled }).toEqual({
        inline: 0,
        pooled: csrs.length,
      });
      // The count is read per issuance: back to inline once the others are answered.
      inFlight = 1;
      await ca.issueX509Svid({ spiffeId, csr: csrs[0] as Buffer });
      expect(counting.inline).toBe(1);
    } finally {
      await ca.close();
    }
  });

  it('checks on the thread pool beside another issuance in flight, and refuses a bad CSR there too', async () => {
    const counting = countingChecker(checker as EcdsaChecker);
    const ca = await caWith(counting, undefined);
    try {
      const tampered = Buffer.from(csrs[1] as Buffer);
      // The last octet is inside the signature's BIT STRING: the proof of possession fails.
      tampered[tampered.length - 1] = (tampered[tampered.length - 1] as number) ^ 1;
      const results = await Promise.allSettled([
        ca.issueX509Svid({ spiffeId, csr: csrs[0] as Buffer }),
        ca.issueX509Svid({ spiffeId, csr: tampered }),
      ]);
      expect(results[0]?.status).toBe('fulfilled');
      expect(results[1]).toMatchObject({
        status: 'rejected',
        reason: { code: 'ERR_CA_CSR_SIGNATURE' },
      });
      expect(counting.pooled).toBeGreaterThanOrEqual(1);
      expect(counting.inline + counting.pooled).toBe(2);
    } finally {
      await ca.close();
    }
  });
});
