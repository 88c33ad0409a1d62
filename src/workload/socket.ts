// The Workload API's Unix socket: a stale file from a crash is replaced, a live socket (another
// agent) or a non-socket file is an error; the socket is reachable by every local user (reaching
// it grants nothing, attestation does) and removed on close.
import { chmodSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { WorkloadError } from '../errors.js';

function inUse(path: string, why: string): WorkloadError {
  return new WorkloadError('ERR_WORKLOAD_SOCKET_IN_USE', `"${path}" ${why}`);
}

/** True when something accepts connections on `path`. */
function isLive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}

/** Listens on `path`, replacing a stale socket file; `onConnection` gets every accepted socket. */
export async function listenUnix(
  path: string,
  onConnection: (socket: Socket) => void,
  maxConnections: number,
): Promise<Server> {
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  let existing;
  try {
    existing = lstatSync(path);
  } catch {
    existing = undefined;
  }
  if (existing !== undefined) {
    if (!existing.isSocket()) throw inUse(path, 'exists and is not a socket');
    if (await isLive(path)) throw inUse(path, 'is served by another process');
    unlinkSync(path);
  }
  const server = createServer({ pauseOnConnect: false }, onConnection);
  server.maxConnections = maxConnections;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(error.code === 'EADDRINUSE' ? inUse(path, 'is in use') : error),
    );
    server.listen(path, () => resolve());
  });
  chmodSync(path, 0o777);
  return server;
}

/** Stops accepting and removes the socket file (only if it is still ours: a socket). */
export async function closeUnix(server: Server, path: string): Promise<void> {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  try {
    if (lstatSync(path).isSocket()) unlinkSync(path);
  } catch {
    // already gone
  }
}
