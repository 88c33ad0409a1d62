// Enrolments per second through the agent API (POST /v1/agent/attest: a one-time join token and a
// fresh CSR, over TLS without a client certificate), the load a burst of ephemeral agents makes,
// beside the CA's in-process issuing rate at the same number in flight, in the same run. Each
// enrolment checks the CSR, spends the token (a durable store write), audits token.used, issues the
// X509-SVID and audits svid.issued. Connections without a certificate take turns per connection
// (issue 15), so the client keeps one enrolment in flight on each of 32 connections.
// The client is bench/_renewal-client.ts in a child process. Loopback only; about 30 s.
// Run: npx tsx bench/agent-enrolments.ts
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { csrPem, newKeyAndCsr } from '../src/agent/csr.js';
import { marshalPem } from '../src/bundle/index.js';
import { createCa } from '../src/ca/index.js';
import {
  fmt,
  inProcessIssuing,
  median,
  startBenchBroker,
  startClient,
  type ClientProcess,
} from './_client-process.js';

const CONNECTIONS = 32;
const WARM_MS = 1000;
const WINDOW_MS = 2000;
const ROUNDS = 3;
/** One per enrolment: enough for the warm-up and the rounds at up to 7,000 enrolments/s. */
const TOKENS = 50_000;
/** Tokens made concurrently beforehand (their store writes share group commits). */
const TOKEN_BATCH = 64;
const CSR_COUNT = 2000;

async function main(): Promise<void> {
  const load = loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
  const dir = mkdtempSync(join(tmpdir(), 'enrol-bench-'));
  const broker = await startBenchBroker(dir, 'bench-admin-token-0123456789');
  let client: ClientProcess | undefined;
  let closeSoloCa = async (): Promise<void> => {};
  try {
    const entry = await broker.registration.createEntry(
      { spiffeId: 'spiffe://bench.example/agents/ephemeral/{instance}' },
      'bench',
    );
    const startedTokens = performance.now();
    const tokens: string[] = [];
    while (tokens.length < TOKENS) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(TOKEN_BATCH, TOKENS - tokens.length) }, () =>
          broker.registration.createToken(entry.id, { actor: 'bench' }),
        ),
      );
      tokens.push(...batch.map((made) => made.token));
    }
    const tokenSeconds = (performance.now() - startedTokens) / 1000;
    const csrs = Array.from({ length: CSR_COUNT }, () => csrPem(newKeyAndCsr().csrDer));

    const soloCa = await createCa(
      { now: () => Date.now() },
      { trustDomain: 'bench.example', dataDir: join(dir, 'solo-ca') },
    );
    closeSoloCa = () => soloCa.close();
    const csrDers = Array.from({ length: CSR_COUNT }, () => newKeyAndCsr().csrDer);
    const issuing = inProcessIssuing(
      soloCa,
      'spiffe://bench.example/agents/ephemeral/x',
      csrDers,
      CONNECTIONS,
    );
    const inProcessRound = async (windowMs: number): Promise<number> =>
      (await issuing(windowMs)).rate;

    const started = await startClient(dir, {
      url: broker.agentApiUrl,
      ca: marshalPem(broker.ca.localBundle().x509Authorities.map((a) => a.der)),
      csrs: [],
      path: '/v1/agent/attest',
      bodies: tokens.map((joinToken, i) => JSON.stringify({ joinToken, csr: csrs[i % CSR_COUNT] })),
      connections: CONNECTIONS,
      depth: 1,
    });
    client = started;
    /** Broker CPU (all threads of this process) per enrolment, API rounds only. */
    const brokerCpu: number[] = [];
    const apiRound = async (windowMs: number): Promise<number> => {
      const cpu0 = process.cpuUsage();
      const result = await started.round(windowMs);
      const cpu = process.cpuUsage(cpu0);
      if (result.failed > 0) {
        throw new Error(`${result.failed} enrolments failed; first: ${result.firstError}`);
      }
      brokerCpu.push((cpu.user + cpu.system) / result.ok);
      return result.ok / result.seconds;
    };

    await inProcessRound(WARM_MS);
    await apiRound(WARM_MS);
    brokerCpu.length = 0;
    const inProcess: number[] = [];
    const overApi: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      inProcess.push(await inProcessRound(WINDOW_MS));
      overApi.push(await apiRound(WINDOW_MS));
    }
    console.log(
      `cpus: ${availableParallelism()}  node ${process.version}  load average at start: ${load}`,
    );
    console.log(
      `${CONNECTIONS} in flight: ${CONNECTIONS} TLS keep-alive connections without a client certificate, one enrolment each (join token + CSR)`,
    );
    console.log(`${fmt(TOKENS)} join tokens made beforehand in ${tokenSeconds.toFixed(1)} s`);
    console.log(
      `in-process ca.issueX509Svid (${CONNECTIONS} concurrent)   ${fmt(median(inProcess)).padStart(7)} /s  (rounds ${inProcess.map(fmt).join(', ')})`,
    );
    console.log(
      `enrolments over the agent API           ${fmt(median(overApi)).padStart(7)} /s  (rounds ${overApi.map(fmt).join(', ')})`,
    );
    console.log(`ratio ${(median(overApi) / median(inProcess)).toFixed(2)}`);
    console.log(
      `broker CPU per enrolment (all threads; slightly high: requests still in flight at a window's end) ${brokerCpu.map((v) => Math.round(v)).join(', ')} us`,
    );
  } finally {
    client?.close();
    await closeSoloCa();
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
