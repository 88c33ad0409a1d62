// Abuse beside the bundle endpoint (issue 15): wrk req/s and p99 with no abuse, then beside 1,000
// idle sockets and 100 slow TLS handshakes, then also 20,000 failed admin logins (8 ordinary
// clients, and pipelined), all in the same run; the broker's peak RSS under 64 chunked 128 MiB
// uploads; memory per watch stream and one change's fan-out. The broker runs in its own process.
import { execFile, fork, type ChildProcess } from 'node:child_process';
import { request as httpsRequest } from 'node:https';
import { connect as netConnect, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { attest, type AgentTls, type IssuedSvid } from '../test/helpers/agent-api.js';

const DURATION = process.env['BENCH_DURATION'] ?? '5s';
const MiB = 1024 * 1024;
const here = dirname(fileURLToPath(import.meta.url));

interface Ready {
  bundleUrl: string;
  adminUrl: string;
  agentUrl: string;
  agentApiSpiffeId: string;
  adminToken: string;
  anchorsPem: string;
}
interface Stats {
  rss: number;
  heapUsed: number;
  external: number;
  peak: number;
  loopMaxMs: number;
}

const child: ChildProcess = fork(join(here, '_abuse-broker.ts'), [], {
  execArgv: ['--import', 'tsx', '--expose-gc'],
  stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
});

function ask<T>(message: Record<string, unknown>): Promise<T> {
  return new Promise((resolve) => {
    const onMessage = (reply: { cmd: string }): void => {
      if (reply.cmd !== message['cmd']) return;
      child.off('message', onMessage);
      resolve(reply as T);
    };
    child.on('message', onMessage);
    child.send(message);
  });
}

const ready = await new Promise<Ready>((resolve, reject) => {
  child.once('message', (message) => resolve(message as Ready));
  child.once('exit', (code) => reject(new Error(`broker exited with ${String(code)}`)));
});

function portOf(url: string): number {
  return Number(new URL(url).port);
}

function wrk(url: string): Promise<{ rps: number; p99: string; errors: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      'wrk',
      ['-t2', '-c50', `-d${DURATION}`, '--latency', url],
      { timeout: 120_000 },
      (error, stdout) => {
        if (error) return reject(error);
        const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1] ?? NaN);
        const p99 = /Latency Distribution[\s\S]*?99%\s+(\S+)/.exec(stdout)?.[1] ?? '?';
        const errors = /Socket errors:[^\n]*/.exec(stdout)?.[0] ?? 'no socket errors';
        resolve({ rps, p99, errors });
      },
    );
  });
}

// --- abuse ----------------------------------------------------------------------------------------

interface Abuse {
  stop(): { idleOpen: number; idleClosedByServer: number; slowStarted: number };
}

/** 1,000 idle TCP sockets from one host over the three listeners, and 100 slow TLS handshakes. */
function startSocketAbuse(): Abuse {
  const listeners = [ready.bundleUrl, ready.agentUrl, ready.adminUrl].map(portOf);
  const idle: Socket[] = [];
  let idleClosed = 0;
  let stopped = false;
  for (let i = 0; i < 1000; i++) {
    const socket = netConnect({
      host: '127.0.0.1',
      port: listeners[i % 3] ?? 0,
      localAddress: '127.0.0.2',
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      if (!stopped) idleClosed += 1;
    });
    socket.resume();
    idle.push(socket);
  }
  // A TLS record header announcing 512 bytes of ClientHello, then one byte every 500 ms; a slot
  // whose socket the server closes (handshake timeout, caps) starts again.
  let slowStarted = 0;
  const slow = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const startSlow = (index: number): void => {
    if (stopped) return;
    slowStarted += 1;
    const socket = netConnect({
      host: '127.0.0.1',
      port: listeners[index % 2] ?? 0,
      localAddress: '127.0.0.3',
    });
    slow.add(socket);
    socket.on('error', () => undefined);
    socket.resume();
    socket.once('connect', () => {
      socket.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00]));
      const timer = setInterval(() => socket.write(Buffer.from([0x01])), 500);
      timers.add(timer);
      socket.once('close', () => {
        clearInterval(timer);
        timers.delete(timer);
      });
    });
    socket.once('close', () => {
      slow.delete(socket);
      const again = setTimeout(() => startSlow(index), 100);
      timers.add(again);
    });
  };
  for (let i = 0; i < 100; i++) startSlow(i);
  return {
    stop() {
      const idleOpen = idle.filter((s) => !s.destroyed).length;
      stopped = true;
      for (const s of idle) s.destroy();
      for (const s of slow) s.destroy();
      for (const t of timers) clearTimeout(t);
      return { idleOpen, idleClosedByServer: idleClosed, slowStarted };
    },
  };
}

/**
 * `total` admin requests with a wrong token from one host: 8 keep-alive connections, each with up
 * to `depth` requests pipelined (raw sockets, so the load generator costs little CPU of its own):
 * depth 1 is an ordinary client, 32 a flood. Counts the answers by status, whatever they are.
 */
