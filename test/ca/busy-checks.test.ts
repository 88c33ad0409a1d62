// Where the CA checks a CSR's proof of possession and signs the leaf (X509-8 keeps every check; only
// the thread changes): inline when nothing else waits for the main thread; on the thread pool when
// another issuance is in flight or the process is serving other requests (CaDeps.requestsInFlight),
// where an EC CSR's check and the leaf's signature share one work item and the leaf is signed only
// if the check passes. Every leaf made on either path verifies with openssl against the bundle.
import { afterAll, describe, expect, it } from 'vitest';
import { X509Certificate } from 'node:crypto';
import {
  createCa,
  type Ca,
  type CaOptions,
  type CheckedCsr,
  type IssuedX509Svid,
} from '../../src/ca/index.js';
import { parseCsr } from '../../src/ca/csr.js';
import { loadEcdsaChecker, type EcdsaChecker } from '../../src/ca/native-ecdsa.js';
import {
  opensslCsr,
  opensslText,
  opensslVerify,
  removeTempDirs,
  tempDir,
  testClock,
  TD,
} from './support.js';

afterAll(removeTempDirs);

const { checker } = loadEcdsaChecker();

interface Counting extends EcdsaChecker {
  /** Checks made on the calling thread, on the pool alone, and on the pool with the signature. */
  readonly counts: { inline: number; pooled: number; signed: number };
}

/** The addon's checker, counting where each check ran; `failSigning` makes the addon's batches fail. */
function countingChecker(inner: EcdsaChecker, failSigning = false): Counting {
  const counts = { inline: 0, pooled: 0, signed: 0 };
  return {
    counts,
    verify: (check) => {
      counts.inline += 1;
      return inner.verify(check);
    },
    verifySoon: (check) => {
      counts.pooled += 1;
      return inner.verifySoon(check);
    },
    signingKey: (privateKey) => inner.signingKey(privateKey),
    verifyThenSignSoon: async (check, key, hash, tbs) => {
      counts.signed += 1;
      if (failSigning) throw new Error('the ecdsa batch was cancelled');
      return inner.verifyThenSignSoon(check, key, hash, tbs);
    },
    traffic: () => inner.traffic(),
  };
}

async function caWith(
  ecdsa: EcdsaChecker,
  requestsInFlight: (() => number) | undefined,
  options: Partial<CaOptions> = {},
): Promise<Ca> {
  const clock = testClock();
  return createCa(
    requestsInFlight === undefined
      ? { now: clock.nowMs, ecdsa }
      : { now: clock.nowMs, ecdsa, requestsInFlight },
    { trustDomain: TD, dataDir: tempDir(), csrCheckWorkers: 1, ...options },
  );
}

/** `openssl verify -x509_strict` of an issued SVID against the CA's bundle, a minute into its life. */
function verifies(ca: Ca, issued: IssuedX509Svid): { ok: boolean; output: string } {
  return opensslVerify(
    ca.localBundle(),
    issued.chainDer,
    Math.floor(issued.notBefore.getTime() / 1000) + 60,
  );
}

/** A certificate's SubjectPublicKeyInfo, DER. */
function spkiOf(der: Buffer): Buffer {
  return new X509Certificate(der).publicKey.export({ type: 'spki', format: 'der' });
}

/** The same CSR with the last octet of its signature flipped: the proof of possession fails. */
function tampered(csr: Buffer): Buffer {
  const copy = Buffer.from(csr);
  copy[copy.length - 1] = (copy[copy.length - 1] as number) ^ 1;
  return copy;
}

