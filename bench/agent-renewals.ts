// X509-SVID renewals per second through the agent API (POST /v1/agent/x509svid over mTLS with
// keep-alive, each request a fresh CSR), beside the CA's in-process issuing rate for the same CSRs
// at the same number in flight, in the same run. Issue 6 target: API >= 0.5 of in-process.
//
// Each side runs with its own default number of CSR-check workers: the in-process figure comes from
// a CA made on its own (one worker per core, its fastest in process), the API figure from the
// broker (one worker fewer, leaving a core to the event loop that serves TLS; ca.csrCheckWorkers).
// The broker's own CA would issue more slowly in process, so the ratio is not flattered by it.
//
// The client runs in a child process (its TLS and HTTP work does not share the broker's event loop,
// but it does share the machine's cores, as a real agent on the same host would). Both figures get
// a warm-up, then ROUNDS alternating windows (in-process, then API) so that a change of load on the
// machine hits both; every round is printed and the ratio is taken of the medians. The CPU time
// each side spent per operation (all threads of the process, then split into the event loop, the
// CA's signing threads and the rest, from /proc on Linux) shows where the time goes; the machine's
// idle share shows the CPU nobody used (while renewals wait, e.g. for the durable write); and the
// broker's audit-append histogram how much of a renewal's time in flight is the durable audit write.
// Loopback only; about 40 s. Run: npx tsx bench/agent-renewals.ts
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAgent } from '../src/agent/index.js';
import { csrPem, newKeyAndCsr } from '../src/agent/csr.js';
import { createCa } from '../src/ca/index.js';
import { marshalBundle, marshalPem } from '../src/bundle/index.js';
import { parseExposition, sampleValue } from '../test/helpers/prometheus.js';
import {
  fmt,
  inProcessIssuing,
  median,
  startBenchBroker,
  startClient,
  type ClientProcess,
} from './_client-process.js';
import { idleShare, machineCpuTicks, threadCpuNs, threadCpuPerOp } from './_thread-cpu.js';
import type { RoundResult } from './_renewal-client.js';

const WINDOW_MS = 4000;
const ROUNDS = 3;
/** Warm-up before the first round (JIT, worker threads, TLS sessions), per side. */
const WARM_MS = 3000;
/** mTLS connections of the client, and requests pipelined on each (HTTP/1.1); env overrides. */
const CONNECTIONS = Number(process.env['BENCH_CONNECTIONS'] ?? 4);
const DEPTH = Number(process.env['BENCH_DEPTH'] ?? 8);
const IN_FLIGHT = CONNECTIONS * DEPTH;
const CSR_COUNT = 4000;
const ADMIN_TOKEN = 'bench-admin-token-0123456789';

interface Figure {
  readonly rate: number;
  /** Broker process CPU (all threads: event loop, CSR workers, GC, libuv) per operation. */
  readonly brokerCpuMicros: number;
  /** Client process CPU per renewal (API rounds only). */
  readonly clientCpuMicros?: number;
  /** This process's CPU per operation by thread (event loop, signing threads, other), Linux. */
  readonly threads: string;
  /** Share of the machine's CPU left idle during the round, in % (Linux /proc/stat). */
  readonly idle: string;
}

