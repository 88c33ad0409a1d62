// HTTPS to the admin API when the config says `adminApi.tls: true`: the broker's certificate must
// verify as an X509-SVID against our own trust bundle and carry exactly
// `spiffe://<td>/fedbroker/admin-api` (X509-25, X509-28) before a single request byte is written.
import type { Duplex } from 'node:stream';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import * as tls from 'node:tls';
import { PUBLISHED_STATES, caStateFileOf, decodeCaState } from '../ca/index.js';
import {
  Bundle,
  marshalPem,
  parseBundleOrPem,
  x509AuthorityFromDer,
  type X509Authority,
} from '../bundle/index.js';
import { checkPathPermissions } from '../config/index.js';
import { AgentError, CliError, SvidError } from '../errors.js';
import type { SpiffeId, TrustDomain } from '../spiffeid/index.js';
import { chainFromPeerCertificate, classifyTlsFailure, verifyX509Svid } from '../svid/index.js';

/** What the admin listener must prove, and who we are when we use mTLS instead of the token. */
export interface AdminTls {
  /** Our trust domain's bundle: the only anchors the admin API certificate may chain to. */
  readonly bundle: Bundle;
  /** Where the bundle came from (for error messages). */
  readonly bundleSource: string;
  /** The SPIFFE ID the admin API certificate must carry: `spiffe://<td>/fedbroker/admin-api`. */
  readonly serverId: SpiffeId;
  /** An admin X509-SVID (PEM chain + key) presented to the listener; absent: bearer token only. */
  readonly identity?: { readonly cert: string; readonly key: string };
}

export interface AdminHttpsRequest {
  readonly method: string;
  readonly headers: Record<string, string>;
  readonly body?: string;
  readonly timeoutMs: number;
}

function readFileFor(what: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (cause) {
    throw new CliError('ERR_CLI_FILE', `cannot read ${what} "${file}"`, { cause });
  }
}

/** The admin X509-SVID's key: refused if another user owns it or could read it (issue 15). */
function readAdminKey(keyFile: string): string {
  checkPathPermissions({
    path: keyFile,
    what: 'admin key',
    kind: 'secret',
    rootGroupReadable: true,
  });
  return readFileFor('admin key', keyFile).toString('utf8');
}

/**
 * Our trust bundle for the admin API: `bundleFile` (SPIFFE bundle JSON or PEM) when given, else the
 * X.509 authorities this broker's CA publishes, read from `<dataDir>/ca/state.json` (no key is read).
 */
export function loadAdminBundle(
  trustDomain: TrustDomain,
  dataDir: string,
  bundleFile: string | undefined,
): { bundle: Bundle; source: string } {
  if (bundleFile !== undefined) {
    const bundle = parseBundleOrPem(readFileFor('admin trust bundle', bundleFile), trustDomain);
    return { bundle, source: bundleFile };
  }
  const stateFile = caStateFileOf(dataDir);
  let text: string;
  try {
    text = readFileSync(stateFile, 'utf8');
  } catch (cause) {
    throw new CliError(
      'ERR_CLI_FILE',
      `cannot read the ca state "${stateFile}" for the admin API's trust bundle; give --admin-bundle FILE`,
      { cause },
    );
  }
  const state = decodeCaState(text);
  if (state.trustDomain !== trustDomain.name) {
    throw new CliError(
      'ERR_CLI_FILE',
      `the ca state "${stateFile}" belongs to "${state.trustDomain}", not "${trustDomain.name}"`,
    );
  }
  const anchors: X509Authority[] = [];
  const seen = new Set<string>();
  for (const authority of state.authorities) {
    if (authority.kind !== 'x509' || authority.anchor === undefined) continue;
    if (!PUBLISHED_STATES.has(authority.state)) continue;
    const anchor = x509AuthorityFromDer(Buffer.from(authority.anchor, 'base64'));
    if (seen.has(anchor.fingerprintSha256)) continue;
    seen.add(anchor.fingerprintSha256);
    anchors.push(anchor);
  }
  if (anchors.length === 0) {
    throw new CliError(
      'ERR_CLI_FILE',
      `the ca state "${stateFile}" holds no published x.509 authority; give --admin-bundle FILE`,
    );
  }
  return { bundle: new Bundle({ trustDomain, x509Authorities: anchors }), source: stateFile };
}

/** Reads an admin X509-SVID and its key (PEM files); both or neither. */
export function loadAdminIdentity(
  certFile: string | undefined,
  keyFile: string | undefined,
): { cert: string; key: string } | undefined {
  if (certFile === undefined && keyFile === undefined) return undefined;
  if (certFile === undefined || keyFile === undefined) {
    throw new CliError('ERR_CLI_USAGE', 'give both --admin-cert and --admin-key, or neither');
  }
  const identity = {
    cert: readFileFor('admin certificate', certFile).toString('utf8'),
    key: readAdminKey(keyFile),
  };
  try {
    // Fails here, not as an unreachable broker, when the files are not a matching PEM cert + key.
    tls.createSecureContext(identity);
  } catch (cause) {
    throw new CliError(
      'ERR_CLI_FILE',
      `"${certFile}" and "${keyFile}" are not a usable pem certificate chain and matching key`,
      { cause },
    );
  }
  return identity;
}

