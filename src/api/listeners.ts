// Binding the broker's HTTP listeners: a Hono app served over plain HTTP or over TLS with a certificate
// swapped without restart, an OS refusal turned into ERR_CONFIG_LISTEN naming the config key and
// init flag, and the URL a local client reaches the listener at.
import { constants } from 'node:crypto';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { serve, type ServerType } from '@hono/node-server';
import type { ListenerLimitsConfig } from '../config/index.js';
import { ConfigError } from '../errors.js';
import type { SpiffeId } from '../spiffeid/index.js';
import {
  applyConnectionLimits,
  serverLimitOptions,
  type ListenerLimits,
} from './listener-limits.js';
import { keepOwnSvid, type OwnSvidKeeperDeps } from './own-svid-keeper.js';
import type { StopOrder } from './teardown.js';

/** A TLS listener's certificate chain and private key, both PEM. */
export interface ListenerIdentity {
  readonly cert: string;
  readonly key: string;
}

/** Which listener failed to bind, for ERR_CONFIG_LISTEN: its name, config key and init flag. */
export interface ListenerName {
  readonly name: string;
  readonly key: string;
  readonly flag: string;
}

export const LISTENERS = {
  bundle: { name: 'bundle endpoint', key: 'bundleEndpoint.listen', flag: 'init --bundle-port' },
  agent: { name: 'agent API', key: 'agentApi.listen', flag: 'init --agent-port' },
  admin: { name: 'admin API', key: 'adminApi.listen', flag: 'init --admin-port' },
} as const satisfies Record<string, ListenerName>;

/** A listener's configured limits (seconds) as the listeners take them (milliseconds). */
export function listenerLimitsFromConfig(limits: ListenerLimitsConfig): ListenerLimits {
  return {
    maxConnections: limits.maxConnections,
    maxConnectionsPerAddress: limits.maxConnectionsPerAddress,
    handshakeTimeoutMs: limits.handshakeTimeout * 1000,
    headersTimeoutMs: limits.headersTimeout * 1000,
    requestTimeoutMs: limits.requestTimeout * 1000,
    keepAliveTimeoutMs: limits.keepAliveTimeout * 1000,
    idleTimeoutMs: limits.idleTimeout * 1000,
  };
}

/** `host:port` or `[v6]:port` (as the config schema accepts it) as host and port. */
export function splitListen(listen: string): { host: string; port: number } {
  const index = listen.lastIndexOf(':');
  const host = listen.slice(0, index).replace(/^\[|\]$/g, '');
  return { host, port: Number(listen.slice(index + 1)) };
}

function refusalReason(errno: string | undefined, cause: unknown): string {
  switch (errno) {
    case 'EADDRINUSE':
      return 'address in use';
    case 'EADDRNOTAVAIL':
      return 'no such address on this host';
    case 'EACCES':
      return 'permission denied (ports below 1024 need privileges)';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host name does not resolve (listen takes a local address; put public names in the url key)';
    case undefined:
      return (cause as Error).message;
    default:
      return errno;
  }
}

/** Binds with `bind()`; an OS refusal becomes ERR_CONFIG_LISTEN naming the listener, key and flag. */
export async function bindListener<T>(
  listener: ListenerName,
  listen: string,
  bind: () => Promise<T>,
): Promise<T> {
  try {
    return await bind();
  } catch (cause) {
    const errno = (cause as NodeJS.ErrnoException).code;
    const hostFlag =
      errno === 'ENOTFOUND' || errno === 'EADDRNOTAVAIL' ? 'init --listen-host' : listener.flag;
    throw new ConfigError(
      'ERR_CONFIG_LISTEN',
      `${listener.name} cannot listen on ${listen}: ${refusalReason(errno, cause)} (${listener.key}, ${hostFlag})`,
      { cause, context: { listener: listener.name, key: listener.key, listen } },
    );
  }
}

/** The URL a client on this host reaches `host:port` at (a wildcard address becomes loopback). */
export function localUrl(scheme: 'http' | 'https', host: string, port: number): string {
  const reachable =
    host === '0.0.0.0' || host === ''
      ? '127.0.0.1'
      : host === '::'
        ? '[::1]'
        : host.includes(':')
          ? `[${host}]`
          : host;
  return `${scheme}://${reachable}:${port}`;
}

