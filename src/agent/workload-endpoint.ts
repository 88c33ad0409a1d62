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

/** ASCII control characters (C0 and DEL): never part of a URI (Go's url.Parse refuses them too). */
function hasControl(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

/**
 * An absolute socket path, with runs of `/` collapsed to one (`unix://$DIR/agent.sock` with `$DIR`
 * ending in `/` gives `//`; go-spiffe accepts that, and so do we). Refused: a relative path, a
 * control character, a trailing `/` (a directory, never a socket), and `.` or `..` segments, which
 * go-spiffe accepts but which name a socket other than the one written (a hardening choice).
 */
function checkSocketPath(address: string, path: string): string {
  if (!path.startsWith('/')) throw invalid(address, 'a unix socket path must be absolute');
  if (hasControl(path)) throw invalid(address, 'the path holds a control character');
  if (path.length > 4096) throw invalid(address, 'the path is too long');
  const socket = path.replace(/\/{2,}/g, '/');
  if (socket.endsWith('/')) throw invalid(address, 'the path ends in "/" (a directory)');
  const segments = socket.slice(1).split('/');
  if (segments.some((segment) => segment === '.' || segment === '..')) {
    throw invalid(address, 'the path has a "." or ".." segment');
  }
  return socket;
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

/** The port of a tcp address: decimal digits, 1 to 65535. */
function portOf(address: string, text: string): number {
  if (text === '') throw invalid(address, 'a tcp address needs a port');
  const port = /^[0-9]{1,5}$/.test(text) ? Number(text) : 0;
  if (port < 1 || port > 65535) throw invalid(address, 'the port must be 1 to 65535');
  return port;
}

/**
 * `tcp://` + IP literal + `:` + port, scanned by hand: the WHATWG URL class strips tabs and
 * newlines and hides an empty userinfo (`tcp://@127.0.0.1:8081`), both of which are refused here.
 */
function parseTcp(address: string, rest: string): WorkloadEndpoint {
  if (!rest.startsWith('//')) throw invalid(address, 'a tcp address needs //host:port');
  const authority = rest.slice(2);
  const end = authority.search(/[/?#]/);
  if (end !== -1) {
    throw invalid(
      address,
      authority[end] === '/' ? 'a tcp address has no path' : 'no query or fragment is allowed',
    );
  }
  if (authority.includes('@')) throw invalid(address, 'no userinfo allowed');
  let host: string;
  let portText: string;
  if (authority.startsWith('[')) {
    const close = authority.indexOf(']');
    const after = close === -1 ? '' : authority.slice(close + 1);
    if (close === -1 || (after !== '' && !after.startsWith(':'))) {
      throw invalid(address, 'a bracketed host must be an IPv6 address followed by :port');
    }
    host = authority.slice(1, close);
    portText = after.slice(1);
    if (isIP(host) !== 6 || host.includes('%')) {
      throw invalid(address, 'the bracketed host must be an IPv6 address (no zone)');
    }
  } else {
    const colon = authority.lastIndexOf(':');
    host = colon === -1 ? authority : authority.slice(0, colon);
    portText = colon === -1 ? '' : authority.slice(colon + 1);
    if (isIP(host) !== 4) {
      throw invalid(address, 'the host must be an IP address (IPv6 in brackets), not a name');
    }
  }
  const port = portOf(address, portText);
  const target = host.includes(':') ? `ipv6:[${host}]:${port}` : `ipv4:${host}:${port}`;
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
  if (hasControl(address)) throw invalid(address, 'it holds a control character');
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
