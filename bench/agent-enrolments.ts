// Enrolments per second through the agent API (POST /v1/agent/attest: a one-time join token and a
// fresh CSR, over TLS without a client certificate), the load a burst of ephemeral agents makes,
// beside the CA's in-process issuing rate at the same number in flight, in the same run. Each
// enrolment checks the CSR, spends the token (a durable store write), audits token.used, issues the
// X509-SVID and audits svid.issued. Connections without a certificate take turns per connection
// (issue 15), so the client keeps one enrolment in flight on each of 32 connections.
// The client is bench/_renewal-client.ts in a child process. Loopback only; about 30 s.
// Run: npx tsx bench/agent-enrolments.ts
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { csrPem, newKeyAndCsr } from '../src/agent/csr.js';
import { marshalPem } from '../src/bundle/index.js';
import { createCa } from '../src/ca/index.js';
import { parseConfig } from '../src/config/index.js';
import { silentLogger } from '../src/log.js';
import { startBroker } from '../src/main.js';
import type { RoundResult } from './_renewal-client.js';

const CONNECTIONS = 32;
const WARM_MS = 1000;
const WINDOW_MS = 2000;
const ROUNDS = 3;
/** One per enrolment: enough for the warm-up and the rounds at up to 4,000 enrolments/s. */
const TOKENS = 30_000;
const CSR_COUNT = 2000;

const median = (values: readonly number[]): number =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

async function main(): Promise<void> {
  const load = loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
  const dir = mkdtempSync(join(tmpdir(), 'enrol-bench-'));
  const config = parseConfig({
    trustDomain: 'bench.example',
    dataDir: join(dir, 'state'),
    bundleEndpoint: { listen: '127.0.0.1:0', profile: 'https_spiffe' },
    agentApi: { listen: '127.0.0.1:0' },
    adminApi: { listen: '127.0.0.1:0' },
  });
  const broker = await startBroker(
    {
      config,
      path: join(dir, 'broker.yaml'),
      dataDir: join(dir, 'state'),
      adminTokenFromEnv: 'bench-admin-token-0123456789',
    },
    { logger: silentLogger },
  );
  let child: ReturnType<typeof fork> | undefined;
  let closeSoloCa = async (): Promise<void> => {};
  try {
    const entry = await broker.registration.createEntry(
      { spiffeId: 'spiffe://bench.example/agents/ephemeral/{instance}' },
      'bench',
    );
    const startedTokens = performance.now();
    const tokens: string[] = [];
    for (let i = 0; i < TOKENS; i++) {
      tokens.push((await broker.registration.createToken(entry.id, { actor: 'bench' })).token);
    }
    const tokenSeconds = (performance.now() - startedTokens) / 1000;
    const csrs = Array.from({ length: CSR_COUNT }, () => csrPem(newKeyAndCsr().csrDer));

    const soloCa = await createCa(
      { now: () => Date.now() },
      { trustDomain: 'bench.example', dataDir: join(dir, 'solo-ca') },
    );
    closeSoloCa = () => soloCa.close();
    const csrDers = Array.from({ length: CSR_COUNT }, () => newKeyAndCsr().csrDer);
    let next = 0;
    const inProcessRound = async (windowMs: number): Promise<number> => {
      let ops = 0;
      const start = performance.now();
      await Promise.all(
        Array.from({ length: CONNECTIONS }, async () => {
          while (performance.now() - start < windowMs) {
            await soloCa.issueX509Svid({
              spiffeId: 'spiffe://bench.example/agents/ephemeral/x',
              csr: csrDers[next++ % CSR_COUNT] as Buffer,
            });
            ops++;
          }
        }),
      );
      return (ops * 1000) / (performance.now() - start);
    };

    const spec = join(dir, 'client.json');
    writeFileSync(
      spec,
      JSON.stringify({
        url: broker.agentApiUrl,
        ca: marshalPem(broker.ca.localBundle().x509Authorities.map((a) => a.der)),
        csrs: [],
        path: '/v1/agent/attest',
        bodies: tokens.map((joinToken, i) =>
          JSON.stringify({ joinToken, csr: csrs[i % CSR_COUNT] }),
        ),
        connections: CONNECTIONS,
        depth: 1,
      }),
    );
    const clientFile = fileURLToPath(new URL('./_renewal-client.ts', import.meta.url));
    const started = fork(clientFile, [spec], { execArgv: ['--import', 'tsx'], stdio: 'inherit' });
    child = started;
    const exited = new Promise<never>((_, reject) =>
      started.once('exit', (code) => reject(new Error(`enrolment client exited with ${code}`))),
    );
    const nextMessage = <T>(): Promise<T> =>
      Promise.race([
        new Promise<T>((resolve) => started.once('message', (m) => resolve(m as T))),
        exited,
      ]);
    await nextMessage<{ ready: true }>();
    /** Broker CPU (all threads of this process) per enrolment, API rounds only. */
    const brokerCpu: number[] = [];
    const apiRound = async (windowMs: number): Promise<number> => {
      const reply = nextMessage<RoundResult>();
      const cpu0 = process.cpuUsage();
      started.send({ cmd: 'run', windowMs });
      const result = await reply;
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
    child?.send({ cmd: 'exit' });
    await closeSoloCa();
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
