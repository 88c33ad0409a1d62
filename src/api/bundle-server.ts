// Serves the bundle endpoint on a bare node:https server (the hottest public path: no framework per request).
// No client certificates are requested (FED-13); TLS 1.2+ with forward-secret AEAD suites (FED-11).
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { SecureContextOptions } from 'node:tls';
import { isBrokerError } from '../errors.js';
import { handleBundleRequest, type ServedBundle } from '../federation/index.js';
import { lingerAfterResponse } from './body-limit.js';
import {
  applyConnectionLimits,
  DEFAULT_LISTENER_LIMITS,
  serverLimitOptions,
  type ConnectionGate,
  type ListenerLimits,
} from './listener-limits.js';
import { checkRequestTarget } from './validate.js';

/** FED-11: Mozilla "intermediate" TLS 1.2 suites (TLS 1.3 suites are all AEAD with forward secrecy). */
export const INTERMEDIATE_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

export interface BundleServerOptions {
  readonly host: string;
  readonly port: number;
  /** Current TLS identity (cert chain + key, PEM or DER). Call `updateIdentity` when it changes. */
  readonly identity: Pick<SecureContextOptions, 'cert' | 'key'>;
  /** The bundle currently published, prepared once per change by serveBundle. */
  readonly current: () => ServedBundle | undefined;
  /** Connection caps and timeouts (issue 15); default DEFAULT_LISTENER_LIMITS. */
  readonly limits?: ListenerLimits;
}

export interface BundleServer {
  readonly url: string;
  readonly port: number;
  /** Swaps the certificate for new connections (https_spiffe renewal, https_web file reload). */
  updateIdentity(identity: Pick<SecureContextOptions, 'cert' | 'key'>): void;
  close(): Promise<void>;
  readonly server: Server;
  readonly gate: ConnectionGate;
}

/**
 * The endpoint takes no request body (FED-13: GET only): one that announces a body is answered 413
 * and its connection closed, so its bytes are never read (issue 15).
 */
const BODY_REFUSED = Buffer.from(
  JSON.stringify({
    error: { code: 'ERR_API_BODY_TOO_LARGE', message: 'the bundle endpoint takes no request body' },
  }),
);

function tlsOptions(identity: Pick<SecureContextOptions, 'cert' | 'key'>): SecureContextOptions {
  return {
    ...identity,
    minVersion: 'TLSv1.2',
    ciphers: INTERMEDIATE_CIPHERS,
    honorCipherOrder: false,
  };
}

/** The JSON error body for a target checkRequestTarget refuses; undefined when it is fine. */
function badTarget(target: string): Buffer | undefined {
  try {
    checkRequestTarget(target);
    return undefined;
  } catch (error) {
    if (!isBrokerError(error)) throw error;
    return Buffer.from(JSON.stringify({ error: { code: error.code, message: error.message } }));
  }
}

/** Starts listening and resolves once bound. */
export async function startBundleServer(options: BundleServerOptions): Promise<BundleServer> {
  const limits = options.limits ?? DEFAULT_LISTENER_LIMITS;
  const server = createServer(
    { ...tlsOptions(options.identity), requestCert: false, ...serverLimitOptions(limits) },
    (req, res) => {
      const length = req.headers['content-length'];
      if (
        req.headers['transfer-encoding'] !== undefined ||
        (length !== undefined && length !== '0')
      ) {
        res.writeHead(413, {
          'content-type': 'application/json',
          'content-length': String(BODY_REFUSED.length),
          connection: 'close',
        });
        lingerAfterResponse(req, res);
        res.end(BODY_REFUSED);
        return;
      }
      // Issue 15, finding 12: a malformed target is a coded 400 here too ('/' skips the check).
      const target = req.url ?? '/';
      if (target !== '/') {
        const refusal = badTarget(target);
        if (refusal !== undefined) {
          res.writeHead(400, {
            'content-type': 'application/json',
            'content-length': String(refusal.length),
            'cache-control': 'no-store',
          });
          res.end(refusal);
          return;
        }
      }
      const ifNoneMatch = req.headers['if-none-match'];
      const response = handleBundleRequest(options.current(), {
        method: req.method ?? 'GET',
        ifNoneMatch: Array.isArray(ifNoneMatch) ? ifNoneMatch.join(',') : ifNoneMatch,
      });
      res.writeHead(response.status, response.headers);
      res.end(response.body);
    },
  );
  const gate = applyConnectionLimits(server, limits);
  server.on('tlsClientError', () => {
    // A client that fails the handshake is the client's problem; never crash on it.
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    url: `https://${host}:${port}/`,
    port,
    server,
    gate,
    updateIdentity(identity) {
      server.setSecureContext(tlsOptions(identity));
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
