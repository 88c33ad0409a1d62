// Connection limits of one listener (issue 15): total and per-address caps counted on accept, and
// the TLS handshake, header, request, keep-alive and idle timeouts, so idle sockets cannot pile up.
import type { Server } from 'node:net';
import type { Socket } from 'node:net';

export interface ListenerLimits {
  readonly maxConnections: number;
  readonly maxConnectionsPerAddress: number;
  readonly handshakeTimeoutMs: number;
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  readonly idleTimeoutMs: number;
}

/** What a listener gets when its caller names no limits: the bundle endpoint's config defaults. */
export const DEFAULT_LISTENER_LIMITS: ListenerLimits = {
  maxConnections: 256,
  maxConnectionsPerAddress: 16,
  handshakeTimeoutMs: 10_000,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 15_000,
  keepAliveTimeoutMs: 30_000,
  idleTimeoutMs: 60_000,
};

/**
 * Options for `http(s).createServer`: the TLS handshake timeout only exists at creation (Node's
 * default is 120 s); header and request timeouts are checked every `connectionsCheckingInterval`.
 */
export function serverLimitOptions(limits: ListenerLimits): {
  handshakeTimeout: number;
  headersTimeout: number;
  requestTimeout: number;
  keepAliveTimeout: number;
  connectionsCheckingInterval: number;
} {
  return {
    handshakeTimeout: limits.handshakeTimeoutMs,
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    connectionsCheckingInterval: Math.max(250, Math.min(5000, limits.headersTimeoutMs / 2)),
  };
}

/** Counts a listener's refusals (for tests and metrics). */
export interface ConnectionGate {
  /** Connections refused so far because one address held its cap. */
  refusedPerAddress(): number;
  /** Connections open now from `address`. */
  openFrom(address: string): number;
  /** Connections closed on accept because `admits` refused their address. */
  refusedByAdmits(): number;
}

/** The TCP socket under a request's socket (a TLSSocket keeps it as `_parent`). */
function rawSocketOf(socket: Socket): Socket {
  return (socket as Socket & { _parent?: Socket | null })._parent ?? socket;
}

/**
 * Applies the caps to a server before it accepts anything: `maxConnections` (Node closes the
 * connection on accept, before any TLS work), a per-remote-address cap checked before the TLS or
 * HTTP layer sees the socket, and the idle timeout: a connection whose first request has not begun
 * within it is closed (Node's own socket timeout does not fire on such a connection while its
 * header-timeout checker runs), and afterwards one with no traffic either way. `admits` may refuse
 * an address outright (closed on accept, like a connection over its cap). Call it right after
 * creating the server.
 */
export function applyConnectionLimits(
  server: Server,
  limits: ListenerLimits,
  admits: (address: string) => boolean = () => true,
): ConnectionGate {
  server.maxConnections = limits.maxConnections;
  // node:http sets this on every connection socket (after the handshake on TLS listeners).
  (server as Server & { timeout?: number }).timeout = limits.idleTimeoutMs;
  const open = new Map<string, number>();
  const firstRequest = new WeakMap<Socket, NodeJS.Timeout>();
  let refused = 0;
  let refusedByAdmits = 0;
  server.on('request', (req: { socket: Socket }) => {
    const raw = rawSocketOf(req.socket);
    const timer = firstRequest.get(raw);
    if (timer === undefined) return;
    clearTimeout(timer);
    firstRequest.delete(raw);
  });
  // The TLS or HTTP layer's own connection listeners run only for sockets under the cap.
  const layers = server.listeners('connection') as ((socket: Socket) => void)[];
  server.removeAllListeners('connection');
  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress ?? '';
    if (!admits(address)) {
      refusedByAdmits += 1;
      socket.destroy();
      return;
    }
    const count = open.get(address) ?? 0;
    if (count >= limits.maxConnectionsPerAddress) {
      refused += 1;
      socket.destroy();
      return;
    }
    open.set(address, count + 1);
    const timer = setTimeout(() => socket.destroy(), limits.idleTimeoutMs);
    timer.unref();
    firstRequest.set(socket, timer);
    socket.once('close', () => {
      clearTimeout(timer);
      const left = (open.get(address) ?? 1) - 1;
      if (left <= 0) open.delete(address);
      else open.set(address, left);
    });
    for (const layer of layers) layer.call(server, socket);
  });
  return {
    refusedPerAddress: () => refused,
    openFrom: (address) => open.get(address) ?? 0,
    refusedByAdmits: () => refusedByAdmits,
  };
}
