// Child process of bench/agent-renewals.ts: keeps IN_FLIGHT renewals going over keep-alive mTLS
// for the window and reports the counts to the parent.
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { performance } from 'node:perf_hooks';

const spec = JSON.parse(readFileSync(process.argv[2] as string, 'utf8')) as {
  url: string;
  cert: string;
  key: string;
  ca: string;
  csrs: string[];
  windowMs: number;
  inFlight: number;
};
const url = new URL(spec.url);
const agent = new Agent({
  keepAlive: true,
  maxSockets: spec.inFlight,
  cert: spec.cert,
  key: spec.key,
  ca: spec.ca,
  // The bench trusts the broker's own CA; the SPIFFE ID check is the SDK's job, not measured here.
  checkServerIdentity: () => undefined,
});

function renew(i: number): Promise<number> {
  const body = JSON.stringify({ csr: spec.csrs[i % spec.csrs.length] });
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: Number(url.port),
        method: 'POST',
        path: '/v1/agent/x509svid',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          res.statusCode === 200
            ? resolve(res.statusCode)
            : reject(
                new Error(
                  `HTTP ${res.statusCode}: ${Buffer.concat(chunks).toString().slice(0, 200)}`,
                ),
              ),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

let ok = 0;
let failed = 0;
let firstError: string | null = null;
let next = 0;
for (let i = 0; i < 200; i++) await renew(next++).catch(() => undefined);
const start = performance.now();
await Promise.all(
  Array.from({ length: spec.inFlight }, async () => {
    while (performance.now() - start < spec.windowMs) {
      try {
        await renew(next++);
        ok++;
      } catch (error) {
        failed++;
        firstError ??= (error as Error).message;
      }
    }
  }),
);
const seconds = (performance.now() - start) / 1000;
agent.destroy();
process.send?.({ ok, failed, seconds, firstError });