async function failedLogins(
  total: number,
  depth: number,
): Promise<{ statuses: Record<string, number>; ms: number }> {
  const url = new URL(ready.adminUrl);
  const requestText = `GET /v1/admin/relationships HTTP/1.1\r\nhost: ${url.host}\r\nauthorization: Bearer wrong-token-wrong-token\r\n\r\n`;
  const statuses: Record<string, number> = {};
  let sent = 0;
  const started = performance.now();
  const connection = (): Promise<void> =>
    new Promise((resolve) => {
      const socket = netConnect({
        host: url.hostname,
        port: Number(url.port),
        localAddress: '127.0.0.4',
      });
      let inFlight = 0;
      let text = '';
      const fill = (): void => {
        let batch = '';
        while (inFlight < depth && sent < total) {
          batch += requestText;
          inFlight += 1;
          sent += 1;
        }
        if (batch !== '') socket.write(batch);
        else if (inFlight === 0) socket.end();
      };
      socket.setEncoding('latin1');
      socket.on('connect', fill);
      socket.on('data', (data: string) => {
        text += data;
        // Each answer starts with its status line; bodies are small JSON without that text.
        let consumed = 0;
        for (const match of text.matchAll(/HTTP\/1\.1 (\d{3})/g)) {
          const key = match[1] ?? '?';
          statuses[key] = (statuses[key] ?? 0) + 1;
          inFlight -= 1;
          consumed = match.index + match[0].length;
        }
        text = text.slice(consumed);
        fill();
      });
      socket.on('error', (error: NodeJS.ErrnoException) => {
        const key = error.code ?? 'error';
        statuses[key] = (statuses[key] ?? 0) + inFlight;
      });
      socket.on('close', () => resolve());
    });
  // A connection the broker closes (caps, timeouts) is replaced until all are sent.
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (sent < total) await connection();
    }),
  );
  return { statuses, ms: performance.now() - started };
}

// --- chunked uploads --------------------------------------------------------------------------------

function chunkedUpload(url: string, totalBytes: number, localAddress: string): Promise<string> {
  const target = new URL(url);
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  const framed = Buffer.concat([Buffer.from('10000\r\n'), chunk, Buffer.from('\r\n')]);
  return new Promise((resolve) => {
    const socket = tlsConnect({
      socket: netConnect({ host: target.hostname, port: Number(target.port), localAddress }),
      rejectUnauthorized: false,
    });
    let written = 0;
    let head = '';
    let closed = false;
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (head += d));
    let failure = '';
    socket.on('error', (error: NodeJS.ErrnoException) => {
      failure ||= error.code ?? 'error';
    });
    socket.on('close', () => {
      closed = true;
      resolve(
        /^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ??
          `no answer (${failure}, ${secure ? 'after' : 'before'} handshake, ${written > 0 ? 'body sent' : ''})`,
      );
    });
    const pump = (): void => {
      while (!closed && written < totalBytes) {
        written += chunk.length;
        if (!socket.write(framed)) {
          socket.once('drain', pump);
          return;
        }
      }
      if (!closed) socket.end('0\r\n\r\n');
    };
    let secure = false;
    socket.once('secureConnect', () => {
      secure = true;
      socket.write(
        'POST /v1/agent/attest HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n',
      );
      pump();
    });
  });
}

// --- watch streams --------------------------------------------------------------------------------

interface Stream {
  events(): number;
  close(): void;
}

