// X509-SVID renewals per second through the agent API (POST /v1/agent/x509svid over mTLS with
// keep-alive, each request a fresh CSR), beside the CA's in-process issuing rate for the same CSRs
// in the same run. Issue 6 target: API >= 0.5 of in-process. The client runs in a child process so
// its TLS and JSON work does not share the broker's event loop. Loopback only; about 20 s.
// Run: npx tsx bench/agent-renewals.ts
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { createAgent } from '../src/agent/index.js';
import { csrPem, newKeyAndCsr } from '../src/agent/csr.js';
import { marshalBundle, marshalPem } from '../src/bundle/index.js';
import { parseConfig } from '../src/config/index.js';
import { silentLogger } from '../src/log.js';
import { startBroker } from '../src/main.js';

const WINDOW_MS = 4000;
const IN_FLIGHT = 16;
const CSR_COUNT = 4000;

interface ClientResult {
  readonly ok: number;
  readonly failed: number;
  readonly seconds: number;
  readonly firstError: string | null;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'renew-bench-'));
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

    // In-process: the CA alone, same CSRs, same concurrency.
    const issue = (i: number): Promise<unknown> =>
      broker.ca.issueX509Svid({ spiffeId: svid.spiffeId, csr: csrs[i % CSR_COUNT] as Buffer });
    await Promise.all(Array.from({ length: 400 }, (_, i) => issue(i)));
    let ops = 0;
    let next = 0;
    const start = performance.now();
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (performance.now() - start < WINDOW_MS) {
          await issue(next++);
          ops++;
        }
      }),
    );
    const inProcess = (ops * 1000) / (performance.now() - start);

    // Through the agent API, from a child process.
    const spec = join(dir, 'client.json');
    writeFileSync(
      spec,
      JSON.stringify({
        url: broker.agentApiUrl,
        cert: marshalPem(svid.chainDer),
        key: svid.privateKeyPem,
        ca: marshalPem(broker.ca.localBundle().x509Authorities.map((a) => a.der)),
        csrs: csrs.map((der) => csrPem(der)),
        windowMs: WINDOW_MS,
        inFlight: IN_FLIGHT,
      }),
    );
    const client = fileURLToPath(new URL('./_renewal-client.ts', import.meta.url));
    const result = await new Promise<ClientResult>((resolve, reject) => {
      const child = fork(client, [spec], { execArgv: ['--import', 'tsx'], stdio: 'inherit' });
      const timer = setTimeout(() => child.kill('SIGKILL'), WINDOW_MS * 5 + 30_000);
      child.once('message', (message) => resolve(message as ClientResult));
      child.once('exit', (code) => {
        clearTimeout(timer);
        if (code !== 0) reject(new Error(`renewal client exited with ${String(code)}`));
      });
    });
    const overApi = result.ok / result.seconds;

    console.log(`cpus: ${availableParallelism()}  node ${process.version}  key type: ec-p256`);
    console.log(
      `in-process ca.issueX509Svid, ${IN_FLIGHT} in flight      ${Math.round(inProcess).toLocaleString('en-US').padStart(6)} /s`,
    );
    console.log(
      `agent API renewals over mTLS, keep-alive, ${IN_FLIGHT} in flight ${Math.round(overApi).toLocaleString('en-US').padStart(6)} /s  (${result.failed} failed${result.firstError === null ? '' : `: ${result.firstError}`})`,
    );
    console.log(`ratio ${(overApi / inProcess).toFixed(2)} (target >= 0.5)`);
    console.log(
      'Each renewal: mTLS peer check (X509-SVID verify against our bundle), entry lookup, CSR check,',
    );
    console.log('issue, audit append (svid.issued) and JSON; the client is a separate process.');
  } finally {
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
