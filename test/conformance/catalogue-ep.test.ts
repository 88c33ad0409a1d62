// SPIFFE SDK conformance catalogue §3 (EP, the Workload Endpoint) against our harness: discovery
// from SPIFFE_ENDPOINT_SOCKET, the security header on every call, TCP endpoints, malformed
// addresses, and retries after Unavailable / PermissionDenied but never after InvalidArgument.
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCa, createJwtKey } from '../helpers/pki.js';
import {
  AUDIENCE,
  TD,
  issue,
  jwkOf,
  jwtMessage,
  mint,
  startWorld,
  x509Message,
  type World,
} from './fixtures.js';
import { startHarness, type HarnessProcess } from './harness-process.js';
import { validate } from './jwt-validate.js';
import {
  startConformanceWorkloadApi,
  type CallRecord,
  type ConformanceWorkloadApi,
} from './mock-workload-api.js';
import { control, probe } from './suite-client.js';

let world: World;
let tcpApi: ConformanceWorkloadApi;
/** Stops what a test started, in order (harnesses before their mock). */
const cleanups: (() => Promise<void>)[] = [];

/** A mock serving a valid SVID (a lenient or retrying client reaches READY on it). */
async function servingApi(options: { tcp?: boolean; bindLater?: boolean } = {}) {
  const api = await startConformanceWorkloadApi(options);
  const ca = await createCa({ trustDomain: TD });
  api.setX509(x509Message([await issue(ca, `spiffe://${TD}/harness`)], [ca]));
  let harness: HarnessProcess | undefined;
  cleanups.push(async () => {
    await harness?.stop();
    await api.close();
  });
  return {
    api,
    run: (endpoint = api.address, readyMs?: number) => (harness = startHarness(endpoint, readyMs)),
  };
}

beforeAll(async () => {
  const key = await createJwtKey('ES256', 'k');
  world = await startWorld({ jwtBundles: jwtMessage({ [TD]: [jwkOf(key)] }) });
  world.api.onFetchJwtSvid(() => ({
    svids: [{ spiffe_id: `spiffe://${TD}/harness`, svid: 'a.b.c', hint: '' }],
  }));
  const token = await mint(key, `spiffe://${TD}/w`);
  expect((await validate(world.ports, token)).status).toBe(200);
}, 60_000);

afterAll(async () => {
  await world?.stop();
  for (const cleanup of cleanups) await cleanup();
});

/** Calls per second over a run of calls (first to last). */
function ratePerSecond(calls: readonly CallRecord[]): number {
  if (calls.length < 2) return 0;
  const spanMs = (calls.at(-1)?.atMs ?? 0) - (calls[0]?.atMs ?? 0);
  return spanMs === 0 ? Infinity : ((calls.length - 1) * 1000) / spanMs;
}

describe('catalogue §3 EP: Workload Endpoint', () => {
  it('EP-1: discovers the endpoint from SPIFFE_ENDPOINT_SOCKET when not explicitly configured', async () => {
    // The harness got no other configuration (harness-process.ts) and printed READY.
    expect(world.harness.isReady()).toBe(true);
    expect(world.api.callsOf('FetchX509SVID').length).toBeGreaterThan(0);
    expect((await probe(world.ports, [world.peer])).presentedUri).toBe(world.own.spiffeId);
  });

  it('EP-2: sends metadata workload.spiffe.io: true on every RPC (X.509, JWT bundle, JWT fetch)', async () => {
    const fetched = await control(world.ports, '/v1/jwt/fetch', {
      audience: [AUDIENCE],
      spiffe_id: '',
    });
    expect(fetched.json['status']).toBe('ok');
    const methods = new Set(world.api.calls.map((call) => call.method));
    expect(methods).toEqual(new Set(['FetchX509SVID', 'FetchJWTBundles', 'FetchJWTSVID']));
    for (const call of world.api.calls)
      expect([call.method, call.metadata['workload.spiffe.io']]).toEqual([call.method, ['true']]);
  });

  it('EP-3 (SHOULD): supports a tcp://127.0.0.1:<port> endpoint', async () => {
    const { api, run } = await servingApi({ tcp: true });
    tcpApi = api;
    expect(api.address).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/);
    const ports = await run().ready;
    expect((await probe(ports, [world.peer])).presentedUri).toBe(`spiffe://${TD}/harness`);
  });

  // Positive controls: the same sockets with well-formed addresses reached READY (EP-1, EP-3).
  it.each([
    [
      'unix-authority',
      () => world.api.address.replace('unix://', 'unix://localhost'),
      () => world.api,
    ],
    ['tcp-path', () => `${tcpApi.address}/workload`, () => tcpApi],
  ] as const)(
    'EP-4/%s (OPT): rejects an endpoint URI with an authority on unix: or a path on tcp:',
    async (_n, endpoint, api) => {
      const before = api().calls.length;
      const harness = startHarness(endpoint());
      cleanups.push(() => harness.stop());
      await harness.exited;
      expect(harness.isReady()).toBe(false);
      expect(api().calls.length).toBe(before);
    },
  );

  it.each([
    ['EP-5', 'Unavailable', grpc.status.UNAVAILABLE],
    ['EP-6', 'PermissionDenied', grpc.status.PERMISSION_DENIED],
  ] as const)('%s (SHOULD): retries with backoff after %s', async (_id, _name, code) => {
    const { api, run } = await servingApi();
    api.refuse('FetchX509SVID', (nth) => (nth <= 3 ? { code } : undefined));
    await run(api.address, 20_000).ready;
    const calls = api.callsOf('FetchX509SVID');
    expect(calls.slice(0, 3).map((call) => call.status)).toEqual([code, code, code]);
    expect(calls[3]?.status).toBe('open');
    // Fewer than 20 calls a second: on average at least 50 ms between attempts (catalogue §10).
    expect(ratePerSecond(calls)).toBeLessThan(20);
  });

  it('EP-7 (SHOULD): does not retry after InvalidArgument', async () => {
    const { api, run } = await servingApi();
    for (const method of [
      'FetchX509SVID',
      'FetchJWTBundles',
      'FetchJWTSVID',
      'FetchX509Bundles',
    ] as const) {
      api.refuse(method, () => ({ code: grpc.status.INVALID_ARGUMENT }));
    }
    const harness = run();
    // The catalogue's 5 s window; it closes early when the harness gives up and exits (contract
    // §2.3 allows it), after which no call can follow.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      harness.exited,
      new Promise((resolve) => (timer = setTimeout(resolve, 5_000))),
    ]);
    clearTimeout(timer);
    expect(harness.isReady()).toBe(false);
    const perMethod = new Map<string, number>();
    for (const call of api.calls) perMethod.set(call.method, (perMethod.get(call.method) ?? 0) + 1);
    for (const count of perMethod.values()) expect(count).toBeLessThanOrEqual(2);
    expect(perMethod.get('FetchX509SVID')).toBeGreaterThan(0);
  });

  it('EP-8 (OPT): retries when the endpoint is not reachable yet (socket created 2 s later)', async () => {
    const { api, run } = await servingApi({ bindLater: true });
    const harness = run(api.address, 20_000);
    // The catalogue's method: the socket appears 2 s after the harness starts.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(harness.isReady()).toBe(false);
    await api.bind();
    await harness.ready;
    expect(api.callsOf('FetchX509SVID').length).toBeGreaterThan(0);
  });
});
