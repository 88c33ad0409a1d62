// CSR proof-of-possession checks for EC keys on the ecverify addon (native/ecverify.c): Node's own
// OpenSSL through EC_KEY/ECDSA_verify, about a third of the CPU of webcrypto import + crypto.verify,
// whose key import and provider export cost more than the verification (bench/ca-issue.ts prints
// both). One check runs on the calling thread; checks asked for in the same turn of the event loop
// go to the libuv thread pool together, one work item per batch. Without the addon (not built, not
// Linux) the CA keeps its node:crypto path; `loadEcdsaChecker` says which is in use.
import { addonPath, requireAddon } from '../native.js';
import type { HashName } from './key-type.js';

/** The addon's verdict: the signature verifies (1), it does not (0), the point is not on the curve (-1). */
export type EcdsaVerdict = 1 | 0 | -1;

export type EcCurve = 'P-256' | 'P-384' | 'P-521';

/** One check: all public data (the subject's point, the signed bytes, the DER signature). */
export interface EcdsaCheck {
  readonly curve: EcCurve;
  readonly hash: HashName;
  readonly point: Uint8Array;
  readonly data: Uint8Array;
  readonly signature: Uint8Array;
}

export interface EcdsaChecker {
  /** On the calling thread. */
  verify(check: EcdsaCheck): EcdsaVerdict;
  /** On the thread pool, batched with the other checks asked for in this turn of the event loop. */
  verifySoon(check: EcdsaCheck): Promise<EcdsaVerdict>;
  /** Since the checker was made: thread-pool batches and the checks they carried. */
  traffic(): { readonly batches: number; readonly checks: number };
}

interface Addon {
  verify(curve: number, hash: number, point: Uint8Array, data: Uint8Array, sig: Uint8Array): number;
  verifyBatch(
    curves: Uint8Array,
    hashes: Uint8Array,
    points: Uint8Array[],
    datas: Uint8Array[],
    signatures: Uint8Array[],
  ): Promise<Int8Array>;
}

const CURVE_INDEX: Readonly<Record<EcCurve, number>> = { 'P-256': 0, 'P-384': 1, 'P-521': 2 };
const HASH_INDEX: Readonly<Record<string, number>> = { sha256: 0, sha384: 1, sha512: 2 };
/**
 * A batch goes to the thread pool as soon as it holds this many checks, not only at the end of the
 * turn: the pool then verifies the first checks while the main thread still encodes and signs the
 * certificates of the previous batch, instead of the two taking turns. bench/ca-issue.ts with 32
 * in flight: 8,222/s with one batch per turn; 12,615 / 13,100 / 12,367 /s flushing at 4 / 8 / 16.
 */
const FLUSH_AT = 8;

function verdictOf(value: number): EcdsaVerdict {
  return value === 1 ? 1 : value === -1 ? -1 : 0;
}

function indexes(check: EcdsaCheck): [number, number] {
  const curve = CURVE_INDEX[check.curve];
  const hash = HASH_INDEX[check.hash];
  if (curve === undefined || hash === undefined) {
    throw new TypeError(`no native check for ${String(check.curve)} with ${String(check.hash)}`);
  }
  return [curve, hash];
}

interface Pending {
  readonly check: EcdsaCheck;
  /** The addon's curve and hash numbers, looked up when the check was asked for. */
  readonly curve: number;
  readonly hash: number;
  resolve(verdict: EcdsaVerdict): void;
  reject(error: Error): void;
}

