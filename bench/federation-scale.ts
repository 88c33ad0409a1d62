// Federation at scale (issue 5): N = 10, 100, 1000 approved https_web relationships against one local
// bundle endpoint (a child process on 127.0.0.1, path per partner), embedded file store in a temp dir.
// Prints, per N: the scheduler's due() and the admin list() (median of 5), one full refresh round with new bundles
// and one with unchanged bundles (time and per-partner cost), and process memory growth.
// Usage: npx tsx bench/federation-scale.ts [maxN]   (loopback only; stops by itself; ~20 s at 1000)
//        BENCH_STORE=redis npx tsx bench/federation-scale.ts   (same against a local redis-server it starts)
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { chainEvent, type AuditEventInput } from '../src/audit/index.js';
import { createFederation, createScheduler, type AuditSink } from '../src/federation/index.js';
import { parseTrustDomain } from '../src/spiffeid/index.js';
import { createFileStore, createRedisStore, type Store } from '../src/store/index.js';
import { startRedisServer, type RedisServer } from '../test/helpers/redis-server.js';

const SIZES = [10, 100, 1000].filter((n) => n <= Number(process.argv[2] ?? 1000));
const MAX = Math.max(...SIZES);
const here = dirname(fileURLToPath(import.meta.url));
const STORE_KIND = process.env['BENCH_STORE'] === 'redis' ? 'redis' : 'file';
const redis: RedisServer | undefined =
  STORE_KIND === 'redis' ? await startRedisServer() : undefined;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const silent = { info() {}, warn() {} };

function partnerName(i: number): string {
  return `p${i}.bench.test`;
}

function memory(): { rss: number; heapUsed: number } {
  gc();
  gc();
  const { rss, heapUsed } = process.memoryUsage();
  return { rss, heapUsed };
}

const mib = (bytes: number): string => `${(bytes / 1048576).toFixed(1)} MiB`;
const ms = (value: number): string => `${value.toFixed(1)} ms`;

async function timed<T>(work: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const start = performance.now();
  const value = await work();
  return { value, ms: performance.now() - start };
}

/** Median of `runs` timings of a read-only call (single shots are too noisy for a few ms). */
async function median<T>(runs: number, work: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const results: { value: T; ms: number }[] = [];
  for (let i = 0; i < runs; i++) results.push(await timed(work));
  results.sort((x, y) => x.ms - y.ms);
  return results[Math.floor(runs / 2)] as { value: T; ms: number };
}

// The endpoint runs in its own process so its TLS and JSON work is not counted as the broker's.
const child = spawn(
  process.execPath,
  ['--import', 'tsx', join(here, '_federation-endpoints.ts'), String(MAX)],
  { stdio: ['pipe', 'pipe', 'inherit'] },
);
const ready = await new Promise<{ port: number; caPem: string }>((resolve, reject) => {
  child.once('exit', (code) => reject(new Error(`endpoint process exited with ${String(code)}`)));
  createInterface({ input: child.stdout }).once('line', (line) => resolve(JSON.parse(line)));
});
const origin = `https://127.0.0.1:${ready.port}`;

async function servedRequests(): Promise<number> {
  const { request } = await import('node:https');
  return new Promise((resolve, reject) => {
    request(`${origin}/_stats`, { ca: ready.caPem, agent: false }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => resolve((JSON.parse(text) as { requests: number }).requests));
    })
      .on('error', reject)
      .end();
  });
}

interface Row {
  n: number;
  setupMs: number;
  dueMs: number;
  listMs: number;
  round1Ms: number;
  round2Ms: number;
  rss: number;
  heap: number;
}

