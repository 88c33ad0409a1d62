// The broker under test of bench/abuse.ts, in its own process so that its RSS is its own: started
// with the default limits (bundle endpoint per-address cap raised for wrk), driven over IPC.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { silentLogger } from '../src/log.js';
import { startBroker } from '../src/main.js';
import { marshalPem } from '../src/bundle/index.js';
import { ADMIN_TOKEN, testConfig } from '../test/helpers/broker.js';

type Command =
  | { cmd: 'stats' }
  | { cmd: 'resetPeak' }
  | { cmd: 'tokens'; count: number }
  | { cmd: 'change' }
  | { cmd: 'stop' };

const send = (message: unknown): void => {
  process.send?.(message);
};

const broker = await startBroker(
  testConfig({
    trustDomain: 'abuse.bench',
    extra: {
      // wrk stands for one big partner (or a load balancer): 50 connections from 127.0.0.1.
      bundleEndpoint: {
        listen: '127.0.0.1:0',
        profile: 'https_spiffe',
        refreshHint: '30s',
        limits: { maxConnectionsPerAddress: 64 },
        // BENCH_BUNDLE_ISOLATED=false: the endpoint on the main event loop, for comparison.
        isolated: process.env['BENCH_BUNDLE_ISOLATED'] !== 'false',
      },
      agentApi: { listen: '127.0.0.1:0', watch: { maxStreamsPerAgent: 4, maxStreams: 450 } },
    },
  }),
  { logger: silentLogger },
);

let peak = process.memoryUsage.rss();
const sampler = setInterval(() => {
  peak = Math.max(peak, process.memoryUsage.rss());
}, 5);
const loop = monitorEventLoopDelay({ resolution: 5 });
loop.enable();

const gc = (globalThis as { gc?: () => void }).gc;

process.on('message', (message: Command) => {
  void (async () => {
    switch (message.cmd) {
      case 'stats': {
        gc?.();
        const usage = process.memoryUsage();
        send({
          cmd: 'stats',
          rss: usage.rss,
          heapUsed: usage.heapUsed,
          external: usage.external,
          peak,
          loopMaxMs: loop.max / 1e6,
        });
        return;
      }
      case 'resetPeak':
        peak = process.memoryUsage.rss();
        loop.reset();
        send({ cmd: 'resetPeak' });
        return;
      case 'tokens': {
        const tokens: string[] = [];
        for (let i = 0; i < message.count; i++) {
          const entry = await broker.registration.createEntry(
            { spiffeId: `spiffe://abuse.bench/agents/a${i}` },
            'bench',
          );
          tokens.push((await broker.registration.createToken(entry.id, { actor: 'bench' })).token);
        }
        send({ cmd: 'tokens', tokens });
        return;
      }
      case 'change':
        await broker.ca.prepare('jwt');
        send({ cmd: 'change' });
        return;
      case 'stop':
        clearInterval(sampler);
        await broker.stop();
        process.exit(0);
    }
  })().catch((error: unknown) => {
    console.error(`abuse broker: ${message.cmd} failed:`, error);
    process.exit(1);
  });
});

send({
  cmd: 'ready',
  bundleUrl: broker.bundleEndpointUrl,
  adminUrl: broker.adminUrl,
  agentUrl: broker.agentApiUrl,
  agentApiSpiffeId: broker.agentApiSpiffeId,
  adminToken: ADMIN_TOKEN,
  anchorsPem: marshalPem(broker.ca.localBundle().x509Authorities.map((a) => a.der)),
});