function openWatch(svid: IssuedSvid, tls: AgentTls, localAddress: string): Promise<Stream> {
  return new Promise((resolve, reject) => {
    let events = 0;
    const req = httpsRequest(
      new URL('/v1/agent/bundles/watch', ready.agentUrl),
      {
        agent: false,
        localAddress,
        ca: tls.anchorsPem,
        checkServerIdentity: () => undefined,
        cert: svid.certPem,
        key: svid.keyPem,
      },
      (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          reject(new Error(`watch answered ${String(res.statusCode)}`));
          return;
        }
        res.setEncoding('utf8');
        res.on('data', (text: string) => {
          events += text.split('event: bundles').length - 1;
        });
        res.on('error', () => undefined);
        resolve({ events: () => events, close: () => req.destroy() });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

const fmtMiB = (bytes: number): string => `${(bytes / MiB).toFixed(1)} MiB`;

try {
  // 1. The bundle endpoint: quiet, beside the socket abuse only, and beside all of it (the
  // 20,000 failed logins too), alternated; each variant's best round kept.
  const rounds = process.env['BENCH_SKIP_WRK'] === '1' ? 0 : 2;
  if (rounds > 0) await wrk(ready.bundleUrl); // warm-up
  type Figure = { rps: number; p99: string; errors: string };
  const best = (a: Figure | undefined, b: Figure): Figure =>
    a === undefined || b.rps > a.rps ? b : a;
  let quiet: Figure | undefined;
  let socketsOnly: Figure | undefined;
  const withLogins = new Map<number, Figure>();
  const abuseReports: string[] = [];
  const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  for (let round = 0; round < rounds; round++) {
    quiet = best(quiet, await wrk(ready.bundleUrl));
    const sockets = startSocketAbuse();
    await pause(500);
    socketsOnly = best(socketsOnly, await wrk(ready.bundleUrl));
    // The same sockets stay; the logins run beside them, once as 8 ordinary clients, once pipelined.
    for (const depth of [1, 32]) {
      const [measured, logins] = await Promise.all([
        wrk(ready.bundleUrl),
        failedLogins(20_000, depth),
      ]);
      withLogins.set(depth, best(withLogins.get(depth), measured));
      abuseReports.push(
        `round ${round + 1}, logins ${depth === 1 ? '8 connections, 1 in flight each' : `8 connections, ${depth} pipelined each`}: ` +
          `20,000 answered in ${(logins.ms / 1000).toFixed(1)} s ${JSON.stringify(logins.statuses)}; wrk: ${measured.errors}`,
      );
      await pause(1000);
    }
    const report = sockets.stop();
    abuseReports.push(
      `round ${round + 1}: idle sockets still open at the end ${report.idleOpen}/1000 (closed by the broker ${report.idleClosedByServer}); slow handshakes started ${report.slowStarted}`,
    );
    await pause(1000);
  }
  if (quiet !== undefined && socketsOnly !== undefined) {
    const q = quiet.rps;
    const line = (label: string, figure: Figure, target = ''): string =>
      `${label.padEnd(44)}${figure.rps.toFixed(0).padStart(8)} req/s   p99 ${figure.p99}   (${(figure.rps / q).toFixed(2)} of quiet${target})`;
    console.log(
      `bundle endpoint, wrk -t2 -c50 -d${DURATION}, keep-alive, TLS on 127.0.0.1, broker in its own process`,
    );
    console.log(`${'quiet'.padEnd(44)}${q.toFixed(0).padStart(8)} req/s   p99 ${quiet.p99}`);
    console.log(line('1,000 idle sockets + 100 slow handshakes', socketsOnly));
    const gentle = withLogins.get(1);
    const flood = withLogins.get(32);
    if (gentle !== undefined)
      console.log(line('... + 20,000 failed logins, 8 clients', gentle, '; target >= 0.7'));
    if (flood !== undefined) console.log(line('... + 20,000 failed logins, pipelined x32', flood));
    for (const text of abuseReports) console.log(`  ${text}`);
  }

  // 2. Peak RSS under 64 chunked 128 MiB uploads to the unauthenticated attest route.
  const before = await ask<Stats>({ cmd: 'stats' });
  await ask({ cmd: 'resetPeak' });
  const answers = await Promise.all(
    Array.from({ length: 64 }, (_, i) =>
      chunkedUpload(ready.agentUrl, 128 * MiB, `127.0.0.${20 + (i % 4)}`),
    ),
  );
  const after = await ask<Stats>({ cmd: 'stats' });
  const counted: Record<string, number> = {};
  for (const a of answers) counted[a] = (counted[a] ?? 0) + 1;
  console.log(
    `64 chunked 128 MiB uploads: answers ${JSON.stringify(counted)}; broker RSS ${fmtMiB(before.rss)} -> peak ${fmtMiB(after.peak)} (${after.peak >= before.rss ? '+' : '-'}${fmtMiB(Math.abs(after.peak - before.rss))}; target under +64 MiB)`,
  );

  // 3. Memory per watch stream, and one change's fan-out to all of them.
  const agents = 100;
  const perAgent = 4;
  const tls: AgentTls = { anchorsPem: ready.anchorsPem, serverSpiffeId: ready.agentApiSpiffeId };
  const { tokens } = await ask<{ tokens: string[] }>({ cmd: 'tokens', count: agents });
  const svids: IssuedSvid[] = [];
  for (const token of tokens) svids.push(await attest(ready.agentUrl, tls, token));
  const base = await ask<Stats>({ cmd: 'stats' });
  const streams: Stream[] = [];
  // Spread over 50 source addresses: the agent API allows 64 connections per address.
  for (const [index, svid] of svids.entries()) {
    const from = `127.0.3.${(index % 50) + 1}`;
    for (let i = 0; i < perAgent; i++) streams.push(await openWatch(svid, tls, from));
  }
  await new Promise((resolve) => setTimeout(resolve, 500));
  const open = await ask<Stats>({ cmd: 'stats' });
  const n = streams.length;
  console.log(
    `${n} watch streams: RSS +${((open.rss - base.rss) / n / 1024).toFixed(1)} KiB, heap +${((open.heapUsed - base.heapUsed) / n / 1024).toFixed(1)} KiB per stream`,
  );
  await ask({ cmd: 'resetPeak' });
  const seen = streams.map((s) => s.events());
  const started = performance.now();
  await ask({ cmd: 'change' });
  while (streams.some((s, i) => s.events() <= (seen[i] ?? 0))) {
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  const fanOutMs = performance.now() - started;
  const loop = await ask<Stats>({ cmd: 'stats' });
  console.log(
    `a bundle change reached all ${n} streams in ${fanOutMs.toFixed(0)} ms (authority prepare included); broker event-loop delay max ${loop.loopMaxMs.toFixed(1)} ms`,
  );
  for (const s of streams) s.close();
} finally {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.send({ cmd: 'stop' });
  await exited;
}
