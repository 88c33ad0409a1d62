// A TCP proxy in front of a real redis-server that can hold back what a client sends from a marked
// command on (a script's SHA), until released: the command reaches Redis late, after its caller has
// given up, exactly like one that sat in a stalled server's socket buffer, while the commands before
// it were answered normally. It can also drop what clients send and reset every connection.
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export interface HoldProxy {
  readonly url: string;
  /** From the next client chunk containing `marker` on, holds what that connection sends. */
  holdFrom(marker: string): void;
  /** True once a chunk has been held. */
  holding(): boolean;
  /** Sends everything held, in order, and stops holding. */
  release(): void;
  /** Drops what every client sends from now on (a request lost in a dying link), until `reset`. */
  swallow(): void;
  /** Resets every open connection (as a Redis restart would) and lets new ones through. */
  reset(): void;
  close(): Promise<void>;
}

export async function startHoldProxy(targetPort: number): Promise<HoldProxy> {
  const sockets = new Set<Socket>();
  let marker: string | undefined;
  let held: { upstream: Socket; chunks: Buffer[] } | undefined;
  let swallowing = false;
  const server: Server = createServer((client) => {
    const upstream = createConnection({ host: '127.0.0.1', port: targetPort });
    sockets.add(client);
    sockets.add(upstream);
    client.on('data', (chunk: Buffer) => {
      if (swallowing) return;
      if (held?.upstream === upstream) {
        held.chunks.push(chunk);
      } else if (marker !== undefined && chunk.includes(marker)) {
        marker = undefined;
        held = { upstream, chunks: [chunk] };
      } else {
        upstream.write(chunk);
      }
    });
    upstream.pipe(client);
    const done = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    for (const socket of [client, upstream]) {
      socket.on('error', done);
      socket.on('close', done);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `redis://127.0.0.1:${port}`,
    holdFrom(text) {
      marker = text;
    },
    holding: () => held !== undefined,
    release() {
      const last = held;
      held = undefined;
      if (last !== undefined) for (const chunk of last.chunks) last.upstream.write(chunk);
    },
    swallow() {
      swallowing = true;
    },
    reset() {
      for (const socket of sockets) socket.destroy();
      sockets.clear();
      swallowing = false;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
