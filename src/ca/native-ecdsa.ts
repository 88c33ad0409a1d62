// CSR proof-of-possession checks for EC keys on the ecverify addon (native/ecverify.c): Node's own
// OpenSSL through EC_KEY/ECDSA_verify, about a third of the CPU of webcrypto import + crypto.verify,
// whose key import and provider export cost more than the verification (bench/ca-issue.ts prints
// both). One check runs on the calling thread; checks asked for in the same turn of the event loop
// go to the libuv thread pool together, one work item per batch. A busy CA also hands the leaf's
// TBSCertificate over with the check, and the addon signs it with the CA's EC key (held in the
// addon's memory) only if the check passes. A CA runs its batches on threads of its own
// (`ownThreads`, as many as ca.csrCheckWorkers) rather than the libuv pool: the pool's four threads
// on a two-core machine crowd the event loop off its core, and its file writes (the audit log) wait
// behind the checks. Without the addon (not built, not Linux) the CA keeps its node:crypto path;
// `loadEcdsaChecker` says which is in use.
import type { KeyObject } from 'node:crypto';
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

/** The addon's handle on a CA's EC private key (made by `signingKey`); opaque here. */
export interface EcdsaSigningKey {
  readonly __ecdsaSigningKey: unique symbol;
}

/** What verifyThenSignSoon gives: the CA's DER ECDSA signature over the TBS, or why there is none. */
export type CheckedSignature =
  | { readonly verdict: 1; readonly signature: Buffer }
  | { readonly verdict: 0 | -1; readonly signature?: undefined };

export interface EcdsaChecker {
  /** On the calling thread. */
  verify(check: EcdsaCheck): EcdsaVerdict;
  /** On the thread pool, batched with the other checks asked for in this turn of the event loop. */
  verifySoon(check: EcdsaCheck): Promise<EcdsaVerdict>;
  /**
   * The addon's handle on `privateKey` (made once per key and kept while the key is), or undefined
   * for a key it does not sign with (RSA, Ed25519). The key's DER passes through JavaScript once,
   * and is wiped there.
   */
  signingKey(privateKey: KeyObject): EcdsaSigningKey | undefined;
  /**
   * The check and, only if it passes, `tbs` signed with `key` over `hash`, in one work item on the
   * thread pool, batched like verifySoon. Rejects if the addon fails to sign.
   */
  verifyThenSignSoon(
    check: EcdsaCheck,
    key: EcdsaSigningKey,
    hash: HashName,
    tbs: Uint8Array,
  ): Promise<CheckedSignature>;
  /** Since the checker was made: thread-pool batches and the checks they carried. */
  traffic(): { readonly batches: number; readonly checks: number };
  /**
   * A checker for one CA whose batches run on `threads` threads of its own, taking them in order
   * from one queue, instead of the libuv thread pool. A checker without it (a test's wrapper) is
   * used as it is.
   */
  ownThreads?(threads: number): OwnThreadsChecker;
}

/**
 * A checker on threads of its own. `close` lets each thread answer the batch it holds and ends
 * them; batches still queued are refused ("the signing threads are closed"), so the CA checks and
 * signs those on its main thread (csr.ts) and closing never waits for a long queue.
 */
export interface OwnThreadsChecker extends EcdsaChecker {
  close(): void;
}

/** The addon's handle on a set of its threads (made by `createLanes`); opaque here. */
interface Lanes {
  readonly __lanes: unique symbol;
}

interface Addon {
  verify(curve: number, hash: number, point: Uint8Array, data: Uint8Array, sig: Uint8Array): number;
  verifyBatch(
    curves: Uint8Array,
    hashes: Uint8Array,
    points: Uint8Array[],
    datas: Uint8Array[],
    signatures: Uint8Array[],
    lanes?: Lanes,
  ): Promise<Int8Array>;
  signingKey(pkcs8Der: Uint8Array): EcdsaSigningKey;
  verifyThenSignBatch(
    key: EcdsaSigningKey,
    curves: Uint8Array,
    hashes: Uint8Array,
    points: Uint8Array[],
    datas: Uint8Array[],
    signatures: Uint8Array[],
    signHashes: Uint8Array,
    tbsList: Uint8Array[],
    lanes?: Lanes,
  ): Promise<(Buffer | number)[]>;
  createLanes(threads: number): Lanes;
  closeLanes(lanes: Lanes): void;
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

interface Pending<R> {
  readonly check: EcdsaCheck;
  /** The addon's curve and hash numbers, looked up when the check was asked for. */
  readonly curve: number;
  readonly hash: number;
  resolve(result: R): void;
  reject(error: Error): void;
}

/**
 * Items asked for in one turn of the event loop go to the thread pool together, a work item per
 * FLUSH_AT (requests read from several connections in one poll phase are handled together:
 * setImmediate runs after that phase). `send` hands a batch to the addon.
 */
function createBatcher<I extends Pending<R>, R>(
  send: (batch: I[]) => Promise<R[]>,
  counted: (size: number) => void,
): { add(item: I): void; flush(): void } {
  let queued: I[] = [];
  let flushScheduled = false;
  const flush = (): void => {
    flushScheduled = false;
    if (queued.length === 0) return;
    const batch = queued;
    queued = [];
    counted(batch.length);
    send(batch).then(
      (results) => {
        for (let i = 0; i < batch.length; i++) {
          (batch[i] as I).resolve(results[i] as R);
        }
      },
      (error: unknown) => {
        const failure = error instanceof Error ? error : new Error(String(error));
        for (const item of batch) item.reject(failure);
      },
    );
  };
  return {
    add(item) {
      queued.push(item);
      if (queued.length >= FLUSH_AT) {
        flush();
        return;
      }
      if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(flush);
      }
    },
    flush,
  };
}

