// Bundle endpoint throughput over TLS with keep-alive: our listener vs a bare node:https server
// returning the same bytes, measured with wrk in the same run (issue 5 bench a); also the endpoint
// served from its worker thread (bundleEndpoint.isolated, the default; issue 15). Loopback only.
import { execFile } from 'node:child_process';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { startBundleServer } from '../src/api/bundle-server.js';
import { DEFAULT_LISTENER_LIMITS } from '../src/api/listener-limits.js';
import { startIsolatedBundleListener } from '../src/api/isolated-bundle-server.js';
import { serveBundle } from '../src/federation/index.js';
import { createWebPki } from '../test/helpers/web-pki.js';

const DURATION = process.env['BENCH_DURATION'] ?? '5s';
const body = Buffer.from(
  JSON.stringify({
    keys: Array.from({ length: 3 }, (_, i) => ({
      kty: 'EC',
      use: 'jwt-svid',
      kid: `k${i}`,
      crv: 'P-256',
      x: 'A'.repeat(43),
      y: 'B'.repeat(43),
    })),
    spiffe_sequence: 7,
    spiffe_refresh_hint: 300,
  }),
);

function wrk(url: string): Promise<{ rps: number; p99: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      'wrk',
      ['-t2', '-c50', `-d${DURATION}`, '--latency', url],
      { timeout: 60_000 },
      (error, stdout) => {
        if (error) return reject(error);
        const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1] ?? NaN);
        const p99 = /Latency Distribution[\s\S]*?99%\s+(\S+)/.exec(stdout)?.[1] ?? '?';
        resolve({ rps, p99 });
      },
    );
  });
}

// wrk stands for one big partner: 50 connections from 127.0.0.1, over the default per-address cap
// of 16 (refused connections would make wrk reconnect and measure that), as bench/abuse.ts does.
const limits = { ...DEFAULT_LISTENER_LIMITS, maxConnectionsPerAddress: 64 };
const pki = createWebPki();
const ours = await startBundleServer({
  host: '127.0.0.1',
  port: 0,
  identity: { cert: pki.certPem, key: pki.keyPem },
  limits,
  current: (() => {
    const served = serveBundle(body, 300);
    return () => served;
  })(),
});
const isolated = await startIsolatedBundleListener({
  host: '127.0.0.1',
  port: 0,
  identity: { cert: pki.certPem, key: pki.keyPem },
  bundle: serveBundle(body, 300),
  limits,
});
const bare = createServer({ cert: pki.certPem, key: pki.keyPem }, (_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(body.length) });
  res.end(body);
});
await new Promise<void>((resolve) => bare.listen(0, '127.0.0.1', resolve));
const barePort = (bare.address() as AddressInfo).port;

try {
  await wrk(`https://127.0.0.1:${barePort}/`); // warm-up for both TLS stacks and the JIT
  // Alternate the two servers and keep each one's best round, so run order does not favour either.
  const best = (a: { rps: number; p99: string }, b: { rps: number; p99: string }) =>
    b.rps > a.rps ? b : a;
  let bareResult = { rps: 0, p99: '?' };
  let oursResult = { rps: 0, p99: '?' };
  let isolatedResult = { rps: 0, p99: '?' };
  for (let round = 0; round < 2; round++) {
    bareResult = best(bareResult, await wrk(`https://127.0.0.1:${barePort}/`));
    oursResult = best(oursResult, await wrk(`https://127.0.0.1:${ours.port}/`));
    isolatedResult = best(isolatedResult, await wrk(isolated.url));
  }
  console.log(
    `bundle body ${body.length} bytes, wrk -t2 -c50 -d${DURATION}, keep-alive, TLS on 127.0.0.1`,
  );
  console.log(
    `bare node:https       ${bareResult.rps.toFixed(0).padStart(8)} req/s   p99 ${bareResult.p99}`,
  );
  console.log(
    `fedbroker endpoint    ${oursResult.rps.toFixed(0).padStart(8)} req/s   p99 ${oursResult.p99}   (${(oursResult.rps / bareResult.rps).toFixed(2)} of bare; target >= 0.8)`,
  );
  console.log(
    `fedbroker, own thread ${isolatedResult.rps.toFixed(0).padStart(8)} req/s   p99 ${isolatedResult.p99}   (${(isolatedResult.rps / bareResult.rps).toFixed(2)} of bare, ${(isolatedResult.rps / oursResult.rps).toFixed(2)} of main-thread; bundleEndpoint.isolated)`,
  );
} finally {
  await ours.close();
  await isolated.close();
  bare.closeAllConnections();
  await new Promise<void>((resolve) => bare.close(() => resolve()));
}
