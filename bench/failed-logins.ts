// Failed admin logins against a real broker (file store, admin API on 127.0.0.1): the admin API's
// authenticated req/s and p99 alone, then beside FAILED wrong-token requests from the same address
// (401 up to the limit, then 429), and the audit events those failures added (issue 15 #2: a few
// aggregates, never one per attempt; the window is 1 s here, one minute by default). Client and
// broker share this process. Usage: npx tsx bench/failed-logins.ts   (about 20 s)
import { cpus, loadavg } from 'node:os';
import { request, Agent } from 'node:http';
import { silentLogger } from '../src/log.js';
import { startBroker } from '../src/main.js';
import { ADMIN_TOKEN, testConfig } from '../test/helpers/broker.js';

const AUTHENTICATED = 5_000;
const FAILED = 20_000;
const IN_FLIGHT = 16;

const broker = await startBroker(testConfig({ trustDomain: 'bench.test' }), {
  logger: silentLogger,
  failedLoginWindowMs: 1_000,
});
const url = new URL('/v1/admin/relationships', broker.adminUrl);
const agent = new Agent({ keepAlive: true, maxSockets: IN_FLIGHT * 2 });

function call(token: string): Promise<{ status: number; ms: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(url, { agent, headers: { authorization: `Bearer ${token}` } }, (res) => {
      res.resume();
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, ms: performance.now() - started }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

async function run(
  count: number,
  token: string,
): Promise<{ statuses: Map<number, number>; ms: number[]; seconds: number }> {
  const statuses = new Map<number, number>();
  const ms: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < count) {
        next += 1;
        const result = await call(token);
        statuses.set(result.status, (statuses.get(result.status) ?? 0) + 1);
        ms.push(result.ms);
      }
    }),
  );
  return { statuses, ms, seconds: (performance.now() - started) / 1000 };
}

const p99 = (ms: number[]): string =>
  (ms.sort((a, b) => a - b)[Math.floor(ms.length * 0.99)] ?? 0).toFixed(2);
const audited = async (): Promise<number> =>
  (await broker.store.listAudit({ limit: 10_000 })).length;

console.log(
  `cpus ${cpus().length}, load ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
await run(500, ADMIN_TOKEN); // warm-up
const quiet = await run(AUTHENTICATED, ADMIN_TOKEN);
console.log(
  `quiet: ${(AUTHENTICATED / quiet.seconds).toFixed(0)} authenticated req/s, p99 ${p99(quiet.ms)} ms`,
);

const eventsBefore = await audited();
const [busy, failed] = await Promise.all([
  run(AUTHENTICATED, ADMIN_TOKEN),
  run(FAILED, 'wrong-token-wrong-token'),
]);
console.log(
  `beside ${FAILED} failed logins: ${(AUTHENTICATED / busy.seconds).toFixed(0)} authenticated req/s, p99 ${p99(busy.ms)} ms (${((quiet.seconds / busy.seconds) * 100).toFixed(0)} % of quiet)`,
);
console.log(
  `failed logins: ${(FAILED / failed.seconds).toFixed(0)} req/s, statuses ${JSON.stringify(Object.fromEntries(failed.statuses))}`,
);
await new Promise((resolve) => setTimeout(resolve, 1_500));
console.log(`audit events added by ${FAILED} failed logins: ${(await audited()) - eventsBefore}`);
agent.destroy();
await broker.stop();
