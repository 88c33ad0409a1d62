// The CLI's client for a running broker's admin API: address and token come from --config.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadConfig } from '../config/index.js';
import { BrokerError, CliError, type ErrorCode, ALL_ERROR_CODES } from '../errors.js';
import type { CliIo } from './io.js';

export interface AdminClient {
  readonly baseUrl: string;
  request<T = unknown>(method: string, path: string, body?: unknown): Promise<T>;
  text(method: string, path: string): Promise<string>;
}

/** A coded error that came back from the broker (the code is the broker's, kept as-is). */
class RemoteError extends BrokerError {}

function connectHost(listen: string): string {
  const index = listen.lastIndexOf(':');
  let host = listen.slice(0, index);
  const port = listen.slice(index + 1);
  if (host === '0.0.0.0') host = '127.0.0.1';
  if (host === '::' || host === '[::]') host = '[::1]';
  return `http://${host}:${port}`;
}

export function adminClientFromConfig(configFile: string, io: CliIo): AdminClient {
  const loaded = loadConfig(resolve(io.cwd, configFile), io.env);
  let token = loaded.adminTokenFromEnv;
  if (token === undefined) {
    const file =
      loaded.config.adminApi.tokenFile === undefined
        ? join(loaded.dataDir, 'admin-token')
        : resolve(loaded.dataDir, loaded.config.adminApi.tokenFile);
    if (!existsSync(file)) {
      throw new CliError(
        'ERR_CLI_FILE',
        `no admin token at "${file}"; start the broker once or set FEDBROKER_ADMIN_TOKEN`,
      );
    }
    token = readFileSync(file, 'utf8').trim();
  }
  const baseUrl = connectHost(loaded.config.adminApi.listen);
  const authorization = `Bearer ${token}`;
  async function send(method: string, path: string, body?: unknown): Promise<Response> {
    try {
      return await fetch(`${baseUrl}${path}`, {
        method,
        headers: {
          authorization,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(60_000),
      });
    } catch (cause) {
      throw new CliError(
        'ERR_CLI_USAGE',
        `cannot reach the broker's admin API at ${baseUrl}: is it running?`,
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
  };
}