async function main(): Promise<void> {
  const load = loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
  const dir = mkdtempSync(join(tmpdir(), 'renew-bench-'));
  const broker = await startBenchBroker(dir, ADMIN_TOKEN);
  let client: ClientProcess | undefined;
  let closeSoloCa = async (): Promise<void> => {};
  try {
    const entry = await broker.registration.createEntry(
      { spiffeId: 'spiffe://bench.example/agents/renewer/{instance}' },
      'bench',
    );
    const { token } = await broker.registration.createToken(entry.id, { actor: 'bench' });
    const agent = await createAgent({
      brokerUrl: broker.agentApiUrl,
      joinToken: token,
      brokerBundle: marshalBundle(broker.ca.localBundle()),
      watch: false,
    });
    const svid = agent.x509Svid();
    await agent.close();

    const csrs = Array.from({ length: CSR_COUNT }, () => newKeyAndCsr().csrDer);

    // In-process: a CA on its own with its defaults (CSR-check workers included), same CSRs, same
    // number in flight.
    const soloCa = await createCa(
      { now: () => Date.now() },
      { trustDomain: 'bench.example', dataDir: join(dir, 'solo-ca') },
    );
    closeSoloCa = () => soloCa.close();
    const issuing = inProcessIssuing(soloCa, svid.spiffeId.toString(), csrs, IN_FLIGHT);
    const inProcessRound = async (windowMs: number): Promise<Figure> => {
      const before = threadCpuNs();
      const machine0 = machineCpuTicks();
      const { rate, cpuMicros, ops } = await issuing(windowMs);
      return {
        rate,
        brokerCpuMicros: cpuMicros,
        threads: threadCpuPerOp(before, threadCpuNs(), ops),
        idle: idleShare(machine0, machineCpuTicks()),
      };
    };

    // Through the agent API, from a child process that stays connected across rounds.
    const started = await startClient(dir, {
      url: broker.agentApiUrl,
      cert: marshalPem(svid.chainDer),
      key: svid.privateKeyPem,
      ca: marshalPem(broker.ca.localBundle().x509Authorities.map((a) => a.der)),
      csrs: csrs.map((der) => csrPem(der)),
      connections: CONNECTIONS,
      depth: DEPTH,
    });
    client = started;

    const apiRound = async (windowMs: number): Promise<Figure & { result: RoundResult }> => {
      const cpu0 = process.cpuUsage();
      const threads0 = threadCpuNs();
      const machine0 = machineCpuTicks();
      const result = await started.round(windowMs);
      const cpu = process.cpuUsage(cpu0);
      const threads = threadCpuPerOp(threads0, threadCpuNs(), result.ok);
      if (result.failed > 0) {
        throw new Error(`${result.failed} renewals failed; first: ${result.firstError}`);
      }
      return {
        rate: result.ok / result.seconds,
        // The broker also finishes the requests still in flight at the window's end: a slight
        // overestimate of its CPU per renewal.
        brokerCpuMicros: (cpu.user + cpu.system) / result.ok,
        clientCpuMicros: result.cpuMicros / result.ok,
        threads,
        idle: idleShare(machine0, machineCpuTicks()),
        result,
      };
    };

    // The broker's own audit-append histogram (admin /metrics): how long renewals wait for the
    // durable svid.issued event. The in-process rounds append nothing.
    const auditAppends = async (): Promise<{ sum: number; count: number }> => {
      const response = await fetch(`${broker.adminUrl}/metrics`, {
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      });
      const families = parseExposition(await response.text());
      const value = (suffix: string): number =>
        sampleValue(families, `fedbroker_audit_append_duration_seconds_${suffix}`) ?? 0;
      return { sum: value('sum'), count: value('count') };
    };

    await inProcessRound(WARM_MS);
    await apiRound(WARM_MS);
    const inProcess: Figure[] = [];
    const overApi: Figure[] = [];
    const auditBefore = await auditAppends();
    for (let i = 0; i < ROUNDS; i++) {
      inProcess.push(await inProcessRound(WINDOW_MS));
      overApi.push(await apiRound(WINDOW_MS));
    }
    const auditAfter = await auditAppends();
    const auditWaitMs =
      ((auditAfter.sum - auditBefore.sum) * 1000) /
      Math.max(1, auditAfter.count - auditBefore.count);
    const inFlightMs = (IN_FLIGHT * 1000) / median(overApi.map((f) => f.rate));

    const ratio = median(overApi.map((f) => f.rate)) / median(inProcess.map((f) => f.rate));
    console.log(
      `cpus: ${availableParallelism()}  node ${process.version}  key type: ec-p256  load average at start: ${load}`,
    );
    console.log(
      `${IN_FLIGHT} in flight on both sides: in-process ${IN_FLIGHT} concurrent ca.issueX509Svid calls; ` +
        `API ${CONNECTIONS} mTLS keep-alive connections x ${DEPTH} pipelined requests,`,
    );
    console.log(
      'from a client in a separate process on the same cores. Warm-up 3 s each, then rounds of 4 s.',
    );
    console.log(
      `CSR-check workers: in-process ${soloCa.options.csrCheckWorkers} (a CA on its own, its default), ` +
        `API ${broker.ca.options.csrCheckWorkers} (the broker's default, ca.csrCheckWorkers)`,
    );
    console.log('round  in-process /s (cpu us/op)   agent API /s (broker + client cpu us/op)');
    for (let i = 0; i < ROUNDS; i++) {
      const a = inProcess[i] as Figure;
      const b = overApi[i] as Figure;
      console.log(
        `${String(i + 1).padStart(5)}  ${fmt(a.rate).padStart(13)} (${fmt(a.brokerCpuMicros).padStart(4)})` +
          `        ${fmt(b.rate).padStart(12)} (${fmt(b.brokerCpuMicros)} + ${fmt(b.clientCpuMicros ?? 0)})` +
          `   ratio ${(b.rate / a.rate).toFixed(2)}`,
      );
    }
    console.log(
      'CPU us per operation by thread of the bench process, and the machine left idle (Linux /proc):',
    );
    for (let i = 0; i < ROUNDS; i++) {
      console.log(
        `${String(i + 1).padStart(5)}  in-process: ${(inProcess[i] as Figure).threads}; machine idle ${(inProcess[i] as Figure).idle} %` +
          `;  API (broker): ${(overApi[i] as Figure).threads}; machine idle ${(overApi[i] as Figure).idle} %`,
      );
    }
    console.log(
      `median in-process ca.issueX509Svid    ${fmt(median(inProcess.map((f) => f.rate))).padStart(6)} /s`,
    );
    console.log(
      `median agent API renewals over mTLS   ${fmt(median(overApi.map((f) => f.rate))).padStart(6)} /s  (0 failed)`,
    );
    console.log(`ratio ${ratio.toFixed(2)} (target >= 0.5)`);
    console.log(
      `API renewals: about ${inFlightMs.toFixed(1)} ms in flight each (${IN_FLIGHT} / rate), of which ` +
        `${auditWaitMs.toFixed(1)} ms waiting for the durable audit append (fedbroker_audit_append_duration_seconds)`,
    );
    console.log(
      'Each renewal: mTLS peer check (X509-SVID verify against our bundle, cached per connection),',
    );
    console.log(
      'entry lookup, CSR signature check, issue, durable audit append (svid.issued), metrics, JSON.',
    );
  } finally {
    client?.close();
    await closeSoloCa();
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