/** X509-25 / X509-28: the server's chain verifies against our bundle and names the admin API. */
function authenticateServer(socket: tls.TLSSocket, trust: AdminTls, where: string): void {
  // The presented chain, without the anchors OpenSSL appended from our bundle.
  const chain = chainFromPeerCertificate(
    socket.getPeerCertificate(true),
    trust.bundle.x509Authorities,
  );
  let id: SpiffeId;
  try {
    id = verifyX509Svid(chain, trust.bundle).spiffeId;
  } catch (cause) {
    if (!(cause instanceof SvidError)) throw cause;
    throw new AgentError(
      'ERR_AGENT_PEER_UNVERIFIED',
      `the admin API at ${where} presented a certificate that is not an x509-svid of the trust bundle from "${trust.bundleSource}" (${cause.code}): ${cause.message}`,
      { cause, context: { svidCode: cause.code } },
    );
  }
  if (!id.equals(trust.serverId)) {
    throw new AgentError(
      'ERR_AGENT_PEER_UNAUTHORIZED',
      `the admin API at ${where} presented "${id.toString()}", not "${trust.serverId.toString()}"`,
      { context: { spiffeId: id.toString() } },
    );
  }
}

/**
 * Opens TLS to the admin listener and hands the socket to `done` only after OpenSSL (anchors: our
 * bundle only, FED-30) and verifyX509Svid both accepted the server and its SPIFFE ID matched.
 */
function connectVerified(
  trust: AdminTls,
  host: string,
  port: number,
  timeoutMs: number,
  done: (error: Error | null, socket?: tls.TLSSocket) => void,
): void {
  const where = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const socket = tls.connect({
    host,
    port,
    ca: marshalPem(trust.bundle.x509Authorities.map((a) => a.der)),
    rejectUnauthorized: true,
    // X509-28: SPIFFE certificates carry no host name; the SPIFFE ID is checked below instead.
    checkServerIdentity: () => undefined,
    minVersion: 'TLSv1.2',
    ALPNProtocols: ['http/1.1'],
    ...(trust.identity === undefined ? {} : { cert: trust.identity.cert, key: trust.identity.key }),
  });
  let settled = false;
  const finish = (error: Error | null): void => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    socket.removeListener('error', onError);
    if (error === null) return done(null, socket);
    socket.destroy();
    done(error);
  };
  const onError = (error: NodeJS.ErrnoException): void => {
    if (classifyTlsFailure(error) === 'certificate') {
      finish(
        new AgentError(
          'ERR_AGENT_PEER_UNVERIFIED',
          `the admin API at ${where} presented a certificate that does not chain to the trust bundle from "${trust.bundleSource}" (${error.code})`,
          { cause: error, context: { tlsCode: error.code } },
        ),
      );
      return;
    }
    finish(error);
  };
  const timer = setTimeout(
    () => finish(new Error(`tls handshake with ${where} did not complete in ${timeoutMs} ms`)),
    timeoutMs,
  );
  socket.on('error', onError);
  socket.once('secureConnect', () => {
    try {
      authenticateServer(socket, trust, where);
    } catch (error) {
      finish(error as Error);
      return;
    }
    finish(null);
  });
}

/** One HTTPS request to the admin API, as a fetch Response (so callers treat both schemes alike). */
export function adminHttpsRequest(
  url: URL,
  trust: AdminTls,
  options: AdminHttpsRequest,
): Promise<Response> {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = Number(url.port === '' ? 443 : url.port);
  return new Promise((resolveResponse, reject) => {
    const req = request(
      {
        host,
        port,
        path: `${url.pathname}${url.search}`,
        method: options.method,
        headers: {
          ...options.headers,
          ...(options.body === undefined
            ? {}
            : { 'content-length': String(Buffer.byteLength(options.body)) }),
        },
        // No agent: the connection is ours, opened and verified in connectVerified.
        createConnection: (_options, oncreate: (error: Error | null, socket: Duplex) => void) => {
          connectVerified(trust, host, port, options.timeoutMs, (error, socket) => {
            if (error !== null || socket === undefined) {
              oncreate(error ?? new Error('no socket'), undefined as unknown as Duplex);
            } else {
              oncreate(null, socket);
            }
          });
          return undefined;
        },
        timeout: options.timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const status = res.statusCode ?? 500;
          const headers = new Headers();
          for (const [name, value] of Object.entries(res.headers)) {
            if (typeof value === 'string') headers.set(name, value);
            else if (Array.isArray(value)) for (const v of value) headers.append(name, v);
          }
          const nullBody = status === 204 || status === 205 || status === 304;
          resolveResponse(
            new Response(nullBody ? null : Buffer.concat(chunks), { status, headers }),
          );
        });
      },
    );
    req.on('timeout', () =>
      req.destroy(
        new Error(`${options.method} ${url.pathname}: no answer within ${options.timeoutMs} ms`),
      ),
    );
    req.on('error', reject);
    req.end(options.body);
  });
}
