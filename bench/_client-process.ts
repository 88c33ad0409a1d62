// Shared by the agent API benches (agent-renewals, agent-enrolments, renewal-floor): a broker on
// loopback with the embedded store, the request client (_renewal-client.ts) in a child process
// driven round by round, the CA's in-process rate they compare with, and the median and number
// formats they print.
import { fork, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { Ca } from '../src/ca/index.js';
import { parseConfig } from '../src/config/index.js';
import { silentLogger } from '../src/log.js';
import { startBroker, type Broker } from '../src/main.js';
import type { RoundResult } from './_renewal-client.js';

export const median = (values: readonly number[]): number =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
export const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

/**
 * The in-process reference: `inFlight` concurrent `ca.issueX509Svid` calls for `spiffeId`, each
 * with the next of `csrs` (DER), for `windowMs`. Issued per second, and this process's CPU (all
 * threads) per issuance.
 */
export function inProcessIssuing(
  ca: Pick<Ca, 'issueX509Svid'>,
  spiffeId: string,
  csrs: readonly Uint8Array[],
  inFlight: number,
): (windowMs: number) => Promise<{ rate: number; cpuMicros: number; ops: number }> {
  let next = 0;
  return async (windowMs) => {
    let ops = 0;
    const cpu0 = process.cpuUsage();
    const start = performance.now();
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        while (performance.now() - start < windowMs) {
          await ca.issueX509Svid({ spiffeId, csr: csrs[next++ % csrs.length] as Uint8Array });
          ops++;
        }
      }),
    );
    const elapsed = performance.now() - start;
    const cpu = process.cpuUsage(cpu0);
    return { rate: (ops * 1000) / elapsed, cpuMicros: (cpu.user + cpu.system) / ops, ops };
  };
}

/** A broker of `bench.example` under `dir` with every listener on a free loopback port. */
export function startBenchBroker(dir: string, adminToken: string): Promise<Broker> {
  const config = parseConfig({
    trustDomain: 'bench.example',
    dataDir: join(dir, 'state'),
    bundleEndpoint: { listen: '127.0.0.1:0', profile: 'https_spiffe' },
    agentApi: { listen: '127.0.0.1:0' },
    adminApi: { listen: '127.0.0.1:0' },
  });
  return startBroker(
    {
      config,
      path: join(dir, 'broker.yaml'),
      dataDir: join(dir, 'state'),
      adminTokenFromEnv: adminToken,
    },
    { logger: silentLogger },
  );
}

export interface ClientProcess {
  /** Runs one window of requests; the client's figures for it. */
  round(windowMs: number): Promise<RoundResult>;
  /** Tells the client to close its connections and exit. */
  close(): void;
}

/** Writes `spec` (see _renewal-client.ts) into `dir` and starts the client; resolves once it is ready. */
export async function startClient(dir: string, spec: object): Promise<ClientProcess> {
  const specFile = join(dir, 'client.json');
  writeFileSync(specFile, JSON.stringify(spec));
  const clientFile = fileURLToPath(new URL('./_renewal-client.ts', import.meta.url));
  const child: ChildProcess = fork(clientFile, [specFile], {
    execArgv: ['--import', 'tsx'],
    stdio: 'inherit',
  });
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code) => reject(new Error(`bench client exited with ${code}`))),
  );
  exited.catch(() => undefined);
  const nextMessage = <T>(): Promise<T> =>
    Promise.race([
      new Promise<T>((resolve) => child.once('message', (m) => resolve(m as T))),
      exited,
    ]);
  await nextMessage<{ ready: true }>();
  return {
    round: (windowMs) => {
      const reply = nextMessage<RoundResult>();
      child.send({ cmd: 'run', windowMs });
      return reply;
    },
    close: () => {
      if (child.connected) child.send({ cmd: 'exit' });
    },
  };
}