describe.skipIf(checker === undefined)(
  'where CSR checks and leaf signatures run (ecverify addon)',
  () => {
    const csrs = [opensslCsr(), opensslCsr(), opensslCsr()];
    const spiffeId = `spiffe://${TD}/w`;

    it('checks and signs a lone issuance inline when no count is given or only this request is in flight', async () => {
      for (const inFlight of [undefined, () => 1, () => 0]) {
        const counting = countingChecker(checker as EcdsaChecker);
        const ca = await caWith(counting, inFlight);
        try {
          for (const csr of csrs) await ca.issueX509Svid({ spiffeId, csr });
          expect(counting.counts).toEqual({ inline: csrs.length, pooled: 0, signed: 0 });
        } finally {
          await ca.close();
        }
      }
    });

    it('checks and signs on the thread pool while the process serves other requests, one issuance at a time', async () => {
      let inFlight = 3;
      const counting = countingChecker(checker as EcdsaChecker);
      const ca = await caWith(counting, () => inFlight);
      try {
        for (const csr of csrs) {
          const issued = await ca.issueX509Svid({ spiffeId, csr });
          const verified = verifies(ca, issued);
          expect(verified.output).toContain('OK');
          expect(verified.ok).toBe(true);
        }
        expect(counting.counts).toEqual({ inline: 0, pooled: 0, signed: csrs.length });
        // The count is read per issuance: back to inline once the others are answered.
        inFlight = 1;
        await ca.issueX509Svid({ spiffeId, csr: csrs[0] as Buffer });
        expect(counting.counts.inline).toBe(1);
      } finally {
        await ca.close();
      }
    });

    it('signs nothing for a CSR whose proof of possession fails on the pool, and stays usable', async () => {
      const counting = countingChecker(checker as EcdsaChecker);
      const ca = await caWith(counting, () => 2);
      try {
        await expect(
          ca.issueX509Svid({ spiffeId, csr: tampered(csrs[1] as Buffer) }),
        ).rejects.toMatchObject({ code: 'ERR_CA_CSR_SIGNATURE' });
        expect(counting.counts.signed).toBe(1);
        const before = ca.authorities('x509').map((a) => a.id);
        // Both refusals leave the CA usable and unchanged.
        const issued = await ca.issueX509Svid({ spiffeId, csr: csrs[2] as Buffer });
        expect(verifies(ca, issued).ok).toBe(true);
        expect(ca.authorities('x509').map((a) => a.id)).toEqual(before);
      } finally {
        await ca.close();
      }
    });

    it('beside another issuance in flight (no count given) checks and signs on the pool, answering each request its own way', async () => {
      const counting = countingChecker(checker as EcdsaChecker);
      const ca = await caWith(counting, undefined);
      try {
        const results = await Promise.allSettled([
          ca.issueX509Svid({ spiffeId, csr: csrs[0] as Buffer }),
          ca.issueX509Svid({ spiffeId, csr: tampered(csrs[1] as Buffer) }),
          ca.issueX509Svid({ spiffeId: `spiffe://${TD}/other`, csr: csrs[2] as Buffer }),
        ]);
        expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
        expect(results[1]).toMatchObject({ reason: { code: 'ERR_CA_CSR_SIGNATURE' } });
        for (const [i, id] of [
          [0, 'w'],
          [2, 'other'],
        ] as const) {
          const result = results[i];
          if (result?.status !== 'fulfilled') throw new Error('expected an SVID');
          expect(verifies(ca, result.value).ok).toBe(true);
          expect(opensslText(result.value.chainDer[0] as Buffer)).toContain(
            `URI:spiffe://${TD}/${id}`,
          );
        }
        expect(counting.counts.signed).toBeGreaterThanOrEqual(2);
        expect(counting.counts.inline + counting.counts.signed).toBe(3);
      } finally {
        await ca.close();
      }
    });

    it('with a P-384 CA signs on the pool with SHA-384; with an RSA CA checks on the pool and signs with node:crypto', async () => {
      for (const keyType of ['ec-p384', 'rsa-2048'] as const) {
        const counting = countingChecker(checker as EcdsaChecker);
        const ca = await caWith(counting, () => 5, { keyType });
        try {
          const issued = await ca.issueX509Svid({ spiffeId, csr: csrs[0] as Buffer });
          expect(verifies(ca, issued).ok, keyType).toBe(true);
          const text = opensslText(issued.chainDer[0] as Buffer);
          if (keyType === 'ec-p384') {
            expect(text).toContain('ecdsa-with-SHA384');
            expect(counting.counts).toEqual({ inline: 0, pooled: 0, signed: 1 });
          } else {
            expect(text).toContain('sha256WithRSAEncryption');
            expect(counting.counts).toEqual({ inline: 0, pooled: 1, signed: 0 });
          }
        } finally {
          await ca.close();
        }
      }
    });

    it('when the addon fails a batch, checks and signs on the main thread instead: the answer is the same', async () => {
      const counting = countingChecker(checker as EcdsaChecker, true);
      const ca = await caWith(counting, () => 4);
      try {
        const issued = await ca.issueX509Svid({ spiffeId, csr: csrs[0] as Buffer });
        expect(verifies(ca, issued).ok).toBe(true);
        await expect(
          ca.issueX509Svid({ spiffeId, csr: tampered(csrs[1] as Buffer) }),
        ).rejects.toMatchObject({ code: 'ERR_CA_CSR_SIGNATURE' });
        expect(counting.counts.signed).toBe(2);
        // The fallback check: on the pool's verifySoon (busy), never silently skipped.
        expect(counting.counts.pooled).toBe(2);
      } finally {
        await ca.close();
      }
    });

    it('checkCsr (the check before a join token is spent) runs where issuance would: inline when idle, on the pool while busy, with the same codes', async () => {
      let inFlight = 1;
      const counting = countingChecker(checker as EcdsaChecker);
      const ca = await caWith(counting, () => inFlight);
      try {
        await ca.checkCsr(csrs[0] as Buffer);
        expect(counting.counts).toEqual({ inline: 1, pooled: 0, signed: 0 });
        inFlight = 4;
        await ca.checkCsr(csrs[1] as Buffer);
        await expect(ca.checkCsr(tampered(csrs[2] as Buffer))).rejects.toMatchObject({
          code: 'ERR_CA_CSR_SIGNATURE',
        });
        await expect(ca.checkCsr(Buffer.from('not a csr'))).rejects.toMatchObject({
          code: 'ERR_CA_CSR_INVALID',
        });
        expect(counting.counts).toEqual({ inline: 1, pooled: 2, signed: 0 });
      } finally {
        await ca.close();
      }
      await expect(ca.checkCsr(csrs[0] as Buffer)).rejects.toThrow('the ca is closed');
    });

    it('issues from what checkCsr returned without checking the signature again (one check per enrolment), with every other rule, and only on the CA that checked it', async () => {
      const counting = countingChecker(checker as EcdsaChecker);
      const ca = await caWith(counting, () => 4);
      const other = await caWith(countingChecker(checker as EcdsaChecker), () => 4);
      try {
        const checkedCsr = await ca.checkCsr(csrs[0] as Buffer);
        expect(counting.counts).toEqual({ inline: 0, pooled: 1, signed: 0 });
        const issued = await ca.issueX509Svid({ spiffeId, csr: checkedCsr });
        expect(counting.counts).toEqual({ inline: 0, pooled: 1, signed: 0 });
        expect(verifies(ca, issued).ok).toBe(true);
        // The leaf certifies the key the CSR proved it holds.
        expect(spkiOf(issued.chainDer[0] as Buffer)).toEqual(
          Buffer.from(parseCsr(csrs[0] as Buffer).subjectKey.spkiDer),
        );
        // The request's own rules still apply (X509-1: an ID of our trust domain).
        await expect(
          ca.issueX509Svid({ spiffeId: 'spiffe://elsewhere.test/w', csr: checkedCsr }),
        ).rejects.toMatchObject({ code: 'ERR_CA_ID_NOT_ALLOWED' });
        // Another CA never checked it; a look-alike object was never checked at all.
        await expect(other.issueX509Svid({ spiffeId, csr: checkedCsr })).rejects.toThrow(
          "csr must be DER bytes or what this CA's checkCsr returned",
        );
        await expect(
          ca.issueX509Svid({ spiffeId, csr: Object.freeze({}) as CheckedCsr }),
        ).rejects.toThrow(TypeError);
        // A CSR given as bytes is checked as before.
        await ca.issueX509Svid({ spiffeId, csr: csrs[1] as Buffer });
        expect(counting.counts).toEqual({ inline: 0, pooled: 1, signed: 1 });
      } finally {
        await ca.close();
        await other.close();
      }
    });
  },
);