interface SignPending extends Pending<CheckedSignature> {
  readonly key: EcdsaSigningKey;
  readonly signHash: number;
  readonly tbs: Uint8Array;
}

function columns(batch: readonly Pending<unknown>[]): {
  curves: Uint8Array;
  hashes: Uint8Array;
  points: Uint8Array[];
  datas: Uint8Array[];
  signatures: Uint8Array[];
} {
  const curves = new Uint8Array(batch.length);
  const hashes = new Uint8Array(batch.length);
  const points: Uint8Array[] = [];
  const datas: Uint8Array[] = [];
  const signatures: Uint8Array[] = [];
  for (let i = 0; i < batch.length; i++) {
    const { check, curve, hash } = batch[i] as Pending<unknown>;
    curves[i] = curve;
    hashes[i] = hash;
    points.push(check.point);
    datas.push(check.data);
    signatures.push(check.signature);
  }
  return { curves, hashes, points, datas, signatures };
}

function checkedSignatureOf(value: Buffer | number | undefined): CheckedSignature {
  if (value instanceof Uint8Array) return { verdict: 1, signature: value };
  if (value === -2) throw new Error('the ecverify addon could not sign');
  return { verdict: value === -1 ? -1 : 0 };
}

/** The addon's checker; its batches go to `lanes` when given, else to the libuv thread pool. */
function createChecker(addon: Addon, lanes?: Lanes): EcdsaChecker {
  let batches = 0;
  let checks = 0;
  const counted = (size: number): void => {
    batches += 1;
    checks += size;
  };
  const verifying = createBatcher<Pending<EcdsaVerdict>, EcdsaVerdict>(async (batch) => {
    const c = columns(batch);
    const verdicts = await addon.verifyBatch(
      c.curves,
      c.hashes,
      c.points,
      c.datas,
      c.signatures,
      lanes,
    );
    return Array.from(verdicts, verdictOf);
  }, counted);
  const signing = createBatcher<SignPending, CheckedSignature>(async (batch) => {
    const c = columns(batch);
    const results = await addon.verifyThenSignBatch(
      (batch[0] as SignPending).key,
      c.curves,
      c.hashes,
      c.points,
      c.datas,
      c.signatures,
      Uint8Array.from(batch, (item) => item.signHash),
      batch.map((item) => item.tbs),
      lanes,
    );
    return results.map(checkedSignatureOf);
  }, counted);
  /** The key of the signing batch being filled: a request for another key starts a new batch. */
  let signingWith: EcdsaSigningKey | undefined;
  const keys = new WeakMap<KeyObject, EcdsaSigningKey | null>();

  return {
    verify(check) {
      const [curve, hash] = indexes(check);
      return verdictOf(addon.verify(curve, hash, check.point, check.data, check.signature));
    },
    verifySoon(check) {
      const [curve, hash] = indexes(check); // a caller's mistake throws here, not inside a batch
      return new Promise<EcdsaVerdict>((resolve, reject) => {
        verifying.add({ check, curve, hash, resolve, reject });
      });
    },
    signingKey(privateKey) {
      const known = keys.get(privateKey);
      if (known !== undefined) return known ?? undefined;
      let handle: EcdsaSigningKey | null = null;
      if (privateKey.asymmetricKeyType === 'ec') {
        const der = privateKey.export({ format: 'der', type: 'pkcs8' });
        try {
          handle = addon.signingKey(der);
        } catch {
          handle = null; // a curve the addon does not take: node:crypto signs
        } finally {
          der.fill(0);
        }
      }
      keys.set(privateKey, handle);
      return handle ?? undefined;
    },
    verifyThenSignSoon(check, key, hashName, tbs) {
      const [curve, hash] = indexes(check);
      const signHash = HASH_INDEX[hashName];
      if (signHash === undefined) throw new TypeError(`no native signing with ${hashName}`);
      if (signingWith !== key) signing.flush();
      signingWith = key;
      return new Promise<CheckedSignature>((resolve, reject) => {
        signing.add({ check, curve, hash, key, signHash, tbs, resolve, reject });
      });
    },
    traffic: () => ({ batches, checks }),
    ownThreads(threads) {
      const own = addon.createLanes(threads);
      return { ...createChecker(addon, own), close: () => addon.closeLanes(own) };
    },
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
    const names = [
      'verify',
      'verifyBatch',
      'signingKey',
      'verifyThenSignBatch',
      'createLanes',
      'closeLanes',
    ] as const;
    for (const name of names) {
      if (typeof addon[name] !== 'function') throw new Error(`${name} is not exported`);
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
