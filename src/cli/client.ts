// The CLI's client for a running broker's admin API: address and token come from --config; with
// `adminApi.tls: true` it speaks HTTPS and authenticates the broker by its X509-SVID (admin-tls.ts).
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  adminTokenFile,
  checkPermissions,
  loadConfig,
  ownerOf,
  type LoadedConfig,
} from '../config/index.js';
import {
  BrokerError,
  CliError,
  isBrokerError,
  type ErrorCode,
  ALL_ERROR_CODES,
} from '../errors.js';
import { adminApiIdOf, parseTrustDomain } from '../spiffeid/index.js';
import {
  adminHttpsRequest,
  loadAdminBundle,
  loadAdminIdentity,
  type AdminTls,
} from './admin-tls.js';
import type { CliIo } from './io.js';

export interface AdminClient {
  readonly baseUrl: string;
  request<T = unknown>(method: string, path: string, body?: unknown): Promise<T>;
  text(method: string, path: string): Promise<string>;
  /** GET without failing on a non-2xx answer (health probes): the status and the JSON body. */
  probe(path: string): Promise<{ status: number; body: unknown }>;
}

/** A coded error that came back from the broker (the code is the broker's, kept as-is). */
class RemoteError extends BrokerError {}

/** Files for the admin API over TLS (`--admin-bundle`, `--admin-cert`, `--admin-key`). */
export interface AdminTlsFiles {
  /** Our trust bundle (SPIFFE JSON or PEM); default: the CA state under the data directory. */
  readonly bundleFile?: string | undefined;
  /** An admin X509-SVID (PEM, leaf first) and its key: mTLS instead of the bearer token. */
  readonly certFile?: string | undefined;
  readonly keyFile?: string | undefined;
}

const REQUEST_TIMEOUT_MS = 60_000;

function connectHost(listen: string, scheme: 'http' | 'https'): string {
  const index = listen.lastIndexOf(':');
  let host = listen.slice(0, index);
  const port = listen.slice(index + 1);
  if (host === '0.0.0.0') host = '127.0.0.1';
  if (host === '::' || host === '[::]') host = '[::1]';
  return `${scheme}://${host}:${port}`;
}

function readToken(loaded: LoadedConfig): string {
  if (loaded.adminTokenFromEnv !== undefined) return loaded.adminTokenFromEnv;
  const file = adminTokenFile(loaded);
  if (!existsSync(file)) {
    throw new CliError(
      'ERR_CLI_FILE',
      `no admin token at "${file}"; start the broker once or set FEDBROKER_ADMIN_TOKEN`,
    );
  }
  // The token is sent to the broker: never one another user could have planted or read (issue 15).
  // The broker may run as its own user (and the CLI as root): the data directory's owner is trusted.
  const brokerUid = ownerOf(loaded.dataDir);
  checkPermissions([
    { path: loaded.dataDir, what: 'data directory', kind: 'directory', alsoOwnedBy: brokerUid },
    { path: file, what: 'admin token file', kind: 'secret', alsoOwnedBy: brokerUid },
  ]);
  return readFileSync(file, 'utf8').trim();
}

/** What the CLI needs to reach the admin listener over TLS, or undefined for plain HTTP. */
function adminTlsOf(loaded: LoadedConfig, files: AdminTlsFiles, io: CliIo): AdminTls | undefined {
  const given = [
    ['--admin-bundle', files.bundleFile],
    ['--admin-cert', files.certFile],
    ['--admin-key', files.keyFile],
  ].filter(([, value]) => value !== undefined);
  if (!loaded.config.adminApi.tls) {
    if (given.length > 0) {
      throw new CliError(
        'ERR_CLI_USAGE',
        `${String(given[0]?.[0])} needs adminApi.tls: true in "${loaded.path}" (the admin API is plain http)`,
      );
    }
    return undefined;
  }
  const trustDomain = parseTrustDomain(loaded.config.trustDomain);
  const at = (file: string | undefined): string | undefined =>
    file === undefined ? undefined : resolve(io.cwd, file);
  const { bundle, source } = loadAdminBundle(trustDomain, loaded.dataDir, at(files.bundleFile));
  const identity = loadAdminIdentity(at(files.certFile), at(files.keyFile));
  return {
    bundle,
    bundleSource: source,
    serverId: adminApiIdOf(trustDomain),
    ...(identity === undefined ? {} : { identity }),
  };
}

export function adminClientFromConfig(
  configFile: string,
  io: CliIo,
  files: AdminTlsFiles = {},
): AdminClient {
  const loaded = loadConfig(resolve(io.cwd, configFile), io.env);
  const trust = adminTlsOf(loaded, files, io);
  // An admin X509-SVID authenticates on its own: the broker only looks at it without a token.
  const headers: Record<string, string> =
    trust?.identity === undefined ? { authorization: `Bearer ${readToken(loaded)}` } : {};
  const baseUrl = connectHost(
    loaded.config.adminApi.listen,
    trust === undefined ? 'http' : 'https',
  );
  async function send(method: string, path: string, body?: unknown): Promise<Response> {
    const text = body === undefined ? undefined : JSON.stringify(body);
    const allHeaders = {
      ...headers,
      ...(text === undefined ? {} : { 'content-type': 'application/json' }),
    };
    try {
      if (trust !== undefined) {
        return await adminHttpsRequest(new URL(path, baseUrl), trust, {
          method,
          headers: allHeaders,
          ...(text === undefined ? {} : { body: text }),
          timeoutMs: REQUEST_TIMEOUT_MS,
        });
      }
      return await fetch(`${baseUrl}${path}`, {
        method,
        headers: allHeaders,
        ...(text === undefined ? {} : { body: text }),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (cause) {
      // A broker that failed authentication keeps its own code; anything else is "unreachable".
      if (isBrokerError(cause)) throw cause;
      // Issue 18: its own code and exit 1, not a usage error (the command line was fine).
      const why = (cause as { cause?: { code?: string } }).cause?.code ?? (cause as Error).name;
      throw new CliError(
        'ERR_CLI_UNREACHABLE',
        `cannot reach the broker's admin API at ${baseUrl} (${why}): start it with fedbroker serve --config ${loaded.path}, or fix adminApi.listen there`,
        { cause },
      );
    }
  }
  async function check(response: Response): Promise<Response> {
    if (response.ok) return response;
    let parsed: { error?: { code?: string; message?: string } } = {};
    try {
      parsed = (await response.json()) as typeof parsed;
    } catch {
      // non-JSON error body
    }
    const code = parsed.error?.code;
    if (code !== undefined && (ALL_ERROR_CODES as readonly string[]).includes(code)) {
      throw new RemoteError(code as ErrorCode, parsed.error?.message ?? `HTTP ${response.status}`);
    }
    throw new RemoteError('ERR_API_INTERNAL', `broker answered HTTP ${response.status}`);
  }
  return {
    baseUrl,
    async request<T>(method: string, path: string, body?: unknown): Promise<T> {
      const response = await check(await send(method, path, body));
      if (response.status === 204) return undefined as T;
      return (await response.json()) as T;
    },
    async text(method, path) {
      return (await check(await send(method, path))).text();
    },
    async probe(path) {
      const response = await send('GET', path);
      const body: unknown = await response.json().catch(() => null);
      return { status: response.status, body };
    },
  };
}
