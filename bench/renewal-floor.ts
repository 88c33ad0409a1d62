// How fast could an X509-SVID renewal over HTTPS be on this machine with nothing of the broker around
// it? The same client as bench/agent-renewals.ts (a child process, 4 mTLS keep-alive connections x 8
// pipelined requests, each a fresh CSR) against a bare node:https server that does a renewal's
// essential work, one layer at a time:
//   tls+http        a fixed answer of an SVID's size (TLS, HTTP and the client alone)
//   +ca             the CSR read from the JSON body and issued by the CA (requestsInFlight counted)
//   +audit          and the svid.issued record appended durably (file store, O_DSYNC group commit)
//   hono+ca+audit   the same, through a Hono app on @hono/node-server (the broker's stack)
// beside the in-process rate of a CA on its own (its default signing threads, one per core) at the
// same 32 in flight, in the same run: the reference bench/agent-renewals.ts divides by. The server's
// CA has the broker's default signing threads (ca.csrCheckWorkers, one fewer than the cores), as the
// broker's would; its own in-process rate is printed too. Each mode's row gives the share of the
// machine's CPU left idle: waits (the durable write) that no other work filled. The broker's own
// figure (bench/agent-renewals.ts) adds mTLS peer checks, entry lookup, validation, limits, metrics.
// Loopback only; about 70 s. Run: npx tsx bench/renewal-floor.ts
import { mkdtempSync, rmSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { getRequestListener } from '@hono/node-server';
import { Hono } from 'hono';
import { csrPem, newKeyAndCsr } from '../src/agent/csr.js';
import { chainTrimmedEvent, createAuditRecorder } from '../src/audit/index.js';
import { marshalPem } from '../src/bundle/index.js';
import { createCa, type Ca } from '../src/ca/index.js';
import { defaultCsrCheckWorkers } from '../src/config/index.js';
import { createFileStore } from '../src/store/index.js';
import {
  fmt,
  inProcessIssuing,
  median,
  startClient,
  type ClientProcess,
} from './_client-process.js';
import { idleShare, machineCpuTicks } from './_thread-cpu.js';

const MODES = ['tls+http', '+ca', '+audit', 'hono+ca+audit'] as const;
type Mode = (typeof MODES)[number];
const WARM_MS = 2000;
const WINDOW_MS = 3000;
const ROUNDS = 3;
const CONNECTIONS = 4;
const DEPTH = 8;
const IN_FLIGHT = CONNECTIONS * DEPTH;
const CSR_COUNT = 2000;
const SPIFFE_ID = 'spiffe://bench.example/agents/renewer/bench';

/** The answer's JSON, as the agent API shapes it. */
function answer(chainDer: readonly Buffer[], notAfter: Date): string {
  return JSON.stringify({
    spiffeId: SPIFFE_ID,
    instanceId: null,
    x509Svid: {
      chain: chainDer.map((der) => der.toString('base64')),
      expiresAt: notAfter.toISOString(),
    },
  });
}

function csrDerOf(body: string): Buffer {
  const { csr } = JSON.parse(body) as { csr: string };
  return Buffer.from(csr.replace(/-----[^-]+-----|\s/g, ''), 'base64');
}

async function main(): Promise<void> {
  const load = loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
  const dir = mkdtempSync(join(tmpdir(), 'renewal-floor-'));
  let inFlight = 0;
  let mode: Mode = 'tls+http';
  // The server's CA, with the broker's default signing threads (src/main.ts).
  const ca: Ca = await createCa(
    { now: () => Date.now(), requestsInFlight: () => inFlight },
    {
      trustDomain: 'bench.example',
      dataDir: join(dir, 'ca'),
      csrCheckWorkers: defaultCsrCheckWorkers(),
    },
  );
  // The reference: a CA on its own with its defaults, as bench/agent-renewals.ts measures it.
  const soloCa: Ca = await createCa(
    { now: () => Date.now() },
    { trustDomain: 'bench.example', dataDir: join(dir, 'solo-ca') },
  );
  const store = await createFileStore(
    { dir: join(dir, 'state') },
    { now: () => Date.now(), auditTrimmed: chainTrimmedEvent },
  );
  const record = createAuditRecorder({ store, now: () => Date.now() });
  let client: ClientProcess | undefined;
  try {
    const serverSvid = await ca.issueOwnSvid('spiffe://bench.example/server');
    const clientSvid = await ca.issueOwnSvid(SPIFFE_ID);
    const caPem = marshalPem(ca.localBundle().x509Authorities.map((a) => a.der));
    const csrs = Array.from({ length: CSR_COUNT }, () => newKeyAndCsr().csrDer);
    const canned = answer(clientSvid.chainDer, clientSvid.notAfter);

    /** A renewal's work after the body is read, as far as `mode` goes. */
    const renew = async (body: string): Promise<string> => {
      if (mode === 'tls+http') return canned;
      const issued = await ca.issueX509Svid({ spiffeId: SPIFFE_ID, csr: csrDerOf(body) });
      if (mode !== '+ca') {
        await record({
          type: 'svid.issued',
          actor: SPIFFE_ID,
          details: {
            kind: 'x509',
            via: 'renew',
            spiffeId: SPIFFE_ID,
            instanceId: 'bench',
            entryId: 'bench-entry-0001',
            serial: issued.serialHex,
            expiresAt: issued.notAfter.toISOString(),
          },
        });
      }
      return answer(issued.chainDer, issued.notAfter);
    };
    const bare = (req: IncomingMessage, res: ServerResponse): void => {
      inFlight++;
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        renew(Buffer.concat(chunks).toString('utf8')).then(
          (text) => {
            inFlight--;
            res.writeHead(200, {
              'content-type': 'application/json',
              'content-length': Buffer.byteLength(text),
            });
            res.end(text);
          },
          (error: unknown) => {
            inFlight--;
            res.writeHead(500).end(String(error));
          },
        );
      });
    };
    const app = new Hono();
    app.post('/v1/agent/x509svid', async (c) => {
      inFlight++;
      try {
        return c.body(await renew(await c.req.text()), 200, { 'content-type': 'application/json' });
      } finally {
        inFlight--;
      }
    });
    const viaHono = getRequestListener(app.fetch);
    const server = createServer(
      {
        cert: serverSvid.chainPem,
        key: serverSvid.privateKey.export({ format: 'pem', type: 'pkcs8' }),
        ca: caPem,
        requestCert: true,
        rejectUnauthorized: true,
      },
      (req, res) => {
        // The Hono listener answers its own errors; its promise only says it finished.
        if (mode === 'hono+ca+audit') void viaHono(req, res);
        else bare(req, res);
      },
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };

    const started = await startClient(dir, {
      url: `https://127.0.0.1:${port}`,
      cert: clientSvid.chainPem,
      key: clientSvid.privateKey.export({ format: 'pem', type: 'pkcs8' }),
      ca: caPem,
      csrs: csrs.map((der) => csrPem(der)),
      connections: CONNECTIONS,
      depth: DEPTH,
    });
    client = started;
    const idle = new Map<Mode, string[]>(MODES.map((m) => [m, []]));
    const apiRound = async (windowMs: number): Promise<number> => {
      const machine0 = machineCpuTicks();
      const result = await started.round(windowMs);
      idle.get(mode)?.push(idleShare(machine0, machineCpuTicks()));
      if (result.failed > 0) {
        throw new Error(`${result.failed} renewals failed (${mode}); first: ${result.firstError}`);
      }
      return result.ok / result.seconds;
    };
    const soloIssuing = inProcessIssuing(soloCa, SPIFFE_ID, csrs, IN_FLIGHT);
    const servedIssuing = inProcessIssuing(ca, SPIFFE_ID, csrs, IN_FLIGHT);

    await soloIssuing(WARM_MS);
    await servedIssuing(WARM_MS);
    const inProcess: number[] = [];
    const servedInProcess: number[] = [];
    const rates = new Map<Mode, number[]>(MODES.map((m) => [m, []]));
    for (const m of MODES) {
      mode = m;
      await apiRound(WARM_MS);
    }
    // Rounds alternate over the modes, so that a change of load on the machine hits them all.
    for (let round = 0; round < ROUNDS; round++) {
      inProcess.push((await soloIssuing(WINDOW_MS)).rate);
      servedInProcess.push((await servedIssuing(WINDOW_MS)).rate);
      for (const m of MODES) {
        mode = m;
        rates.get(m)?.push(await apiRound(WINDOW_MS));
      }
    }
    // The warm-up rounds' idle shares are not reported.
    for (const shares of idle.values()) shares.splice(0, shares.length - ROUNDS);
    server.close();
    const reference = median(inProcess);
    console.log(
      `cpus: ${availableParallelism()}  node ${process.version}  load average at start: ${load}`,
    );
    console.log(
      `${IN_FLIGHT} in flight: ${CONNECTIONS} mTLS keep-alive connections x ${DEPTH} pipelined renewals, client in a child process`,
    );
    console.log(
      `in-process ca.issueX509Svid, a CA on its own (signing threads: ${soloCa.options.csrCheckWorkers}, ${IN_FLIGHT} concurrent): ` +
        `${fmt(reference)} /s  (rounds ${inProcess.map(fmt).join(', ')})`,
    );
    console.log(
      `in-process ca.issueX509Svid, the server's CA (signing threads: ${ca.options.csrCheckWorkers}, the broker's default): ` +
        `${fmt(median(servedInProcess))} /s  (rounds ${servedInProcess.map(fmt).join(', ')})`,
    );
    console.log(
      `renewals over HTTPS (the server's CA), ratio to the CA on its own, machine idle %:`,
    );
    for (const m of MODES) {
      const values = rates.get(m) ?? [];
      console.log(
        `  ${m.padEnd(14)}  ${fmt(median(values)).padStart(7)} /s  ` +
          `${(median(values) / reference).toFixed(2)}  (rounds ${values.map(fmt).join(', ')}; ` +
          `idle ${(idle.get(m) ?? []).join(', ')} %)`,
      );
    }
  } finally {
    client?.close();
    await ca.close();
    await soloCa.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
