// Shared fixture of the mTLS tests: two federated trust domains' PKIs (logistics.example, shipping.example,
// plus a suspended one), raw TLS / https servers on 127.0.0.1 closed after each test, and the clients
// (post, ping) and refusal readers the tests use.
import * as https from 'node:https';
import type * as tls from 'node:tls';
import { afterEach, beforeAll, expect } from 'vitest';
import {
  connectMtls,
  createMtlsHttpsServer,
  createMtlsServer,
  peerIdOf,
  tlsClientOptions,
  type Authorizer,
  type X509Source,
  type X509SvidWithKey,
} from '../../src/agent/index.js';
import { BundleSet } from '../../src/bundle/index.js';
import { AgentError } from '../../src/errors.js';
import { parseSpiffeId } from '../../src/spiffeid/index.js';
import { closeServer, listenLoopback, svidOf, within } from '../helpers/agent.js';
import { bundleOf, createCa, createLeaf, type TestCert } from '../helpers/pki.js';

export const WAIT_MS = 5_000;
export const DAY = 86_400_000;
export const LOGISTICS = 'logistics.example';
export const SHIPPING = 'shipping.example';
export const SUSPENDED = 'suspended.example';
export const API_ID = parseSpiffeId(`spiffe://${LOGISTICS}/api`);
export const DISPATCHER_ID = parseSpiffeId(`spiffe://${SHIPPING}/dispatcher`);

// Set by the hooks useMtlsWorld registers (live bindings: importers see the current values).
export let logCa: TestCert;
export let shipCa: TestCert;
let shipInter: TestCert;
export let suspendedCa: TestCert;
export let apiSvid: X509SvidWithKey;
export let dispatcherSvid: X509SvidWithKey;
export let logisticsSet: BundleSet;
export let shippingSet: BundleSet;

/** What one server saw: handler / listener calls, data received, refusals (tlsClientError). */
export interface Observed {
  handled: string[];
  data: string[];
  refused: unknown[];
}

/** Servers to close after each test. */
export const servers: tls.Server[] = [];

/** Registers the calling test file's hooks: PKIs before all, closing the servers after each test. */
export function useMtlsWorld(): void {
  beforeAll(async () => {
    logCa = await createCa({ trustDomain: LOGISTICS });
    shipCa = await createCa({ trustDomain: SHIPPING });
    shipInter = await createCa({ issuer: shipCa, trustDomain: SHIPPING });
    suspendedCa = await createCa({ trustDomain: SUSPENDED });
    apiSvid = svidOf(await createLeaf(logCa, { spiffeIds: [API_ID.toString()] }));
    // The partner's SVID comes with an intermediate (leaf + intermediate, X509-7).
    dispatcherSvid = svidOf(
      await createLeaf(shipInter, { spiffeIds: [DISPATCHER_ID.toString()] }),
      [shipInter],
    );
    // What the logistics agent trusts: its own trust domain and the approved partner, each alone.
    logisticsSet = new BundleSet([bundleOf(LOGISTICS, [logCa]), bundleOf(SHIPPING, [shipCa])]);
    shippingSet = new BundleSet([bundleOf(SHIPPING, [shipCa]), bundleOf(LOGISTICS, [logCa])]);
  });
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((server) => closeServer(server)));
  });
}

function observe(server: tls.Server, observed: Observed): void {
  server.on('tlsClientError', (error: unknown) => observed.refused.push(error));
}

/** An https server of logistics.example answering "hello <peer id>: <body>". */
export async function startHttps(
  source: X509Source,
  authorize: Authorizer,
): Promise<{ port: number; server: https.Server; observed: Observed }> {
  const observed: Observed = { handled: [], data: [], refused: [] };
  const server = createMtlsHttpsServer(source, authorize, (req, res) => {
    const peer = peerIdOf(req.socket)?.toString() ?? 'nobody';
    observed.handled.push(peer);
    let body = '';
    req.on('data', (chunk: Buffer) => {
      observed.data.push(chunk.toString());
      body += chunk.toString();
    });
    req.on('end', () => res.end(`hello ${peer}: ${body}`));
  });
  observe(server, observed);
  servers.push(server);
  return { port: await listenLoopback(server), server, observed };
}

/** A raw TLS server of logistics.example echoing "echo:<data>". */
export async function startRaw(
  source: X509Source,
  authorize: Authorizer,
  options: { now?: () => number } = {},
): Promise<{ port: number; server: tls.Server; observed: Observed }> {
  const observed: Observed = { handled: [], data: [], refused: [] };
  const server = createMtlsServer(
    source,
    authorize,
    (socket) => {
      observed.handled.push(peerIdOf(socket)?.toString() ?? 'nobody');
      socket.on('data', (chunk: Buffer) => {
        observed.data.push(chunk.toString());
        socket.write(`echo:${chunk.toString()}`);
      });
      socket.on('error', () => undefined);
    },
    options,
  );
  observe(server, observed);
  servers.push(server);
  return { port: await listenLoopback(server), server, observed };
}

/** POSTs `body` over https with tlsClientOptions; resolves with status + text or the error. */
export function post(
  port: number,
  source: X509Source,
  authorize: Authorizer,
  body: string,
): Promise<{ status: number; text: string } | { error: NodeJS.ErrnoException }> {
  return within(
    new Promise((resolve) => {
      const req = https.request(`https://127.0.0.1:${port}/orders`, {
        ...tlsClientOptions(source, authorize),
        method: 'POST',
      });
      req.on('error', (error: NodeJS.ErrnoException) => resolve({ error }));
      req.on('response', (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        res.on('error', (error: NodeJS.ErrnoException) => resolve({ error }));
      });
      req.end(body);
    }),
    WAIT_MS,
    'https request',
  );
}

/** connectMtls + write "ping"; resolves with what came back before the connection ended. */
export async function ping(
  port: number,
  source: X509Source,
  authorize: Authorizer,
): Promise<{ reply: string; error: unknown; peer: string | undefined }> {
  const socket = await connectMtls(source, authorize, { host: '127.0.0.1', port });
  const peer = peerIdOf(socket)?.toString();
  return within(
    new Promise((resolve) => {
      let reply = '';
      let error: unknown;
      socket.on('data', (chunk: Buffer) => {
        reply += chunk.toString();
        if (reply === 'echo:ping') socket.end();
      });
      socket.on('error', (e) => (error = e));
      socket.on('close', () => resolve({ reply, error, peer }));
      socket.write('ping');
    }),
    WAIT_MS,
    'ping',
  );
}

export async function refusalOf(observed: Observed): Promise<AgentError> {
  await within(
    (async () => {
      while (observed.refused.length === 0) await new Promise((r) => setTimeout(r, 10));
    })(),
    WAIT_MS,
    'server refusal',
  );
  const error = observed.refused[0];
  expect(error).toBeInstanceOf(AgentError);
  return error as AgentError;
}

export async function connectRefusal(promise: Promise<unknown>): Promise<AgentError> {
  const error = await within(
    promise.then(
      () => undefined,
      (e: unknown) => e,
    ),
    WAIT_MS,
    'client refusal',
  );
  expect(error).toBeInstanceOf(AgentError);
  return error as AgentError;
}
