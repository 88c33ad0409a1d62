// Fixtures of the catalogue tests: a trust domain's CA and SVIDs, Workload API messages built from
// them, JWT-SVIDs minted by jose or crafted by hand, and `startWorld()`, which runs one mock
// Workload API and one harness over it for a whole test file.
import { sign as cryptoSign, type KeyObject } from 'node:crypto';
import { SignJWT } from 'jose';
import { expect } from 'vitest';
import { createCa, createLeaf, type TestCert, type TestJwtKey } from '../helpers/pki.js';
import { jwtBundlesResponse, x509Response } from '../helpers/workload-api-server.js';
import { startHarness, type HarnessProcess } from './harness-process.js';
import { startConformanceWorkloadApi, type ConformanceWorkloadApi } from './mock-workload-api.js';
import { probe, until, verdictOf, type Ports, type Role } from './suite-client.js';

export const TD = 'example.org';
export const FED = 'fed.example.org';
export const AUDIENCE = 'conformance';

/** An X509-SVID with the chain it is served with. */
export interface Svid {
  readonly spiffeId: string;
  readonly leaf: TestCert;
  readonly intermediates: readonly TestCert[];
}

export async function issue(
  ca: TestCert,
  spiffeId: string,
  intermediates: readonly TestCert[] = [],
): Promise<Svid> {
  return { spiffeId, leaf: await createLeaf(ca, { spiffeIds: [spiffeId] }), intermediates };
}

/** An X509SVIDResponse: `svids` in order, each with `bundle`, plus `federated` (td ID -> CAs). */
export function x509Message(
  svids: readonly Svid[],
  bundle: readonly TestCert[],
  federated: Readonly<Record<string, readonly TestCert[]>> = {},
): Record<string, unknown> {
  return x509Response(
    svids.map((svid) => ({ ...svid, bundle })),
    federated,
  );
}

/** A bundle JWK of a signing key (use jwt-svid unless `use` says otherwise; null drops it). */
export function jwkOf(key: TestJwtKey, use: string | null = 'jwt-svid'): Record<string, unknown> {
  return { ...key.jwk, kid: key.kid, ...(use === null ? {} : { use }) };
}

/** A JWTBundlesResponse: trust domain name -> JWKs. */
export function jwtMessage(
  bundles: Readonly<Record<string, readonly Record<string, unknown>[]>>,
): Record<string, unknown> {
  return jwtBundlesResponse(
    Object.fromEntries(Object.entries(bundles).map(([td, keys]) => [`spiffe://${td}`, keys])),
  );
}

const nowS = (): number => Math.floor(Date.now() / 1000);

/** The catalogue's default claims (§6): aud ["conformance"], 5-minute exp. */
export function claims(sub: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { sub, aud: [AUDIENCE], iat: nowS(), exp: nowS() + 300, ...extra };
}

export interface MintOptions {
  readonly alg?: string;
  /** null: no kid header. */
  readonly kid?: string | null;
  /** null: no typ header. */
  readonly typ?: string | null;
  readonly claims?: Record<string, unknown>;
}

/** A JWT-SVID signed by jose (an implementation independent of the SDK). */
export async function mint(key: TestJwtKey, sub: string, options: MintOptions = {}) {
  const header: Record<string, unknown> = { alg: options.alg ?? key.alg };
  if (options.kid !== null) header['kid'] = options.kid ?? key.kid;
  if (options.typ !== null) header['typ'] = options.typ ?? 'JWT';
  return new SignJWT((options.claims ?? claims(sub)) as never)
    .setProtectedHeader(header as never)
    .sign(key.privateKey);
}

export const b64u = (value: string | Buffer): string => Buffer.from(value).toString('base64url');

/** A hand-made compact JWS: header and payload as given, signed over by `signer`. */
export function craft(
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
  signer: (data: Buffer) => Buffer,
): string {
  const signingInput = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(payload))}`;
  return `${signingInput}.${b64u(signer(Buffer.from(signingInput)))}`;
}

/** An ECDSA signer in JWS form (raw r||s) with `hash`. */
export const ecdsa =
  (key: KeyObject, hash = 'sha256') =>
  (data: Buffer): Buffer =>
    cryptoSign(hash, data, { key, dsaEncoding: 'ieee-p1363' });

/** One running harness over one mock Workload API, the harness's SVID from `ca`. */
export interface World {
  readonly api: ConformanceWorkloadApi;
  readonly harness: HarnessProcess;
  readonly ports: Ports;
  readonly ca: TestCert;
  /** The harness's first SVID. */
  readonly own: Svid;
  /** A peer from `ca` the harness always accepts (positive controls, probes). */
  readonly peer: TestCert;
  stop(): Promise<void>;
}

export async function startWorld(
  options: {
    federated?: Record<string, readonly TestCert[]>;
    jwtBundles?: Record<string, unknown>;
    ca?: TestCert;
  } = {},
): Promise<World> {
  const ca = options.ca ?? (await createCa({ trustDomain: TD }));
  const own = await issue(ca, `spiffe://${TD}/harness`);
  const peer = await createLeaf(ca, { spiffeIds: [`spiffe://${TD}/peer`] });
  const api = await startConformanceWorkloadApi();
  api.setX509(x509Message([own], [ca], options.federated));
  if (options.jwtBundles !== undefined) api.setJwtBundles(options.jwtBundles);
  const harness = startHarness(api.address);
  let ports: Ports;
  try {
    ports = await harness.ready;
  } catch (error) {
    await harness.stop();
    await api.close();
    throw error;
  }
  return {
    api,
    harness,
    ports,
    ca,
    own,
    peer,
    async stop() {
      await harness.stop();
      await api.close();
    },
  };
}

/** Barrier (catalogue §2.2): waits until the X.509 port presents `spiffeId`. */
export async function untilPresented(world: World, spiffeId: string): Promise<void> {
  await until(
    async () => (await probe(world.ports, [world.peer])).presentedUri === spiffeId,
    `the X.509 port to present ${spiffeId}`,
  );
}

/** Positive control (§2.1): the same harness, with the same bundles, accepts `world.peer` in `role`. */
export async function expectPeerAccepted(world: World, role: Role): Promise<void> {
  expect(await verdictOf(world.ports, role, [world.peer])).toEqual({
    accepted: true,
    spiffeId: `spiffe://${TD}/peer`,
  });
}
