// The metric updates our hot paths make, on prom-client (the broker's registry, src/api/metrics/)
// beside the hand-written registry it replaced (bench/_metrics-baseline.ts), in the same run:
// per request (requestMetrics: a counter by 4 labels + a histogram by 3), per SVID signed (a counter
// by kind), per audit append (a histogram without labels) and all of them for one agent renewal.
// Rounds alternate old and new so that a change of load hits both; medians in ns per update, with
// the difference beside the time an agent-API renewal takes (bench/agent-renewals.ts).
// Measured at load 17-19 on the shared 2-core machine (issue 16): per request 0.69-0.94 of the old
// cost, per SVID 0.49-0.53, per audit append 1.10-1.69 (+73 to +364 ns, beside an append of a
// millisecond or more), per renewal 0.78: no hot path pays for prom-client, so none keeps ours.
// Run: npx tsx bench/metrics.ts
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { AUDIT_APPEND_BUCKETS_SECONDS, createBrokerMetrics } from '../src/api/metrics.js';
import { createBaselineRegistry } from './_metrics-baseline.js';

const ROUNDS = 7;
const OPS = 400_000;
/** An agent-API renewal at 4,000/s (README, bench/agent-renewals.ts on a quiet machine). */
const RENEWAL_NS = 250_000;

type Label4 = 'api' | 'method' | 'route' | 'status';
type Label3 = 'api' | 'method' | 'route';
interface HotPath {
  readonly apiRequests: { inc(labels: Readonly<Record<Label4, string>>, by?: number): void };
  readonly apiRequestDuration: {
    observe(labels: Readonly<Record<Label3, string>>, value: number): void;
  };
  readonly svidsIssued: { inc(labels: Readonly<Record<'kind', string>>, by?: number): void };
  readonly auditAppendDuration: {
    observe(labels: Readonly<Record<never, string>>, v: number): void;
  };
}

function baseline(): HotPath {
  const registry = createBaselineRegistry();
  return {
    apiRequests: registry.counter('a_total', 'x', ['api', 'method', 'route', 'status']),
    apiRequestDuration: registry.histogram('a_seconds', 'x', ['api', 'method', 'route']),
    svidsIssued: registry.counter('s_total', 'x', ['kind']),
    auditAppendDuration: registry.histogram('d_seconds', 'x', [], AUDIT_APPEND_BUCKETS_SECONDS),
  };
}

/** The routes and statuses a busy broker answers: 12 patterns x 2 statuses x 2 listeners. */
const ROUTES = [
  '/v1/agent/x509svid',
  '/v1/agent/jwtsvid',
  '/v1/agent/bundles',
  '/v1/agent/attest',
  '/v1/admin/relationships/:td',
  '/v1/admin/relationships',
  '/v1/admin/entries',
  '/v1/admin/authorities',
  '/v1/admin/audit',
  '/healthz',
  '/readyz',
  '/metrics',
];
const STATUSES = ['200', '401'];
const APIS = ['agent', 'admin'];

/** What requestMetrics does once per request (fresh label objects, as the middleware builds them). */
function requests(m: HotPath, ops: number): void {
  for (let i = 0; i < ops; i += 1) {
    const api = APIS[i & 1] ?? 'agent';
    const route = ROUTES[i % ROUTES.length] ?? 'unmatched';
    const method = 'POST';
    m.apiRequests.inc({ api, method, route, status: STATUSES[(i >> 3) & 1] ?? '200' });
    m.apiRequestDuration.observe({ api, method, route }, (i % 97) * 0.0007);
  }
}

function svids(m: HotPath, ops: number): void {
  for (let i = 0; i < ops; i += 1) m.svidsIssued.inc({ kind: i & 1 ? 'jwt' : 'x509' });
}

function audits(m: HotPath, ops: number): void {
  for (let i = 0; i < ops; i += 1) m.auditAppendDuration.observe({}, (i % 89) * 0.00011);
}

function nsPerOp(run: (m: HotPath, ops: number) => void, m: HotPath): number {
  const started = performance.now();
  run(m, OPS);
  return ((performance.now() - started) * 1e6) / OPS;
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
};

/** One agent-API renewal makes all three: its request, the SVID it signs, its audit append. */
function renewals(m: HotPath, ops: number): void {
  for (let i = 0; i < ops; i += 1) {
    const route = '/v1/agent/x509svid';
    m.apiRequests.inc({ api: 'agent', method: 'POST', route, status: '200' });
    m.apiRequestDuration.observe({ api: 'agent', method: 'POST', route }, (i % 97) * 0.0007);
    m.svidsIssued.inc({ kind: 'x509' });
    m.auditAppendDuration.observe({}, (i % 89) * 0.00011);
  }
}

const cases = [
  ['per request (counter 4 labels + histogram 3 labels)', requests],
  ['per SVID signed (counter by kind)', svids],
  ['per audit append (histogram, no labels)', audits],
  ['per agent renewal (the three above, one series each)', renewals],
] as const;

console.log(
  `node ${process.version}  load average at start: ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
console.log(
  `${ROUNDS} alternating rounds of ${OPS.toLocaleString('en')} updates per case; medians in ns per update`,
);
const old = baseline();
const ours = createBrokerMetrics();
for (const [, run] of cases) {
  run(old, OPS); // warm-up: JIT and every series created
  run(ours, OPS);
}
for (const [name, run] of cases) {
  const before: number[] = [];
  const after: number[] = [];
  for (let round = 0; round < ROUNDS; round += 1) {
    before.push(nsPerOp(run, old));
    after.push(nsPerOp(run, ours));
  }
  const o = median(before);
  const n = median(after);
  const share = ((n - o) / RENEWAL_NS) * 100;
  console.log(
    `${name.padEnd(54)} hand-written ${o.toFixed(0).padStart(5)} ns   prom-client ${n.toFixed(0).padStart(5)} ns   ` +
      `ratio ${(n / o).toFixed(2)}   difference ${(n - o).toFixed(0)} ns = ${share.toFixed(3)}% of a 250 us renewal`,
  );
  console.log(
    `  rounds old: ${before.map((v) => v.toFixed(0)).join(' ')}   new: ${after.map((v) => v.toFixed(0)).join(' ')}`,
  );
}
