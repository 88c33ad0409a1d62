// Throughput of verifyX509Svid and validateJwtSvid against raw P-256 crypto.verify in the same run.
// Run: npx tsx bench/svid-verify.ts (bounded to well under 20 s). Targets: chains >= 50 %, JWT >= 40 % of raw.
import { createSign, generateKeyPairSync, verify as cryptoVerify } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { SignJWT, jwtVerify } from 'jose';
import { parseTrustDomain } from '../src/spiffeid/index.js';
import { validateJwtSvid, verifyX509Svid } from '../src/svid/index.js';
import { Bundle, jwtAuthorityFromJwk } from '../src/bundle/index.js';
import { authorityOf, createCa, createLeaf, type TestCert } from '../test/helpers/pki.js';

const TD = 'bench.example';
const LEAVES = 1000;
const INTER_LEAVES = 400;
const TOKENS = 2000;
const WINDOW_MS = 1500;

function rate(ops: number, ms: number): number {
  return (ops * 1000) / ms;
}

function fmt(opsPerSecond: number): string {
  return `${Math.round(opsPerSecond).toLocaleString('en-US')} ops/s`;
}

function pct(opsPerSecond: number, raw: number): string {
  return `${((opsPerSecond / raw) * 100).toFixed(0)} % of raw`;
}

/** Runs fn repeatedly for about `windowMs`, returning ops/s. */
function timed(fn: () => void, windowMs = WINDOW_MS): number {
  for (let i = 0; i < 200; i++) fn(); // warm-up
  collect();
  let ops = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < windowMs) {
    for (let i = 0; i < 100; i++) fn();
    ops += 100;
    elapsed = performance.now() - start;
  }
  return rate(ops, elapsed);
}

// A full collection before each measurement, so garbage from the setup is not billed to the code under test.
setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;

/** Cycles through items not used for measurement until the code is optimised (3,000 calls). */
function warmUp<T>(items: readonly T[], fn: (item: T) => void): void {
  for (let i = 0; i < 3000; i++) fn(items[i % items.length] as T);
}

/** Calls fn once per item (each item new to the verifier), returning ops/s. */
function onceEach<T>(items: readonly T[], fn: (item: T) => void): number {
  collect();
  const start = performance.now();
  for (const item of items) fn(item);
  return rate(items.length, performance.now() - start);
}

async function timedAsync(fn: () => Promise<unknown>, windowMs = WINDOW_MS): Promise<number> {
  for (let i = 0; i < 100; i++) await fn();
  let ops = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < windowMs) {
    for (let i = 0; i < 50; i++) await fn();
    ops += 50;
    elapsed = performance.now() - start;
  }
  return rate(ops, elapsed);
}

function rawP256(): number {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const data = Buffer.alloc(400, 7);
  const signature = createSign('sha256').update(data).sign(privateKey);
  return timed(() => {
    if (!cryptoVerify('sha256', data, publicKey, signature)) throw new Error('raw verify failed');
  });
}

const setupStart = performance.now();
const root = await createCa({ trustDomain: TD });
const bundleX509 = new Bundle({
  trustDomain: parseTrustDomain(TD),
  x509Authorities: [authorityOf(root)],
});
async function makeLeaves(issuer: TestCert, count: number): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for (let i = 0; i < count; i += 100) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(100, count - i) }, (_, k) =>
        createLeaf(issuer, { spiffeIds: [`spiffe://${TD}/workload/${i + k}`] }),
      ),
    );
    out.push(...batch.map((leaf) => leaf.der));
  }
  return out;
}
const leaves = await makeLeaves(root, LEAVES + 200);
const inter = await createCa({ issuer: root });
const interLeaves = await makeLeaves(inter, INTER_LEAVES + 100);
const jwtKeys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const kid = 'bench-key';
const bundleJwt = new Bundle({
  trustDomain: parseTrustDomain(TD),
  jwtAuthorities: [jwtAuthorityFromJwk(kid, jwtKeys.publicKey.export({ format: 'jwk' }))],
});
const nowSeconds = Math.floor(Date.now() / 1000);
const tokens = await Promise.all(
  Array.from({ length: TOKENS + 200 }, (_, i) =>
    new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid, typ: 'JWT' })
      .setSubject(`spiffe://${TD}/workload/${i}`)
      .setAudience('bench-audience')
      .setIssuedAt(nowSeconds)
      .setExpirationTime(nowSeconds + 300)
      .sign(jwtKeys.privateKey),
  ),
);
console.log(
  `setup: ${leaves.length + interLeaves.length} leaves, ${tokens.length} tokens in ${Math.round(performance.now() - setupStart)} ms (node ${process.version})`,
);

const rawBefore = rawP256();

const chainOptions = { now: new Date() };
const verifyChain = (der: Buffer): void => {
  verifyX509Svid([der], bundleX509, chainOptions);
};
warmUp(leaves.slice(LEAVES), verifyChain); // JIT warm-up on leaves that are not measured
const chainCold = onceEach(leaves.slice(0, LEAVES), verifyChain);
const viaInter = (der: Buffer): void => {
  verifyX509Svid([der, inter.der], bundleX509, chainOptions);
};
warmUp(interLeaves.slice(INTER_LEAVES), viaInter);
const interCold = onceEach(interLeaves.slice(0, INTER_LEAVES), viaInter);
const sameLeaf = leaves[0] as Buffer;
const chainSame = timed(() => verifyChain(sameLeaf));

const jwtOptions = { audience: 'bench-audience', now: new Date() };
const validateToken = (token: string): void => {
  validateJwtSvid(token, bundleJwt, jwtOptions);
};
warmUp(tokens.slice(TOKENS), validateToken);
const jwtCold = onceEach(tokens.slice(0, TOKENS), validateToken);
const sameToken = tokens[0] as string;
const jwtSame = timed(() => validateToken(sameToken));

const joseRate = await timedAsync(() =>
  jwtVerify(sameToken, jwtKeys.publicKey, { audience: 'bench-audience', algorithms: ['ES256'] }),
);

const rawAfter = rawP256();
const raw = (rawBefore + rawAfter) / 2;

console.log(
  `(a) raw crypto.verify P-256 sha256:  ${fmt(rawBefore)} before, ${fmt(rawAfter)} after; mean ${fmt(raw)}`,
);
console.log(
  `(b) verifyX509Svid leaf+root, distinct leaves: ${fmt(chainCold)} (${pct(chainCold, raw)})`,
);
console.log(
  `    verifyX509Svid leaf+root, same leaf:       ${fmt(chainSame)} (${pct(chainSame, raw)})`,
);
console.log(
  `    leaf+intermediate+root, distinct leaves:   ${fmt(interCold)} (${pct(interCold, raw)}; two signature checks)`,
);
console.log(`(c) validateJwtSvid ES256, distinct tokens:   ${fmt(jwtCold)} (${pct(jwtCold, raw)})`);
console.log(`    validateJwtSvid ES256, same token:        ${fmt(jwtSame)} (${pct(jwtSame, raw)})`);
console.log(
  `(d) jose jwtVerify ES256 (async, KeyObject):  ${fmt(joseRate)} (${pct(joseRate, raw)})`,
);
console.log(
  `targets: chains >= 50 % of raw: ${chainCold / raw >= 0.5 ? 'met' : 'MISSED'}; JWT >= 40 % of raw: ${jwtCold / raw >= 0.4 ? 'met' : 'MISSED'}`,
);
console.log(`total ${Math.round(performance.now() - setupStart)} ms`);