describe('where CSR checks run without the addon (node:crypto, worker threads when busy)', () => {
  const spiffeId = `spiffe://${TD}/w`;

  /** An openssl P-256 CSR whose public point is moved off the curve (its signature left as is). */
  function offCurveCsr(): Buffer {
    const csr = Buffer.from(opensslCsr());
    // SubjectPublicKey BIT STRING: 03 42 00, then the uncompressed point 04 || X || Y.
    const at = csr.indexOf(Buffer.from([0x03, 0x42, 0x00, 0x04])) + 3;
    csr[at + 64] = (csr[at + 64] as number) ^ 1;
    return csr;
  }

  it('gives the same codes idle (inline) and busy (worker threads): a bad key ERR_CA_CSR_INVALID, a bad signature ERR_CA_CSR_SIGNATURE', async () => {
    for (const inFlight of [1, 5]) {
      const clock = testClock();
      const ca = await createCa(
        { now: clock.nowMs, ecdsa: null, requestsInFlight: () => inFlight },
        { trustDomain: TD, dataDir: tempDir(), csrCheckWorkers: 1 },
      );
      try {
        await expect(
          ca.issueX509Svid({ spiffeId, csr: offCurveCsr() }),
          `${inFlight} in flight`,
        ).rejects.toMatchObject({
          code: 'ERR_CA_CSR_INVALID',
        });
        await expect(
          ca.issueX509Svid({ spiffeId, csr: tampered(opensslCsr()) }),
          `${inFlight} in flight`,
        ).rejects.toMatchObject({ code: 'ERR_CA_CSR_SIGNATURE' });
        const issued = await ca.issueX509Svid({ spiffeId, csr: opensslCsr() });
        expect(verifies(ca, issued).ok).toBe(true);
        // The check made before a join token is spent gives the same codes.
        await expect(ca.checkCsr(offCurveCsr())).rejects.toMatchObject({
          code: 'ERR_CA_CSR_INVALID',
        });
        await expect(ca.checkCsr(tampered(opensslCsr()))).rejects.toMatchObject({
          code: 'ERR_CA_CSR_SIGNATURE',
        });
        // What checkCsr returns issues without a second check, on this path too.
        const again = await ca.issueX509Svid({ spiffeId, csr: await ca.checkCsr(opensslCsr()) });
        expect(verifies(ca, again).ok).toBe(true);
      } finally {
        await ca.close();
      }
    }
  });
});
