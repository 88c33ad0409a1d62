// Child-process abuser of the Workload API socket for test/workload/workload-api-limits.test.ts
// (after review 10's attackers), run as another uid. Prints a JSON line of counts every 200 ms:
//   partial SOCKET CONNS STREAMS LEN HEADER [TIMEOUT]
//                                             each stream declares a LEN-byte message and sends
//                                             all but its last byte (HEADER 1: with workload.spiffe.io;
//                                             TIMEOUT: a grpc-timeout header, e.g. 300m)
//   idle SOCKET N                             N connections that never send a byte
//   noread SOCKET METHOD STREAMS              server streams whose responses are never read
//   held SOCKET STREAMS AUDIENCES             FetchJWTSVID streams each sending a complete request
//                                             of AUDIENCES 2-character audiences, never half-closed
//   headers SOCKET STREAMS                    STREAMS FetchJWTSVID streams sending headers only (review
//                                             14 F2), each reopened when it ends, the session when it closes
import http2 from 'node:http2';
import net from 'node:net';
import { setImmediate, setInterval, setTimeout } from 'node:timers';

const [mode, socketPath, ...args] = process.argv.slice(2);
const counts = {
  open: 0,
  closedByServer: 0,
  errors: 0,
  responses: 0,
  flushed: 0,
  streamsClosed: 0,
  statuses: {},
};
const status = (code) => (counts.statuses[code] = (counts.statuses[code] ?? 0) + 1);
setInterval(() => console.log(JSON.stringify(counts)), 200);

function session() {
  const s = http2.connect('http://localhost', { createConnection: () => net.connect(socketPath) });
  s.on('error', (e) => {
    counts.errors += 1;
    counts.lastError = e.message;
  });
  return s;
}

function request(s, method, header, timeout) {
  const stream = s.request({
    ':method': 'POST',
    ':path': `/SpiffeWorkloadAPI/${method}`,
    'content-type': 'application/grpc',
    te: 'trailers',
    ...(header ? { 'workload.spiffe.io': 'true' } : {}),
    ...(timeout ? { 'grpc-timeout': timeout } : {}),
  });
  stream.on('response', (headers) => {
    counts.responses += 1;
    if (headers['grpc-status'] !== undefined) status(headers['grpc-status']);
  });
  stream.on('trailers', (trailers) => status(trailers['grpc-status']));
  stream.on('error', () => {});
  stream.on('close', () => (counts.streamsClosed += 1));
  return stream;
}

if (mode === 'partial') {
  const [conns, streams, len, header] = args.slice(0, 4).map(Number);
  const timeout = args[4];
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(len, 1);
  const body = Buffer.concat([prefix, Buffer.alloc(len - 1, 0x41)]);
  for (let c = 0; c < conns; c += 1) {
    const s = session();
    for (let i = 0; i < streams; i += 1) {
      request(s, 'ValidateJWTSVID', header === 1, timeout).write(body, () => (counts.flushed += 1));
    }
  }
} else if (mode === 'idle') {
  const n = Number(args[0]);
  for (let i = 0; i < n; i += 1) {
    const socket = net.connect(socketPath);
    let connected = false;
    socket.on('connect', () => {
      connected = true;
      counts.open += 1;
    });
    socket.on('close', () => {
      if (!connected) return;
      counts.open -= 1;
      counts.closedByServer += 1;
    });
    socket.on('error', () => (counts.errors += 1));
    socket.on('data', () => {});
  }
} else if (mode === 'noread') {
  const [method, streams] = [args[0], Number(args[1])];
  const s = session();
  for (let i = 0; i < streams; i += 1) {
    const stream = request(s, method, true);
    stream.end(Buffer.alloc(5));
    stream.pause();
  }
} else if (mode === 'held') {
  const [streams, audiences] = args.map(Number);
  const one = Buffer.from([0x0a, 0x02, 0x61, 0x62]); // field 1 (audience): "ab"
  const message = Buffer.concat(Array.from({ length: audiences }, () => one));
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(message.length, 1);
  const s = session();
  for (let i = 0; i < streams; i += 1) {
    const stream = request(s, 'FetchJWTSVID', true);
    stream.on('data', () => {});
    stream.write(Buffer.concat([prefix, message]), () => (counts.flushed += 1));
  }
} else if (mode === 'headers') {
  const streams = Number(args[0]);
  let s;
  const one = () => {
    if (s.closed || s.destroyed) return;
    const stream = request(s, 'FetchJWTSVID', true);
    counts.open += 1;
    stream.on('close', () => {
      counts.open -= 1;
      setImmediate(one);
    });
  };
  const connect = () => {
    s = session();
    s.on('close', () => {
      counts.closedByServer += 1;
      setTimeout(connect, 10);
    });
    for (let i = 0; i < streams; i += 1) one();
  };
  connect();
} else {
  console.error(`unknown mode ${mode}`);
  process.exit(2);
}
