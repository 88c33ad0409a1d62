// WAPI-17 endpoint addresses and the WAPI-19 retry delays, as pure functions.
import { describe, expect, it } from 'vitest';
import { isBrokerError } from '../errors.js';
import { backoffDelayMs } from './workload-api-stream.js';
import { parseWorkloadEndpoint, resolveWorkloadEndpoint } from './workload-endpoint.js';

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return isBrokerError(error) ? error.code : `not coded: ${String(error)}`;
  }
  return undefined;
}

describe('WAPI-17: Workload API addresses', () => {
  it.each([
    ['unix:///run/spiffe/agent.sock', 'unix', 'unix:///run/spiffe/agent.sock'],
    ['unix:/run/spiffe/agent.sock', 'unix', 'unix:///run/spiffe/agent.sock'],
    ['unix:///tmp/a%20b.sock', 'unix', 'unix:///tmp/a b.sock'],
    ['tcp://127.0.0.1:8081', 'tcp', 'ipv4:127.0.0.1:8081'],
    ['tcp://[::1]:8081', 'tcp', 'ipv6:[::1]:8081'],
    ['tcp://127.0.0.1:65535', 'tcp', 'ipv4:127.0.0.1:65535'],
    ['unix:///run/a@b.sock', 'unix', 'unix:///run/a@b.sock'],
    // Runs of '/' collapse, as `unix://$DIR/agent.sock` gives when $DIR ends in '/' (go-spiffe too).
    ['unix:///run/spire/sockets//agent.sock', 'unix', 'unix:///run/spire/sockets/agent.sock'],
    ['unix:////run/spire/agent.sock', 'unix', 'unix:///run/spire/agent.sock'],
  ])('accepts %s', (address, kind, target) => {
    expect(parseWorkloadEndpoint(address)).toEqual({ kind, address, target });
  });

  it.each([
    ['unix with an authority', 'unix://host/run/a.sock'],
    ['unix relative path', 'unix:relative.sock'],
    ['unix with a query', 'unix:///run/a.sock?x=1'],
    ['unix with a fragment', 'unix:///run/a.sock#f'],
    ['tcp with a path', 'tcp://127.0.0.1:8081/x'],
    ['tcp with a name', 'tcp://localhost:8081'],
    ['tcp without a port', 'tcp://127.0.0.1'],
    ['tcp with userinfo', 'tcp://u@127.0.0.1:8081'],
    ['tcp without //', 'tcp:127.0.0.1:8081'],
    ['tcp with an empty userinfo', 'tcp://@127.0.0.1:8081'],
    ['tcp with an empty user and password', 'tcp://:@127.0.0.1:8081'],
    ['tcp with a tab in the host', 'tcp://127.0\t.0.1:8081'],
    ['tcp with a trailing newline', 'tcp://127.0.0.1:8081\n'],
    ['tcp port 0', 'tcp://127.0.0.1:0'],
    ['tcp port over 65535', 'tcp://127.0.0.1:65536'],
    ['tcp port not decimal', 'tcp://127.0.0.1:+81'],
    ['tcp IPv6 without brackets', 'tcp://::1:8081'],
    ['tcp IPv6 with a zone', 'tcp://[fe80::1%25eth0]:8081'],
    ['tcp IPv4 in brackets', 'tcp://[127.0.0.1]:8081'],
    ['tcp shortened IPv4', 'tcp://127.1:8081'],
    ['unix with a .. segment', 'unix:///run/../x.sock'],
    ['unix with a . segment', 'unix:///run/./x.sock'],
    ['unix with an encoded .. segment', 'unix:///run/%2e%2e/x.sock'],
    ['unix with a trailing slash', 'unix:///run/x.sock/'],
    ['unix with an encoded newline', 'unix:///run/a.sock%0A'],
    ['unix with a raw tab', 'unix:///run/a\t.sock'],
    ['another scheme', 'http://127.0.0.1:8081'],
    ['no scheme', 'run/agent.sock'],
    ['empty', ''],
    ['not a string', 42],
  ])('refuses %s with ERR_AGENT_WORKLOAD_ENDPOINT', (_name, address) => {
    expect(code(() => parseWorkloadEndpoint(address))).toBe('ERR_AGENT_WORKLOAD_ENDPOINT');
  });

  it('explicit configuration first, then SPIFFE_ENDPOINT_SOCKET; a bare path only when explicit', () => {
    const env = { SPIFFE_ENDPOINT_SOCKET: 'unix:///from/env.sock' };
    expect(resolveWorkloadEndpoint('unix:///explicit.sock', env).target).toBe(
      'unix:///explicit.sock',
    );
    expect(resolveWorkloadEndpoint('/explicit.sock', env).target).toBe('unix:///explicit.sock');
    expect(resolveWorkloadEndpoint(undefined, env).target).toBe('unix:///from/env.sock');
    expect(
      code(() => resolveWorkloadEndpoint(undefined, { SPIFFE_ENDPOINT_SOCKET: '/bare.sock' })),
    ).toBe('ERR_AGENT_WORKLOAD_ENDPOINT');
    expect(code(() => resolveWorkloadEndpoint(undefined, {}))).toBe('ERR_AGENT_WORKLOAD_ENDPOINT');
  });
});

describe('WAPI-19 / CTS EP-5: retry delays', () => {
  it('grow exponentially from the initial delay, are capped, and jitter between 50 % and 100 %', () => {
    const low = () => 0;
    const high = () => 1;
    expect(
      [0, 1, 2, 3].map((n) => backoffDelayMs(n, { initialMs: 100, maxMs: 1000 }, high)),
    ).toEqual([100, 200, 400, 800]);
    expect(backoffDelayMs(10, { initialMs: 100, maxMs: 1000 }, high)).toBe(1000);
    expect(backoffDelayMs(0, { initialMs: 100, maxMs: 1000 }, low)).toBe(50);
    expect(backoffDelayMs(1000, {}, high)).toBe(30_000);
    // Never a tight loop: even the first retry waits (EP-5 expects < 20 calls/s).
    expect(backoffDelayMs(0, {}, low)).toBeGreaterThanOrEqual(50);
  });
});
