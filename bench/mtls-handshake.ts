// Full mTLS handshakes per second (no session resumption) between two agent SDK peers of different
// trust domains (per-trust-domain X509-SVID verification, X509-25), beside plain node:tls mutual TLS
// with the same keys and one CA per side (`ca:`, rejectUnauthorized true), in the same run.
// Run: npx tsx bench/mtls-handshake.ts (loopback only, bounded to about 20 s). Target: ratio >= 0.7.
import { performance } from 'node:perf_hooks';
import * as tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import {
  authorizeId,
  authorizeMemberOf,
  connectMtls,
  createMtlsServer,
  staticSource,
} from '../src/agent/index.js';
import { BundleSet } from '../src/bundle/index.js';
import { parseSpiffeId, parseTrustDomain } from '../src/spiffeid/index.js';
import { svidOf } from '../test/helpers/agent.js';
import { bundleOf, createCa, createLeaf } from '../test/helpers/pki.js';

const CONCURRENCY = 8;
const WINDOW_MS = 1500;
const ROUNDS = 3;
const CONNECT_TIMEOUT_MS = 5000;
const HOST = '127.0.0.1';

const LOGISTICS = 'logistics.example';
const SHIPPING = 'shipping.example';
const API_ID = parseSpiffeId(`spiffe://${LOGISTICS}/api`);
const DISPATCHER_ID = parseSpiffeId(`spiffe://${SHIPPING}/dispatcher`);

const setupStart = performance.now();
const logCa = await createCa({ trustDomain: LOGISTICS });
const shipCa = await createCa({ trustDomain: SHIPPING });
const apiLeaf = await createLeaf(logCa, { spiffeIds: [API_ID.toString()] });
const dispatcherLeaf = await createLeaf(shipCa, { spiffeIds: [DISPATCHER_ID.toString()] });
const apiSvid = svidOf(apiLeaf);
const dispatcherSvid = svidOf(dispatcherLeaf);
// Both agents hold two bundles (own + partner); verification picks the peer's one (FED-30).
const logisticsSet = new BundleSet([bundleOf(LOGISTICS, [logCa]), bundleOf(SHIPPING, [shipCa])]);
const shippingSet = new BundleSet([bundleOf(SHIPPING, [shipCa]), bundleOf(LOGISTICS, [logCa])]);
const serverSource = staticSource(apiSvid, logisticsSet);
const clientSource = staticSource(dispatcherSvid, shippingSet);
const serverAuthorize = authorizeMemberOf(parseTrustDomain(SHIPPING));
const clientAuthorize = authorizeId(API_ID);

async function listen(server: tls.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  return (server.address() as AddressInfo).port;
}

// Each server writes one byte once it has accepted the peer, so a counted connection is a complete
// mutual authentication on both sides (the client's handshake ends before the server's verdict).
const onAccepted = (socket: tls.TLSSocket): void => {
  socket.on('error', () => undefined);
  socket.end('k');
};

const sdkServer = createMtlsServer(serverSource, serverAuthorize, onAccepted);
const sdkPort = await listen(sdkServer);

const plainServer = tls.createServer(
  {
    cert: apiLeaf.pem,
    key: apiSvid.privateKeyPem,
    ca: [shipCa.pem],
    requestCert: true,
    rejectUnauthorized: true,
  },
  onAccepted,
);
const plainPort = await listen(plainServer);

function firstByte(socket: tls.TLSSocket): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no byte in time')), CONNECT_TIMEOUT_MS);
    socket.once('data', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve();
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.once('close', () => {
      clearTimeout(timer);
      reject(new Error('closed before the first byte'));
    });
  });
}

async function sdkHandshake(): Promise<void> {
  const socket = await connectMtls(clientSource, clientAuthorize, {
    host: HOST,
    port: sdkPort,
    timeoutMs: CONNECT_TIMEOUT_MS,
  });
  await firstByte(socket);
}

function plainConnect(extra: tls.ConnectionOptions): Promise<void> {
  const socket = tls.connect({
    host: HOST,
    port: plainPort,
    // No hostname in an SVID; the CA check is what plain node:tls decides on here.
    checkServerIdentity: () => undefined,
    ...extra,
  });
  return firstByte(socket);
}

// What most code writes: options per connection (Node builds a SecureContext each time).
const plainOptions: tls.ConnectionOptions = {
  cert: dispatcherLeaf.pem,
  key: dispatcherSvid.privateKeyPem,
  ca: [logCa.pem],
  rejectUnauthorized: true,
};
const plainHandshake = (): Promise<void> => plainConnect(plainOptions);
// The tighter baseline: one SecureContext shared by all connections, as the SDK client does.
const sharedContext = tls.createSecureContext(plainOptions);
const plainSharedHandshake = (): Promise<void> =>
  plainConnect({ secureContext: sharedContext, rejectUnauthorized: true });

/** Runs `CONCURRENCY` loops of `handshake` for WINDOW_MS; returns completed handshakes per second. */
async function measure(handshake: () => Promise<void>): Promise<number> {
  for (let i = 0; i < 50; i++) await handshake(); // warm-up
  let done = 0;
  const start = performance.now();
  const deadline = start + WINDOW_MS;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < deadline) {
        await handshake();
        done += 1;
      }
    }),
  );
  return (done * 1000) / (performance.now() - start);
}

const fmt = (perSecond: number): string => `${Math.round(perSecond).toLocaleString('en-US')}/s`;
const mean = (values: readonly number[]): number =>
  values.reduce((sum, value) => sum + value, 0) / values.length;

console.log(
  `setup ${Math.round(performance.now() - setupStart)} ms (node ${process.version}, ${tls.DEFAULT_MAX_VERSION}, ` +
    `P-256, concurrency ${CONCURRENCY}, ${ROUNDS} rounds x ${WINDOW_MS} ms per variant)`,
);
const sdk: number[] = [];
const plain: number[] = [];
const plainShared: number[] = [];
for (let round = 0; round < ROUNDS; round++) {
  sdk.push(await measure(sdkHandshake));
  plain.push(await measure(plainHandshake));
  plainShared.push(await measure(plainSharedHandshake));
  console.log(
    `round ${round + 1}: sdk ${fmt(sdk[round] ?? 0)}, plain ${fmt(plain[round] ?? 0)}, ` +
      `plain shared context ${fmt(plainShared[round] ?? 0)}`,
  );
}
const sdkMean = mean(sdk);
const plainMean = mean(plain);
const plainSharedMean = mean(plainShared);
const baseline = Math.max(plainMean, plainSharedMean);
console.log(
  `(a) SDK mTLS, ${SHIPPING} client -> ${LOGISTICS} server, per-trust-domain verification: ${fmt(sdkMean)}`,
);
console.log(
  `(b) plain node:tls mutual TLS, one CA per side (options per call):   ${fmt(plainMean)}`,
);
console.log(
  `(c) plain node:tls mutual TLS, one CA per side (shared SecureContext): ${fmt(plainSharedMean)}`,
);
console.log(
  `ratio sdk / best plain = ${(sdkMean / baseline).toFixed(2)} (vs (b) ${(sdkMean / plainMean).toFixed(2)}, ` +
    `vs (c) ${(sdkMean / plainSharedMean).toFixed(2)}); target >= 0.70: ${sdkMean / baseline >= 0.7 ? 'met' : 'MISSED'}`,
);

await Promise.all(
  [sdkServer, plainServer].map(
    (server) => new Promise<void>((resolve) => server.close(() => resolve())),
  ),
);
console.log(`total ${Math.round(performance.now() - setupStart)} ms`);
