// Child process of bench/federation-scale.ts (bench/run.ts skips `_` files): one HTTPS bundle endpoint on
// 127.0.0.1 serving the bundles of many partner trust domains, path per partner (`/<td>`), from one
// private Web PKI. Prints one JSON line {port, caPem} when ready; `GET /_stats` counts requests.
// Usage (by the bench only): node --import tsx bench/_federation-endpoints.ts <count>
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { Bundle, jwtAuthorityFromJwk, marshalBundle } from '../src/bundle/index.js';
import { parseTrustDomain } from '../src/spiffeid/index.js';
import { authorityOf, createCa, createJwtKey, createLeaf, EKU } from '../test/helpers/pki.js';

const count = Number(process.argv[2] ?? '0');
if (!Number.isSafeInteger(count) || count < 1 || count > 100_000) {
  throw new Error(`usage: _federation-endpoints.ts <count 1..100000>, got ${process.argv[2]}`);
}

function partnerName(i: number): string {
  return `p${i}.bench.test`;
}

const root = await createCa({ subject: 'CN=Bench Web Root' });
const leaf = await createLeaf(root, {
  spiffeIds: [],
  dnsNames: ['localhost'],
  ips: ['127.0.0.1'],
  extKeyUsage: [EKU.serverAuth],
});

// One CA and one JWT key per partner, like real trust domains (a ~1.3 KB bundle each).
const bodies = new Map<string, Buffer>();
for (let i = 0; i < count; i++) {
  const td = partnerName(i);
  const ca = await createCa({ trustDomain: td });
  const jwt = await createJwtKey('ES256', `${td}-k1`);
  bodies.set(
    `/${td}`,
    marshalBundle(
      new Bundle({
        trustDomain: parseTrustDomain(td),
        x509Authorities: [authorityOf(ca)],
        jwtAuthorities: [jwtAuthorityFromJwk(jwt.kid, jwt.jwk)],
        sequence: 1n,
        refreshHintSeconds: 300,
      }),
    ),
  );
}

let requests = 0;
const server = createServer(
  {
    cert: leaf.pem,
    key: leaf.nodePrivateKey().export({ format: 'pem', type: 'pkcs8' }),
    minVersion: 'TLSv1.2',
  },
  (req, res) => {
    const path = new URL(req.url ?? '/', 'https://x').pathname;
    if (path === '/_stats') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ requests }));
      return;
    }
    requests += 1;
    const body = bodies.get(path);
    if (body === undefined) {
      res.writeHead(404);
      res.end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
    res.end(body);
  },
);
server.on('tlsClientError', () => undefined);
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
process.stdout.write(
  JSON.stringify({ port: (server.address() as AddressInfo).port, caPem: root.pem }) + '\n',
);
// Stops with the parent: SIGTERM, or stdin closing when the parent goes away.
const stop = (): void => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.stdin.on('end', stop);
process.stdin.resume();
