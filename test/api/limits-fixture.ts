// Shared raw-socket clients of the limits-*.test.ts files (issue 15): a listener's URL and address as
// a target, plain TCP or unchecked TLS sockets from a chosen local address, waits for connect and for
// the server's close, and the status of a raw HTTP/1.1 answer. Each file starts its own broker.
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { Broker } from '../../src/main.js';

export interface Target {
  readonly host: string;
  readonly port: number;
  readonly tls: boolean;
}

export function targetOf(url: string): Target {
  const parsed = new URL(url);
  return {
    host: parsed.hostname,
    port: Number(parsed.port),
    tls: parsed.protocol === 'https:',
  };
}

/** The URL of one of the broker's three listeners. */
export function listenerUrl(broker: Broker, listener: 'agent' | 'admin' | 'bundle'): string {
  return listener === 'agent'
    ? broker.agentApiUrl
    : listener === 'admin'
      ? broker.adminUrl
      : broker.bundleEndpointUrl;
}

/** A raw socket to `target` from `localAddress` (plain TCP, or TLS without checking the server). */
export function open(target: Target, localAddress = '127.0.0.1'): Socket {
  const options = { host: target.host, port: target.port, localAddress };
  return target.tls ? tlsConnect({ ...options, rejectUnauthorized: false }) : netConnect(options);
}

/** Resolves once the server has closed `socket` (or it was never accepted). */
export function closedByServer(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve();
    socket.on('error', () => undefined);
    socket.once('close', () => resolve());
    // A paused socket never reads the server's FIN.
    socket.resume();
  });
}

/** Resolves once `socket` is connected (TCP; TLS sockets: TCP too, before any handshake). */
export function connected(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    socket.on('error', () => undefined);
    if (socket.readyState === 'open') resolve();
    else socket.once('connect', () => resolve());
  });
}

export function statusOf(head: string): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
}
