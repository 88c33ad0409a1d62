// Shared fixture of the workload-api-source-*.test.ts files: two trust domains' CAs, SVIDs and JWT keys,
// mock Workload API servers (@grpc/grpc-js from the published proto) on real Unix sockets, the sources
// made against them (both closed after each test), and the update waits and JWT helpers the tests use.
import { SignJWT, importJWK } from 'jose';
import { afterEach, beforeAll } from 'vitest';
import {
  createWorkloadApiSource,
  type AgentUpdate,
  type WorkloadApiSource,
} from '../../src/agent/index.js';
import {
  createCa,
  createJwtKey,
  createLeaf,
  type TestCert,
  type TestJwtKey,
} from '../helpers/pki.js';
import {
  startMockWorkloadApi,
  type MockWorkloadApi,
  type SvidSpec,
} from '../helpers/workload-api-server.js';

export const TD = 'example.org';
export const FED = 'fed.example.org';

// Set by the hooks useWorkloadApiSourceWorld registers (live bindings: importers see the current values).
export let ca: TestCert;
export let fedCa: TestCert;
export let a: SvidSpec;
export let b: SvidSpec;
export let fedPeer: SvidSpec;
export let jwtKey: TestJwtKey;
export let fedJwtKey: TestJwtKey;

/** Mock servers and sources to close after each test. */
export const servers: MockWorkloadApi[] = [];
export const sources: WorkloadApiSource[] = [];

/** Registers the calling test file's hooks: PKIs and keys before all, closing sources and servers after each test. */
export function useWorkloadApiSourceWorld(): void {
  beforeAll(async () => {
    ca = await createCa({ trustDomain: TD });
    fedCa = await createCa({ trustDomain: FED });
    const leafA = await createLeaf(ca, { spiffeIds: [`spiffe://${TD}/a`] });
    const leafB = await createLeaf(ca, { spiffeIds: [`spiffe://${TD}/b`] });
    a = { spiffeId: `spiffe://${TD}/a`, leaf: leafA, bundle: [ca] };
    b = { spiffeId: `spiffe://${TD}/b`, leaf: leafB, bundle: [ca] };
    fedPeer = {
      spiffeId: `spiffe://${FED}/peer`,
      leaf: await createLeaf(fedCa, { spiffeIds: [`spiffe://${FED}/peer`] }),
      bundle: [fedCa],
    };
    jwtKey = await createJwtKey('ES256', 'own-1');
    fedJwtKey = await createJwtKey('ES256', 'fed-1');
  });

  afterEach(async () => {
    for (const src of sources.splice(0)) await src.close();
    for (const server of servers.splice(0)) await server.close();
  });
}

export async function mock(options: { tcp?: boolean } = {}): Promise<MockWorkloadApi> {
  const server = await startMockWorkloadApi(options);
  servers.push(server);
  return server;
}

export async function source(
  server: MockWorkloadApi,
  extra: Parameters<typeof createWorkloadApiSource>[0] = {},
): Promise<WorkloadApiSource> {
  const created = await createWorkloadApiSource({
    env: { SPIFFE_ENDPOINT_SOCKET: server.address },
    backoff: { initialMs: 20, maxMs: 200 },
    ...extra,
  });
  sources.push(created);
  return created;
}

export { codeOf, codeOfSync } from '../helpers/error-code.js';

/** Resolves at the next onUpdate(`what`) after `action`. */
async function nextUpdate(
  src: WorkloadApiSource,
  what: AgentUpdate,
  action: () => void,
): Promise<void> {
  const seen = new Promise<void>((resolve) => {
    const off = src.onUpdate((updated) => {
      if (updated === what) {
        off();
        resolve();
      }
    });
  });
  action();
  await seen;
}

/** Resolves at the next onUpdate('svid') after `action`. */
export function nextSvid(src: WorkloadApiSource, action: () => void): Promise<void> {
  return nextUpdate(src, 'svid', action);
}

/** Resolves at the next onUpdate('bundles') after `action`. */
export function nextBundles(src: WorkloadApiSource, action: () => void): Promise<void> {
  return nextUpdate(src, 'bundles', action);
}

export function jwk(key: TestJwtKey, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...key.jwk, kid: key.kid, ...extra };
}

export async function token(key: TestJwtKey, sub: string, aud: string | string[] = 'conformance') {
  return new SignJWT({ sub, aud })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(await importJWK(key.privateKey.export({ format: 'jwk' }), key.alg));
}
