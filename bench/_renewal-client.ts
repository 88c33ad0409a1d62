// Child process of bench/agent-renewals.ts: a deliberately light HTTP/1.1 client, so that the bench
// measures the broker rather than node's http client. It holds CONNECTIONS mTLS connections (our
// agent's X509-SVID, the broker's CA as the only trust anchor) and keeps DEPTH renewals pipelined
// on each. Every request is a complete renewal (POST /v1/agent/x509svid with a CSR the broker has
// to check); request bytes are built once up front and responses are parsed just enough to count
// a 200 that carries an X509-SVID chain. Rounds are started by the parent (`run` messages).
import { readFileSync } from 'node:fs';
import { connect, type TLSSocket } from 'node:tls';
import { performance } from 'node:perf_hooks';

interface Spec {
  readonly url: string;
  /** The client's X509-SVID; without it the connections present no certificate (enrolment). */
  readonly cert?: string;
  readonly key?: string;
  readonly ca: string;
  readonly csrs: readonly string[];
  readonly connections: number;
  readonly depth: number;
  /** Another route and its JSON bodies, one per request (bench/agent-enrolments.ts: attest). */
  readonly path?: string;
  readonly bodies?: readonly string[];
}

export interface RoundResult {
  readonly ok: number;
  readonly failed: number;
  readonly seconds: number;
  readonly firstError: string | null;
  /** CPU time of this client process during the round (user + system, all threads). */
  readonly cpuMicros: number;
}

const spec = JSON.parse(readFileSync(process.argv[2] as string, 'utf8')) as Spec;
const url = new URL(spec.url);
const host = url.hostname;
const port = Number(url.port);

const path = spec.path ?? '/v1/agent/x509svid';
const requests: Buffer[] = (spec.bodies ?? spec.csrs.map((csr) => JSON.stringify({ csr }))).map(
  (body) =>
    Buffer.from(
      `POST ${path} HTTP/1.1\r\nhost: ${url.host}\r\ncontent-type: application/json\r\n` +
        `content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    ),
);

const HEADER_END = Buffer.from('\r\n\r\n');
const CONTENT_LENGTH = Buffer.from('\r\ncontent-length:');
/** What every successful renewal body holds: the issued chain (x509Body in src/api/agent-app.ts). */
const SVID_MARK = Buffer.from('"x509Svid":{"chain":["');

let nextRequest = 0;
let running = false;
let ok = 0;
let failed = 0;
let firstError: string | null = null;
/** Resolved when every connection has nothing outstanding (end of a round). */
let drained: (() => void) | undefined;

function checkDrained(): void {
  if (!running && drained !== undefined && connections.every((c) => c.outstanding === 0)) {
    drained();
  }
}

function fail(message: string): void {
  failed++;
  firstError ??= message;
}

/** Index of `needle` in `haystack` from `from`, ASCII case-insensitive for letters of `needle`. */
function indexOfLower(haystack: Buffer, needle: Buffer, from: number, to: number): number {
  outer: for (let i = from; i + needle.length <= to; i++) {
    for (let j = 0; j < needle.length; j++) {
      const a = haystack[i + j] as number;
      if ((a >= 0x41 && a <= 0x5a ? a | 0x20 : a) !== needle[j]) continue outer;
    }
    return i;
  }
  return -1;
}

class Connection {
  private buffer: Buffer = Buffer.alloc(0);
  outstanding = 0;
  closed = false;

  constructor(readonly socket: TLSSocket) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (error) => fail(`socket: ${error.message}`));
    socket.on('close', () => {
      // The broker closes connections left idle between rounds (keep-alive timeout); one closed
      // with renewals outstanding is a failure.
      this.closed = true;
      if (this.outstanding > 0) {
        fail(`connection closed with ${this.outstanding} renewals outstanding`);
        this.outstanding = 0;
        checkDrained();
      }
    });
  }

  /** Tops the pipeline up to DEPTH requests with one write (one TLS record where possible). */
  fill(): void {
    if (!running) return;
    const missing = spec.depth - this.outstanding;
    if (missing <= 0) return;
    const batch: Buffer[] = [];
    for (let i = 0; i < missing; i++) {
      batch.push(requests[nextRequest++ % requests.length] as Buffer);
    }
    this.outstanding += missing;
    this.socket.write(batch.length === 1 ? (batch[0] as Buffer) : Buffer.concat(batch));
  }

  private onData(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    let offset = 0;
    for (;;) {
      const headerEnd = this.buffer.indexOf(HEADER_END, offset);
      if (headerEnd < 0) break;
      const at = indexOfLower(this.buffer, CONTENT_LENGTH, offset, headerEnd + 2);
      if (at < 0) {
        // The broker answers with a Content-Length; anything else is a failure of the bench.
        fail('response without content-length');
        this.socket.destroy();
        return;
      }
      const lineEnd = this.buffer.indexOf(13, at + CONTENT_LENGTH.length);
      const length = Number(
        this.buffer.toString('latin1', at + CONTENT_LENGTH.length, lineEnd).trim(),
      );
      const bodyStart = headerEnd + HEADER_END.length;
      if (this.buffer.length < bodyStart + length) break;
      const status = this.buffer.toString('latin1', offset + 9, offset + 12);
      const body = this.buffer.subarray(bodyStart, bodyStart + length);
      if (status === '200' && body.indexOf(SVID_MARK) >= 0) ok++;
      else fail(`HTTP ${status}: ${body.toString('utf8').slice(0, 200)}`);
      this.outstanding--;
      offset = bodyStart + length;
    }
    this.buffer = offset === this.buffer.length ? Buffer.alloc(0) : this.buffer.subarray(offset);
    this.fill();
    checkDrained();
  }
}

function open(): Promise<Connection> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      host,
      port,
      ...(spec.cert === undefined ? {} : { cert: spec.cert, key: spec.key }),
      ca: spec.ca,
      // The bench trusts the broker's own CA; the SPIFFE ID check is the SDK's job, not measured here.
      checkServerIdentity: () => undefined,
    });
    socket.setNoDelay(true);
    socket.once('secureConnect', () => resolve(new Connection(socket)));
    socket.once('error', reject);
  });
}

let connections: Connection[] = [];

async function round(windowMs: number): Promise<RoundResult> {
  // Handshakes before the window: connections closed while idle are opened again.
  connections = await Promise.all(
    Array.from({ length: spec.connections }, (_, i) => {
      const existing = connections[i];
      return existing !== undefined && !existing.closed ? existing : open();
    }),
  );
  ok = 0;
  failed = 0;
  firstError = null;
  running = true;
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  for (const connection of connections) connection.fill();
  await new Promise((resolve) => setTimeout(resolve, windowMs));
  // Renewals counted so far all completed inside the window.
  const okInWindow = ok;
  const seconds = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpu0);
  running = false;
  // Let the requests already sent finish (a failure among them still counts), so the next round
  // starts from an idle broker.
  await new Promise<void>((resolve) => {
    drained = resolve;
    if (connections.every((c) => c.outstanding === 0)) resolve();
  });
  drained = undefined;
  return { ok: okInWindow, failed, firstError, seconds, cpuMicros: cpu.user + cpu.system };
}

process.on('message', (message: { cmd: 'run'; windowMs: number } | { cmd: 'exit' }) => {
  if (message.cmd === 'exit') {
    for (const connection of connections) connection.socket.destroy();
    process.disconnect();
    return;
  }
  round(message.windowMs).then(
    (result) => process.send?.(result),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
});
process.send?.({ ready: true });
