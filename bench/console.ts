// Console render cost (issue 19): the Federation page with 1,000 partners (its first page of 200, its
// last page, and a filter) and the Audit page after 100,000 events, server time p50/p99 in process
// (app.request, real file store), beside the admin API's JSON list of all the partners and of the
// same 50 events, measured in the same run. Target: <= 2x JSON, p99 < 100 ms.
// Usage: npx tsx bench/console.ts   (PARTNERS=1000 EVENTS=100000 RUNS=200 to change the sizes)
import { cpus, loadavg } from 'node:os';
import { chainEvent, type AuditEventInput } from '../src/audit/index.js';
import { createTestAdminApp } from '../test/helpers/admin-app.js';
import { ADMIN_TOKEN } from '../test/helpers/broker.js';

const PARTNERS = Number(process.env['PARTNERS'] ?? 1000);
const EVENTS = Number(process.env['EVENTS'] ?? 100_000);
const RUNS = Number(process.env['RUNS'] ?? 200);

const t = await createTestAdminApp({ trustDomain: 'bench.test' });
let started = performance.now();
for (let i = 0; i < PARTNERS; i++) {
  await t.federation.create(
    { trustDomain: `partner-${i}.test`, url: `https://127.0.0.1:9/p${i}`, profile: 'https_web' },
    { actor: 'admin:bench', reason: `partner ${i}` },
  );
}
console.log(
  `setup: ${PARTNERS} partners in ${((performance.now() - started) / 1000).toFixed(1)} s`,
);
started = performance.now();
const have = (await t.store.lastAudit())?.id ?? 0;
for (let i = have; i < EVENTS; i++) {
  await t.store.appendAudit((previous, id) => {
    const event: AuditEventInput = {
      type: 'bundle.changed',
      actor: `admin:user${i % 7}`,
      trustDomain: `partner-${i % PARTNERS}.test`,
      details: { i },
    };
    const { id: _id, ...draft } = chainEvent(previous, event, Date.now(), id);
    return draft;
  });
}
const lastId = (await t.store.lastAudit())?.id ?? 0;
console.log(
  `setup: ${lastId} audit events in ${((performance.now() - started) / 1000).toFixed(1)} s`,
);

const login = await t.app.request('http://bench/console/login', {
  method: 'POST',
  // With a content-length, as over a socket (the admin app's body limit reads the stream without one).
  headers: {
    origin: 'http://bench',
    'content-type': 'application/x-www-form-urlencoded',
    'content-length': String(`token=${ADMIN_TOKEN}`.length),
  },
  body: `token=${ADMIN_TOKEN}`,
});
if (login.status !== 303) throw new Error(`console sign-in: ${login.status}`);
const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';

async function measure(path: string, headers: Record<string, string>): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i < RUNS + 10; i++) {
    const begin = performance.now();
    const response = await t.app.request(`http://bench${path}`, { headers });
    await response.text();
    if (response.status !== 200) throw new Error(`${path}: ${response.status}`);
    if (i >= 10) ms.push(performance.now() - begin);
  }
  return ms.sort((a, b) => a - b);
}
const pct = (ms: number[], p: number): number =>
  ms[Math.min(ms.length - 1, Math.floor(ms.length * p))] ?? 0;
const bearer = { authorization: `Bearer ${ADMIN_TOKEN}` };
const rows: [string, number[]][] = [
  ['GET /v1/admin/relationships (JSON)', await measure('/v1/admin/relationships', bearer)],
  // The page an admin opens: the first FEDERATION_PAGE_ROWS (200) of the partners; then the last
  // page and a filter (`q`) as the pager and the filter form ask for them.
  [`GET /console/federation page 1 (HTML)`, await measure('/console/federation', { cookie })],
  [
    `GET /console/federation last page`,
    await measure(`/console/federation?page=${Math.ceil(PARTNERS / 200)}`, { cookie }),
  ],
  [
    `GET /console/federation?q=partner-99`,
    await measure('/console/federation?q=partner-99', { cookie }),
  ],
  [
    'GET /v1/admin/audit newest 50 (JSON)',
    await measure(`/v1/admin/audit?fromId=${Math.max(1, lastId - 49)}&limit=50`, bearer),
  ],
  ['GET /console/audit newest 50 (HTML)', await measure('/console/audit', { cookie })],
];
console.log(
  `cpus ${cpus().length}, load ${loadavg()[0]?.toFixed(2)}; ${RUNS} sequential requests each`,
);
for (const [name, ms] of rows) {
  console.log(
    `${name.padEnd(40)} p50 ${pct(ms, 0.5).toFixed(2).padStart(8)} ms   p99 ${pct(ms, 0.99).toFixed(2).padStart(8)} ms`,
  );
}
const ratio = (html: number[], json: number[]): string =>
  (pct(html, 0.5) / pct(json, 0.5)).toFixed(2);
console.log(
  `federation page 1 / JSON of all ${PARTNERS} (p50): ${ratio(rows[1]?.[1] ?? [], rows[0]?.[1] ?? [])}x; ` +
    `audit page / JSON (p50): ${ratio(rows[5]?.[1] ?? [], rows[4]?.[1] ?? [])}x (target <= 2x, p99 < 100 ms)`,
);
await t.close();
