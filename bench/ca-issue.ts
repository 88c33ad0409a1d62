// Issuing throughput of the CA beside raw synchronous P-256 crypto.sign in the same run, with a
// stage-by-stage breakdown of one CSR -> X509-SVID, and the same CA with its EC CSR checks on
// node:crypto (the path before the ecverify addon) as the baseline. Run: npx tsx bench/ca-issue.ts
// (about 40 s). Targets (issue 20): CSR -> X509-SVID one at a time >= 0.19 of raw signing and with
// 32 in flight >= 0.33 (a Go crypto/x509 CA reached at most 0.18 and 0.33 on this machine);
// JWT-SVID >= 0.40 (issue 4).
import { generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createCa, type Ca } from '../src/ca/index.js';
import { createCsrCheckPool } from '../src/ca/csr-check-pool.js';
import { parseCsr, type ParsedCsr } from '../src/ca/csr.js';
import { bitString, name, oid, sequence, smallInteger, tlv } from '../src/encoding/index.js';
import { signingProfileOf } from '../src/ca/key-type.js';
import { loadEcdsaChecker } from '../src/ca/native-ecdsa.js';
import { threadCpuNs } from './_thread-cpu.js';
import { importSubjectKey, keyIdentifier } from '../src/ca/subject-key.js';
import {
  caSubjectName,
  createLeafTemplate,
  encodeLeafTbs,
  randomSerial,
  signTbsSync,
} from '../src/ca/x509-encoder.js';

const WINDOW_MS = 2000;
const CSR_COUNT = 12_000;
const IN_FLIGHT = 32;
const STAGE_OPS = 4000;

function fmt(opsPerSecond: number): string {
  return `${Math.round(opsPerSecond).toLocaleString('en-US').padStart(7)} /s`;
}

function ofRaw(opsPerSecond: number, raw: number): string {
  return `${(opsPerSecond / raw).toFixed(2)} of raw`;
}

/** A P-256 PKCS#10 request built with node:crypto (distinct key per request). */
function makeCsr(index: number): Buffer {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const info = sequence(
    smallInteger(0),
    name([['2.5.4.3', `workload-${index}`]]),
    publicKey.export({ type: 'spki', format: 'der' }),
    tlv(0xa0),
  );
  return sequence(
    info,
    sequence(oid('1.2.840.10045.4.3.2')),
    bitString(sign('sha256', info, privateKey)),
  );
}

async function sequentialRate(op: (i: number) => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 200; i++) await op(i);
  let ops = 0;
  const start = performance.now();
  while (performance.now() - start < WINDOW_MS) await op(ops++);
  return (ops * 1000) / (performance.now() - start);
}

