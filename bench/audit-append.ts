// Audit appends through the file store with a long history: preloads PRELOAD events (the store's
// cap is 100,000), then appends MEASURED more with IN_FLIGHT appenders, each event chained and made
// durable before its append resolves (group commit), while a side loop writes partner bundles so
// that the journal is compacted into snapshot.json several times. Prints appends/s, append latency
// p50/p99/max, the event loop's worst delay, compactions and the size of snapshot.json (audit
// events live in append-only segments, never in the snapshot, so compaction does not grow with them).
// Usage: npx tsx bench/audit-append.ts   (a temp directory only; about 30 s)
import { statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { chainEvent, type AuditEventInput } from '../src/audit/index.js';
import { createFileStore, type Store } from '../src/store/index.js';

const PRELOAD = 100_000;
const MEASURED = 50_000;
const IN_FLIGHT = 32;
/** Journal size that triggers a compaction (the default is 8 MiB; smaller to see several). */
const COMPACT_BYTES = 1024 * 1024;

/** An event shaped like the broker's `svid.issued` for a renewal. */
function renewalEvent(i: number): AuditEventInput {
  const spiffeId = `spiffe://logistics.example/agents/planner/instance/${i.toString(36).padStart(22, 'A')}`;
  return {
    type: 'svid.issued',
    actor: spiffeId,
    details: {
      kind: 'x509',
      via: 'renew',
      spiffeId,
      instanceId: i.toString(36),
      entryId: 'e_M2GG7pnkYvEqOM6lfP_BGA',
      serial: i.toString(16).padStart(32, '0'),
      expiresAt: new Date(Date.now() + 3600_000).toISOString(),
    },
  };
}

function append(store: Store, i: number): Promise<unknown> {
  return store.appendAudit((previous, id) => {
    const { id: _id, ...draft } = chainEvent(previous, renewalEvent(i), Date.now(), id);
    return draft;
  });
}

/** Appends `count` events from IN_FLIGHT loops; returns each append's latency in ms. */
async function run(store: Store, from: number, count: number): Promise<number[]> {
  const latencies: number[] = [];
  let next = from;
  const end = from + count;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < end) {
        const i = next++;
        const start = performance.now();
        await append(store, i);
        latencies.push(performance.now() - start);
      }
    }),
  );
  return latencies;
}

const quantile = (sorted: readonly number[], q: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'audit-bench-'));
  const store = await createFileStore({ dir: join(dir, 'store'), compactBytes: COMPACT_BYTES });
  try {
    console.log(
      `cpus: ${cpus().length}  node ${process.version}  load average: ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    );
    const preloadStart = performance.now();
    await run(store, 0, PRELOAD);
    const preloadSeconds = (performance.now() - preloadStart) / 1000;
    console.log(
      `preloaded ${PRELOAD.toLocaleString('en')} events in ${preloadSeconds.toFixed(1)} s (${Math.round(PRELOAD / preloadSeconds).toLocaleString('en')}/s)`,
    );

    const loop = monitorEventLoopDelay({ resolution: 1 });
    loop.enable();
    const start = performance.now();
    let appending = true;
    let bundleWrites = 0;
    const sideWriter = (async () => {
      const padding = 'p'.repeat(2000);
      while (appending) {
        bundleWrites++;
        await store.putBundle({
          trustDomain: `partner-${bundleWrites % 50}.example`,
          raw: JSON.stringify({ keys: [], spiffe_sequence: bundleWrites, padding }),
          sequence: String(bundleWrites),
          fetchedAt: Date.now(),
          sourceUrl: 'https://127.0.0.1/',
          refreshHintSeconds: 300,
        });
        await new Promise((done) => setTimeout(done, 1));
      }
    })();
    const latencies = await run(store, PRELOAD, MEASURED);
    const seconds = (performance.now() - start) / 1000;
    appending = false;
    await sideWriter;
    loop.disable();
    latencies.sort((a, b) => a - b);

    const snapshot = join(dir, 'store', 'snapshot.json');
    const snapshotBytes = (() => {
      try {
        return statSync(snapshot).size;
      } catch {
        return 0;
      }
    })();
    console.log(
      `${MEASURED.toLocaleString('en')} more appends, ${IN_FLIGHT} in flight, each durable before it resolves:`,
    );
    console.log(
      `  appends/s                ${Math.round(MEASURED / seconds).toLocaleString('en')}`,
    );
    console.log(
      `  append latency ms        p50 ${quantile(latencies, 0.5).toFixed(2)}  p99 ${quantile(latencies, 0.99).toFixed(2)}  max ${(latencies.at(-1) ?? 0).toFixed(2)}`,
    );
    console.log(`  event-loop delay max ms  ${(loop.max / 1e6).toFixed(1)}`);
    console.log(
      `  bundle writes beside     ${bundleWrites.toLocaleString('en')} (~${Math.floor((bundleWrites * 2200) / COMPACT_BYTES)} compactions at ${COMPACT_BYTES / 1024 / 1024} MiB of journal)`,
    );
    console.log(`  snapshot.json            ${(snapshotBytes / 1024).toFixed(1)} KiB`);
    const last = await store.lastAudit();
    if (last?.id !== PRELOAD + MEASURED) {
      throw new Error(`expected last audit id ${PRELOAD + MEASURED}, got ${String(last?.id)}`);
    }
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