export interface AppListenerOptions {
  readonly fetch: Parameters<typeof serve>[0]['fetch'];
  readonly listen: string;
  readonly listener: ListenerName;
  readonly limits: ListenerLimits;
  /**
   * TLS with this certificate, asking for a client certificate that the app itself checks (join-token
   * enrolment has none yet); plain HTTP when absent.
   */
  readonly identity?: ListenerIdentity;
  /** Refuses an address's new connections on accept while false (peer-refusals.ts). */
  readonly admits?: (address: string) => boolean;
  /**
   * Called with each TLS connection once its handshake is done, before any request: the client
   * certificate check runs here, so a client that never sends a request is counted too.
   */
  readonly onHandshake?: (socket: TLSSocket) => void;
}

/** A bound app listener. */
export interface AppListener {
  /** Where a client on this host reaches it. */
  readonly url: string;
  /** Swaps the TLS certificate for new connections (no-op on a plain HTTP listener). */
  updateIdentity(next: ListenerIdentity): void;
  /** Stops accepting and drops open connections. */
  close(): Promise<void>;
}

/** Serves a Hono app on `listen`; resolves once it accepts connections. */
export async function listenApp(options: AppListenerOptions): Promise<AppListener> {
  const { identity, limits } = options;
  const address = splitListen(options.listen);
  const server = await bindListener(
    options.listener,
    options.listen,
    () =>
      new Promise<ServerType>((resolveServer, reject) => {
        const created = serve(
          {
            fetch: options.fetch,
            hostname: address.host,
            port: address.port,
            // The apps' bodyLimit reads every body, counted; the adapter's own clean-up would read
            // up to 64 MiB of a refused one and then reset the connection (issue 15).
            autoCleanupIncoming: false,
            ...(identity === undefined
              ? { serverOptions: serverLimitOptions(limits) }
              : {
                  createServer: createHttpsServer,
                  serverOptions: {
                    cert: identity.cert,
                    key: identity.key,
                    requestCert: true,
                    rejectUnauthorized: false,
                    minVersion: 'TLSv1.2' as const,
                    // The client certificate checked after the handshake stays the connection's:
                    // no TLS 1.2 renegotiation (a second chain, never counted, src/api/peer-svid.ts).
                    secureOptions: constants.SSL_OP_NO_RENEGOTIATION,
                    ...serverLimitOptions(limits),
                  },
                }),
          },
          () => resolveServer(created),
        );
        // Before the first accept: serve() only starts listening here.
        applyConnectionLimits(created, limits, options.admits);
        const onHandshake = options.onHandshake;
        if (identity !== undefined && onHandshake !== undefined) {
          created.on('secureConnection', (socket: TLSSocket) => {
            // A check that throws (a stranger's input no check foresaw) closes this connection,
            // never the process.
            try {
              onHandshake(socket);
            } catch {
              socket.destroy();
            }
          });
        }
        created.once('error', reject);
      }),
  );
  const port = (server.address() as AddressInfo).port;
  return {
    url: localUrl(identity === undefined ? 'http' : 'https', address.host, port),
    updateIdentity(next) {
      if (identity !== undefined) {
        (server as HttpsServer).setSecureContext({ cert: next.cert, key: next.key });
      }
    },
    close: () =>
      new Promise<void>((done) => {
        server.close(() => done());
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      }),
  };
}

/**
 * Serves an app: plain HTTP, or TLS with our own X509-SVID for `tlsId` (renewed without restart).
 * On stop it closes before everything started earlier; the SVID's timer stops after them.
 */
export async function serveApp(
  deps: { readonly ownSvids: OwnSvidKeeperDeps; readonly teardown: StopOrder },
  options: Omit<AppListenerOptions, 'identity'> & { readonly tlsId: SpiffeId | undefined },
): Promise<AppListener> {
  const { tlsId, ...listen } = options;
  const own = tlsId === undefined ? undefined : await keepOwnSvid(deps.ownSvids, tlsId);
  if (own !== undefined) deps.teardown.last(() => own.stop());
  const listener = await listenApp({
    ...listen,
    ...(own === undefined ? {} : { identity: own.current() }),
  });
  own?.onRenewed((next) => listener.updateIdentity(next));
  deps.teardown.first(() => listener.close());
  return listener;
}