function createChecker(addon: Addon): EcdsaChecker {
  let queued: Pending[] = [];
  let flushScheduled = false;
  let batches = 0;
  let checks = 0;

  const run = (batch: Pending[]): void => {
    const curves = new Uint8Array(batch.length);
    const hashes = new Uint8Array(batch.length);
    const points: Uint8Array[] = [];
    const datas: Uint8Array[] = [];
    const signatures: Uint8Array[] = [];
    for (let i = 0; i < batch.length; i++) {
      const { check, curve, hash } = batch[i] as Pending;
      curves[i] = curve;
      hashes[i] = hash;
      points.push(check.point);
      datas.push(check.data);
      signatures.push(check.signature);
    }
    batches += 1;
    checks += batch.length;
    addon.verifyBatch(curves, hashes, points, datas, signatures).then(
      (verdicts) => {
        for (let i = 0; i < batch.length; i++) {
          (batch[i] as Pending).resolve(verdictOf(verdicts[i] ?? 0));
        }
      },
      (error: unknown) => {
        const failure = error instanceof Error ? error : new Error(String(error));
        for (const item of batch) item.reject(failure);
      },
    );
  };

  const flush = (): void => {
    flushScheduled = false;
    if (queued.length === 0) return;
    const batch = queued;
    queued = [];
    run(batch);
  };

  return {
    verify(check) {
      const [curve, hash] = indexes(check);
      return verdictOf(addon.verify(curve, hash, check.point, check.data, check.signature));
    },
    verifySoon(check) {
      const [curve, hash] = indexes(check); // a caller's mistake throws here, not inside a batch
      return new Promise<EcdsaVerdict>((resolve, reject) => {
        queued.push({ check, curve, hash, resolve, reject });
        if (queued.length >= FLUSH_AT) {
          flush();
          return;
        }
        // Checks asked for in the same turn share a work item: requests read from several
        // connections in one poll phase are checked together (setImmediate runs after that phase).
        if (!flushScheduled) {
          flushScheduled = true;
          setImmediate(flush);
        }
      });
    },
    traffic: () => ({ batches, checks }),
  };
}

export interface LoadedEcdsaChecker {
  readonly checker: EcdsaChecker | undefined;
  /** Why there is no checker (missing, cannot load, failed its self-check). */
  readonly reason: string | undefined;
}

const loaded = new Map<string, LoadedEcdsaChecker>();

/**
 * The checker of the addon at `path` (default: the package's build), or undefined with the reason
 * it could not load (the CA then uses node:crypto). Loaded once per path; a self-check with a
 * known-good signature, a tampered one and a point off the curve guards against an addon that
 * loads but answers wrongly.
 */
export function loadEcdsaChecker(path: string = addonPath('ecverify')): LoadedEcdsaChecker {
  const known = loaded.get(path);
  if (known !== undefined) return known;
  let result: LoadedEcdsaChecker;
  try {
    const addon = requireAddon(path) as Partial<Addon>;
    if (typeof addon.verify !== 'function' || typeof addon.verifyBatch !== 'function') {
      throw new Error('verify/verifyBatch are not exported');
    }
    const checker = createChecker(addon as Addon);
    selfCheck(checker);
    result = { checker, reason: undefined };
  } catch (cause) {
    result = { checker: undefined, reason: cause instanceof Error ? cause.message : String(cause) };
  }
  loaded.set(path, result);
  return result;
}

/** A P-256 signature made with node:crypto over "ecverify self-check" (a fixed test vector). */
const SELF_CHECK: EcdsaCheck = {
  curve: 'P-256',
  hash: 'sha256',
  point: Buffer.from(
    '04f6d1869f462994a8c4ceefd8c359136e1d29d18cc70f37d3eed2554e769cb8f9' +
      '2122cc37cfbd5ce6b5fcbf14d1aba6ff79146dc95065b7f2d7a2c26f281330ca',
    'hex',
  ),
  data: Buffer.from('ecverify self-check'),
  signature: Buffer.from(
    '3045022100e90a6675fa69b361967c54e8f6c5a38dd4eba78ca311723cd23e923f61bb562e' +
      '022072fd244e1ef1fb5288b343c50dce24caf86d842f39b1aa320d28e65855736815',
    'hex',
  ),
};

function selfCheck(checker: EcdsaChecker): void {
  const tampered = { ...SELF_CHECK, data: Buffer.from('ecverify self-check!') };
  const offCurve = { ...SELF_CHECK, point: Buffer.alloc(65, 4) };
  if (
    checker.verify(SELF_CHECK) !== 1 ||
    checker.verify(tampered) !== 0 ||
    checker.verify(offCurve) !== -1
  ) {
    throw new Error('the addon failed its self-check');
  }
}