async function measureAt(n: number): Promise<Row> {
  const dir = await mkdtemp(join(tmpdir(), 'fedbroker-bench-fed-'));
  const clock = { ms: Date.now() };
  const before = memory();
  const store: Store =
    redis === undefined
      ? await createFileStore({ dir }, { now: () => clock.ms })
      : await createRedisStore({ url: redis.url, keyPrefix: `bench-${n}:` });
  try {
    // The audit chain as main.ts writes it: every refresh that changes a bundle appends an event.
    const audit: AuditSink = async (event) => {
      await store.appendAudit((previous, id) => {
        const { id: _id, ...draft } = chainEvent(previous, event as AuditEventInput, clock.ms, id);
        return draft;
      });
    };
    const federation = createFederation({
      store,
      ownTrustDomain: parseTrustDomain('bench.test'),
      now: () => clock.ms,
      audit,
      logger: silent,
    });
    const scheduler = createScheduler({
      federation,
      locks: store,
      now: () => clock.ms,
      logger: silent,
      replicaId: 'bench',
    });
    const setup = await timed(async () => {
      for (let i = 0; i < n; i++) {
        const trustDomain = partnerName(i);
        await federation.create(
          {
            trustDomain,
            url: `${origin}/${trustDomain}`,
            profile: 'https_web',
            caPem: ready.caPem,
          },
          { actor: 'bench' },
        );
        await federation.transition(trustDomain, 'approve', { actor: 'bench' });
      }
    });
    const due = await median(5, () => federation.due(clock.ms));
    if (due.value.length !== n) throw new Error(`due() found ${due.value.length} of ${n}`);
    const list = await median(5, () => federation.list());
    if (list.value.length !== n) throw new Error(`list() found ${list.value.length} of ${n}`);

    const served0 = await servedRequests();
    const round1 = await timed(() => scheduler.tick());
    if (round1.value.length !== n) throw new Error(`round 1 refreshed ${round1.value.length}/${n}`);
    const failed = (await federation.list()).filter((v) => v.status.lastError !== null);
    if (failed.length > 0) throw new Error(`round 1: ${failed.length} failed refreshes`);
    if (federation.trustedBundles().size !== n) throw new Error('trust view incomplete');

    clock.ms += 2 * 3600_000; // everything due again; the partners serve the same bundles
    const round2 = await timed(() => scheduler.tick());
    if (round2.value.length !== n) throw new Error(`round 2 refreshed ${round2.value.length}/${n}`);
    const served = (await servedRequests()) - served0;
    if (served !== 2 * n) throw new Error(`endpoint saw ${served} fetches for 2 rounds of ${n}`);
    const after = memory();
    return {
      n,
      setupMs: setup.ms,
      dueMs: due.ms,
      listMs: list.ms,
      round1Ms: round1.ms,
      round2Ms: round2.ms,
      rss: after.rss - before.rss,
      heap: after.heapUsed - before.heapUsed,
    };
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

try {
  console.log(
    `https_web partners on one endpoint process at ${origin}, ${STORE_KIND} store, scheduler concurrency 16`,
  );
  console.log(
    [
      'N'.padStart(5),
      'setup'.padStart(10),
      'due()'.padStart(10),
      'list()'.padStart(10),
      'round new'.padStart(11),
      'per partner'.padStart(12),
      'round same'.padStart(11),
      'per partner'.padStart(12),
      'rss delta'.padStart(11),
      'heap delta'.padStart(11),
    ].join(' '),
  );
  for (const n of SIZES) {
    const row = await measureAt(n);
    console.log(
      [
        String(row.n).padStart(5),
        ms(row.setupMs).padStart(10),
        ms(row.dueMs).padStart(10),
        ms(row.listMs).padStart(10),
        ms(row.round1Ms).padStart(11),
        ms(row.round1Ms / row.n).padStart(12),
        ms(row.round2Ms).padStart(11),
        ms(row.round2Ms / row.n).padStart(12),
        mib(row.rss).padStart(11),
        mib(row.heap).padStart(11),
      ].join(' '),
    );
  }
  console.log(
    'round new: every partner has a new bundle (store write, audit, trust view); round same: unchanged',
  );
} finally {
  child.stdin?.end();
  child.kill('SIGTERM');
  await redis?.cleanup();
}
