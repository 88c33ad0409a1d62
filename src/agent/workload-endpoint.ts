// Where the SPIFFE Workload API listens (WAPI-17): explicit configuration first, else the
// SPIFFE_ENDPOINT_SOCKET value; `unix:` with an absolute path and no authority, or `tcp:` with an
// IP literal and a port, nothing else. Turned into a @grpc/grpc-js channel target.
import { isIP } from 'node:net';
import { AgentError } from '../errors.js';

export const ENDPOINT_SOCKET_ENV = 'SPIFFE_ENDPOINT_SOCKET';

export interface WorkloadEndpoint {
  readonly kind: 'unix' | 'tcp';
  /** The address as configured (for messages). */
  readonly address: string;
  /** What @grpc/grpc-js dials: `unix:///abs/path`, `ipv4:127.0.0.1:8081` or `ipv6:[::1]:8081`. */
  readonly target: string;
}

function invalid(address: string, why: string): AgentError {
  return new AgentError(
    'ERR_AGENT_WORKLOAD_ENDPOINT',
    `workload API address ${JSON.stringify(address.slice(0, 200))} is not valid: ${why} (WAPI-17)`,
  );
}

/** A canonical absolute socket path: no empty, `.` or `..` segments, no NUL. */
function checkSocketPath(address: string, path: string): string {
  if (!path.startsWith('/')) throw invalid(address, 'a unix socket path must be absolute');
  if (path.includes('\u0000')) throw invalid(address, 'the path holds a NUL byte');
  if (path.length > 4096) throw invalid(address, 'the path is too long');
  return path;
}

function parseUnix(address: string, rest: string): WorkloadEndpoint {
  if (rest.includes('?') || rest.includes('#')) {
    throw invalid(address, 'no query or fragment is allowed');
  }
  let path: string;
  if (rest.startsWith('//')) {
    // `unix://` + authority + path: only an empty authority is allowed (`unix:///run/a.sock`).
    const afterSlashes = rest.slice(2);
    if (!afterSlashes.startsWith('/')) {
      throw invalid(address, 'a unix address must not have an authority (host)');
    }
    path = afterSlashes;
  } else {
    path = rest;
  }
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    throw invalid(address, 'the path is not valid percent-encoding');
  }
  const socket = checkSocketPath(address, decoded);
  return { kind: 'unix', address, target: `unix://${socket}` };
}

function parseTcp(address: string, rest: string): WorkloadEndpoint {
  if (!rest.startsWith('//')) throw invalid(address, 'a tcp address needs //host:port');
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    throw invalid(address, 'not a URI');
  }
  if (url.username !== '' || url.password !== '') throw invalid(address, 'no userinfo allowed');
  if ((url.pathname !== '' && url.pathname !== '/') || rest.replace(/^\/\/[^/]*/, '') !== '') {
    throw invalid(address, 'a tcp address has no path');
  }
  if (url.search !== '' || url.hash !== '' || address.includes('?') || address.includes('#')) {
    throw invalid(address, 'no query or fragment is allowed');
  }
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const family = isIP(host);
  if (family === 0) throw invalid(address, 'the host must be an IP address, not a name');
  if (url.port === '') throw invalid(address, 'a tcp address needs a port');
  const target = family === 4 ? `ipv4:${host}:${url.port}` : `ipv6:[${host}]:${url.port}`;
  return { kind: 'tcp', address, target };
}

/** Parses an untrusted Workload API address (ERR_AGENT_WORKLOAD_ENDPOINT when it is not valid). */
export function parseWorkloadEndpoint(address: unknown): WorkloadEndpoint {
  if (typeof address !== 'string' || address.length === 0) {
    throw new AgentError(
      'ERR_AGENT_WORKLOAD_ENDPOINT',
      `no workload API address: pass { socket } or set ${ENDPOINT_SOCKET_ENV} (WAPI-17)`,
    );
  }
  const colon = address.indexOf(':');
  const scheme = colon === -1 ? '' : address.slice(0, colon);
  const rest = address.slice(colon + 1);
  if (scheme === 'unix') return parseUnix(address, rest);
  if (scheme === 'tcp') return parseTcp(address, rest);
  throw invalid(address, 'the scheme must be unix: or tcp:');
}

/**
 * The endpoint from explicit configuration, else from the environment (WAPI-17: clients MUST fall
 * back to SPIFFE_ENDPOINT_SOCKET). A bare absolute path is taken as a unix socket for convenience
 * only when it is passed explicitly, never from the environment.
 */
export function resolveWorkloadEndpoint(
  socket: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
): WorkloadEndpoint {
  if (socket !== undefined) {
    return parseWorkloadEndpoint(socket.startsWith('/') ? `unix://${socket}` : socket);
  }
  return parseWorkloadEndpoint(env[ENDPOINT_SOCKET_ENV]);
}