async function concurrentRate(op: (i: number) => Promise<unknown>): Promise<number> {
  // Warm-up: starts the CSR check workers / thread pool and lets them compile.
  await Promise.all(Array.from({ length: 400 }, (_, i) => op(i)));
  let ops = 0;
  let started = 0;
  const start = performance.now();
  const worker = async (): Promise<void> => {
    while (performance.now() - start < WINDOW_MS) {
      await op(started++);
      ops++;
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  return (ops * 1000) / (performance.now() - start);
}

/** Nanoseconds the main thread has run on a CPU, from the scheduler (Linux; NaN elsewhere). */
const mainThreadCpuNs = (): number => threadCpuNs().get('event loop') ?? Number.NaN;

/**
 * Per call of `op` over STAGE_OPS distinct inputs, after a warm-up: wall-clock microseconds and the
 * main thread's CPU microseconds (which a loaded machine disturbs less).
 */
async function stageMicros(op: (i: number) => unknown): Promise<[number, number]> {
  for (let i = 0; i < 300; i++) await op(i);
  const cpu = mainThreadCpuNs();
  const start = performance.now();
  for (let i = 0; i < STAGE_OPS; i++) await op(i);
  const wall = ((performance.now() - start) * 1000) / STAGE_OPS;
  return [wall, (mainThreadCpuNs() - cpu) / 1000 / STAGE_OPS];
}

function rawSignRate(privateKey: KeyObject): number {
  const message = Buffer.alloc(420, 7);
  for (let i = 0; i < 500; i++) sign('sha256', message, privateKey);
  let ops = 0;
  const start = performance.now();
  while (performance.now() - start < WINDOW_MS) {
    for (let i = 0; i < 50; i++) sign('sha256', message, privateKey);
    ops += 50;
  }
  return (ops * 1000) / (performance.now() - start);
}

/** Each step of one CSR -> X509-SVID timed alone, one at a time; returns printable rows. */
async function breakdown(csrs: Buffer[], ca: Ca): Promise<string[]> {
  const parsed: ParsedCsr[] = csrs.slice(0, STAGE_OPS).map((c) => parseCsr(c));
  const at = (i: number): ParsedCsr => parsed[i % parsed.length] as ParsedCsr;
  const keys = await Promise.all(parsed.map((p) => importSubjectKey(p.subjectKey)));
  const { checker } = loadEcdsaChecker();
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const profile = signingProfileOf(privateKey);
  if (profile === undefined) throw new Error('no signing profile');
  const template = createLeafTemplate({
    privateKey,
    profile,
    subjectNameDer: caSubjectName('bench.example', 'bench'),
    keyIdentifier: keyIdentifier(Buffer.alloc(65, 4)),
  });
  const now = Date.now();
  const fields = (i: number) => ({
    serial: randomSerial(),
    notBeforeMs: now - 10_000,
    notAfterMs: now + 3_600_000,
    spkiDer: at(i).subjectKey.spkiDer,
    subjectKeyId: keyIdentifier(at(i).subjectKey.keyBits),
    uri: `spiffe://bench.example/workload/${i % 1000}`,
    dnsNames: [],
  });
  const tbs = Array.from({ length: 1000 }, (_, i) => encodeLeafTbs(template, fields(i)));
  const pool = createCsrCheckPool(1);
  const rows: [string, [number, number]][] = [
    ['CSR parse (DER walk, SPKI policy)', await stageMicros((i) => parseCsr(csrs[i] as Buffer))],
    [
      'key import, node:crypto (webcrypto raw)',
      await stageMicros((i) => importSubjectKey(at(i).subjectKey)),
    ],
    [
      'signature check, node:crypto (key imported)',
      await stageMicros((i) =>
        verify('sha256', at(i).infoDer, keys[i % keys.length] as KeyObject, at(i).signature),
      ),
    ],
  ];
  if (checker !== undefined) {
    const check = (i: number) => ({
      curve: 'P-256' as const,
      hash: 'sha256' as const,
      point: at(i).subjectKey.keyBits,
      data: at(i).infoDer,
      signature: at(i).signature,
    });
    rows.push([
      'key import + check, ecverify addon',
      await stageMicros((i) => checker.verify(check(i))),
    ]);
    rows.push([
      'hand-off: thread-pool round trip (1 in flight, incl. check)',
      await stageMicros((i) => checker.verifySoon(check(i))),
    ]);
    // What a busy CA does with an EC CSR: the check and the leaf's signature in one work item, on
    // the libuv pool, and on a signing thread of the CA's own (what the CA uses: native-ecdsa.ts).
    const signingKey = checker.signingKey(privateKey);
    const own = checker.ownThreads?.(1);
    if (signingKey !== undefined && own !== undefined) {
      const ownKey = own.signingKey(privateKey) ?? signingKey;
      rows.push(
        [
          'hand-off: check + sign on the thread pool (1 in flight)',
          await stageMicros((i) =>
            checker.verifyThenSignSoon(
              check(i),
              signingKey,
              'sha256',
              tbs[i % tbs.length] as Buffer,
            ),
          ),
        ],
        [
          "hand-off: check + sign on the CA's signing thread (1 in flight)",
          await stageMicros((i) =>
            own.verifyThenSignSoon(check(i), ownKey, 'sha256', tbs[i % tbs.length] as Buffer),
          ),
        ],
      );
    }
    own?.close();
  }
  rows.push(
    [
      'hand-off: worker round trip (1 in flight, incl. check)',
      await stageMicros((i) =>
        pool.check({
          family: 'ec',
          curve: 'P-256',
          keyBits: new Uint8Array(at(i).subjectKey.keyBits),
          n: undefined,
          e: undefined,
          hash: 'sha256',
          data: new Uint8Array(at(i).infoDer),
          signature: new Uint8Array(at(i).signature),
        }),
      ),
    ],
    [
      'template fields (serial, SKI hash)',
      await stageMicros((i) => [randomSerial(), keyIdentifier(at(i).subjectKey.keyBits)]),
    ],
    [
      'DER encode of the TBSCertificate',
      await stageMicros((i) => encodeLeafTbs(template, fields(i))),
    ],
    [
      'sign (crypto.sign P-256)',
      await stageMicros((i) => sign('sha256', tbs[i % tbs.length] as Buffer, privateKey)),
    ],
    [
      'sign + certificate assembly',
      await stageMicros((i) => signTbsSync(template.signer, tbs[i % tbs.length] as Buffer)),
    ],
    [
      'whole issueX509Svid (CSR), one at a time',
      await stageMicros((i) =>
        ca.issueX509Svid({
          spiffeId: `spiffe://bench.example/workload/${i % 1000}`,
          csr: csrs[i] as Buffer,
        }),
      ),
    ],
  );
  await pool.close();
  return [
    `  ${'step'.padEnd(62)} ${'wall us'.padStart(8)} ${'main-thread CPU us'.padStart(19)}`,
    ...rows.map(
      ([label, [wall, cpu]]) =>
        `  ${label.padEnd(62)} ${wall.toFixed(1).padStart(8)} ${cpu.toFixed(1).padStart(19)}`,
    ),
  ];
}

async function issueRates(ca: Ca, csrs: Buffer[]): Promise<[number, number]> {
  const issueX509 = (i: number): Promise<unknown> =>
    ca.issueX509Svid({
      spiffeId: `spiffe://bench.example/workload/${i % 1000}`,
      csr: csrs[i % CSR_COUNT] as Buffer,
    });
  return [await sequentialRate(issueX509), await concurrentRate(issueX509)];
}

async function main(): Promise<void> {
  const dirs = [mkdtempSync(join(tmpdir(), 'ca-bench-')), mkdtempSync(join(tmpdir(), 'ca-bench-'))];
  try {
    const ca = await createCa(
      { now: () => Date.now() },
      { trustDomain: 'bench.example', dataDir: dirs[0] as string },
    );
    const nodeCa = await createCa(
      { now: () => Date.now(), ecdsa: null },
      { trustDomain: 'bench.example', dataDir: dirs[1] as string },
    );
    const csrs = Array.from({ length: CSR_COUNT }, (_, i) => makeCsr(i));
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const raw = rawSignRate(privateKey);
    const [nodeSeq, nodeConc] = await issueRates(nodeCa, csrs);
    const [x509Seq, x509Conc] = await issueRates(ca, csrs);
    const issueJwt = (i: number): Promise<unknown> =>
      ca.issueJwtSvid({
        spiffeId: `spiffe://bench.example/workload/${i % 1000}`,
        audience: ['bench'],
      });
    const jwtSeq = await sequentialRate(issueJwt);
    const jwtConc = await concurrentRate(issueJwt);
    const rows = await breakdown(csrs, ca);
    await ca.close();
    await nodeCa.close();

    const { checker, reason } = loadEcdsaChecker();
    console.log(`cpus: ${availableParallelism()}  node ${process.version}  key type: ec-p256`);
    console.log(
      `EC CSR checks: ${checker === undefined ? `node:crypto (${reason ?? ''})` : 'ecverify addon'}`,
    );
    console.log(`raw crypto.sign P-256 (sync, 1 thread)            ${fmt(raw)}`);
    console.log(
      `CSR -> X509-SVID, one at a time                   ${fmt(x509Seq)}  ${ofRaw(x509Seq, raw)}  (target 0.19)`,
    );
    console.log(
      `CSR -> X509-SVID, ${IN_FLIGHT} in flight                   ${fmt(x509Conc)}  ${ofRaw(x509Conc, raw)}  (target 0.33)`,
    );
    console.log(
      `  baseline, checks on node:crypto, one at a time  ${fmt(nodeSeq)}  ${ofRaw(nodeSeq, raw)}`,
    );
    console.log(
      `  baseline, checks on node:crypto, ${IN_FLIGHT} in flight  ${fmt(nodeConc)}  ${ofRaw(nodeConc, raw)}`,
    );
    console.log(
      `JWT-SVID mint, one at a time                      ${fmt(jwtSeq)}  ${ofRaw(jwtSeq, raw)}  (target 0.40)`,
    );
    console.log(
      `JWT-SVID mint, ${IN_FLIGHT} in flight                      ${fmt(jwtConc)}  ${ofRaw(jwtConc, raw)}`,
    );
    console.log('Breakdown of one CSR -> X509-SVID (each step alone, one at a time):');
    for (const row of rows) console.log(row);
  } finally {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  }
}

await main();
