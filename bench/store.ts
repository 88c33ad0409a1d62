// Store benchmark: bundle reads and writes per second through the Redis store and the file store,
// printed beside `redis-benchmark -t get,set` against the same redis-server in the same run.
// Usage: npx tsx bench/store.ts   (loopback only; starts and stops its own redis-server; about 25 s)
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFileStore, createRedisStore, type Store } from '../src/store/index.js';
import { startRedisServer } from '../test/helpers/redis-server.js';

const PHASE_MS = 1500;
const CONCURRENCY = 50;

/** A realistic ~2 KB SPIFFE bundle: one EC x509-svid authority with a certificate, one JWT key. */
function bundleJson(sequence: number): string {
  const x5c = Buffer.alloc(1000, 7).toString('base64');
  return JSON.stringify({
    keys: [
      {
        use: 'x509-svid',
        kty: 'EC',
        crv: 'P-256',
        x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU',
        y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0',
        x5c: [x5c],
      },
      {
        use: 'jwt-svid',
        kty: 'EC',
        kid: 'C6vs25welZOx6WksNYfbMfiw9l96pMnD',
        crv: 'P-256',
        x: 'ngLYQnlfF6GsojUwqtcEE3WgTNG2RUlsGhK73RNEl5k',
        y: 'tKbiDSUSsQ3F1P7wteeHNXIcU-cx6CgSbroeQrQHTLM',
      },
    ],
    spiffe_sequence: sequence,
    spiffe_refresh_hint: 300,
    padding: 'p'.repeat(200),
  });
}

/** Runs `op` from `workers` loops for PHASE_MS and returns completed operations per second. */
async function measure(
  workers: number,
  op: (worker: number, i: number) => Promise<unknown>,
): Promise<number> {
  const deadline = performance.now() + PHASE_MS;
  const start = performance.now();
  let done = 0;
  await Promise.all(
    Array.from({ length: workers }, async (_, worker) => {
      for (let i = 0; performance.now() < deadline; i++) {
        await op(worker, i);
        done++;
      }
    }),
  );
  return done / ((performance.now() - start) / 1000);
}

async function benchStore(name: string, store: Store): Promise<string[]> {
  const td = (worker: number): string => `partner-${worker}.example`;
  const sequences = new Map<number, number>();
  const write = (worker: number): Promise<unknown> => {
    const sequence = (sequences.get(worker) ?? 0) + 1;
    sequences.set(worker, sequence);
    return store.putBundle({
      trustDomain: td(worker),
      raw: bundleJson(sequence),
      sequence: String(sequence),
      fetchedAt: Date.now(),
      sourceUrl: `https://${td(worker)}/bundle`,
      refreshHintSeconds: 300,
    });
  };
  const read = async (worker: number): Promise<void> => {
    if ((await store.getBundle(td(worker))) === undefined) throw new Error('bundle missing');
  };
  const rows: [string, number][] = [];
  rows.push(['putBundle, 1 in flight', await measure(1, write)]);
  rows.push([`putBundle, ${CONCURRENCY} in flight`, await measure(CONCURRENCY, write)]);
  rows.push(['getBundle, 1 in flight', await measure(1, read)]);
  rows.push([`getBundle, ${CONCURRENCY} in flight`, await measure(CONCURRENCY, read)]);
  return rows.map(
    ([label, rate]) =>
      `${name.padEnd(12)} ${label.padEnd(26)} ${Math.round(rate).toString().padStart(9)} ops/s`,
  );
}

function redisBenchmark(args: string[]): string {
  const run = spawnSync('redis-benchmark', args, { encoding: 'utf8', timeout: 20_000 });
  if (run.status !== 0) return `redis-benchmark failed: ${run.stderr}`;
  // -q prints progress with carriage returns; keep the final line of each test.
  return run.stdout
    .split('\n')
    .map((line) => line.split('\r').at(-1)?.trim() ?? '')
    .filter((line) => line !== '')
    .join('\n');
}

const server = await startRedisServer();
const dir = await mkdtemp(join(tmpdir(), 'fedbroker-bench-'));
const stores: Store[] = [];
try {
  const bundleBytes = Buffer.byteLength(bundleJson(1));
  console.log(`store bench: bundle JSON ${bundleBytes} bytes, ${PHASE_MS} ms per phase`);
  console.log(`redis-server ${server.host}:${server.port} (no persistence); file store in ${dir}`);
  const redisStore = await createRedisStore({ url: server.url, keyPrefix: 'bench:' });
  stores.push(redisStore);
  const fileStore = await createFileStore({ dir });
  stores.push(fileStore);
  const lines = [
    ...(await benchStore('redis store', redisStore)),
    ...(await benchStore('file store', fileStore)),
  ];
  console.log(lines.join('\n'));
  const port = String(server.port);
  console.log(`\n$ redis-benchmark -t get,set -q -n 100000 -p ${port}`);
  console.log(redisBenchmark(['-t', 'get,set', '-q', '-n', '100000', '-p', port]));
  console.log(`\n$ redis-benchmark -t get,set -q -n 100000 -d ${bundleBytes} -p ${port}`);
  console.log(
    redisBenchmark(['-t', 'get,set', '-q', '-n', '100000', '-d', String(bundleBytes), '-p', port]),
  );
} finally {
  await Promise.all(stores.map((s) => s.close()));
  await server.cleanup();
  await rm(dir, { recursive: true, force: true });
}
