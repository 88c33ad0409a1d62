// mTLS between agent SDK peers of two federated trust domains over real TLS on 127.0.0.1: per-trust-
// domain X509-SVID verification (X509-25, FED-30, WAPI-14), authorisation (X509-28), refusals that
// never reach application code, and CA / SVID rotation without recreating the server.
import { once } from 'node:events';
import * as https from 'node:https';
import * as tls from 'node:tls';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  authorizeAny,
  authorizeId,
  authorizeMemberOf,
  authorizeOneOf,
  connectMtls,
  createMtlsHttpsServer,
  createMtlsServer,
  guardServer,
  peerIdOf,
  peerOf,
  staticSource,
  tlsClientOptions,
  tlsServerOptions,
  type Authorizer,
  type X509Source,
  type X509SvidWithKey,
} from '../../src/agent/index.js';
import { BundleSet, marshalPem } from '../../src/bundle/index.js';
import { AgentError } from '../../src/errors.js';
import { parseSpiffeId, parseTrustDomain } from '../../src/spiffeid/index.js';
import {
  closeServer,
  listenLoopback,
  mutableSource,
  svidOf,
  within,
  type MutableSource,
} from '../helpers/agent.js';
import { bundleOf, createCa, createLeaf, type TestCert } from '../helpers/pki.js';

const WAIT_MS = 5_000;
const DAY = 86_400_000;
const LOGISTICS = 'logistics.example';
const SHIPPING = 'shipping.example';
const SUSPENDED = 'suspended.example';
const API_ID = parseSpiffeId(`spiffe://${LOGISTICS}/api`);
const DISPATCHER_ID = parseSpiffeId(`spiffe://${SHIPPING}/dispatcher`);

let logCa: TestCert;
let shipCa: TestCert;
let shipInter: TestCert;
let suspendedCa: TestCert;
let apiSvid: X509SvidWithKey;
let dispatcherSvid: X509SvidWithKey;
let logisticsSet: BundleSet;
let shippingSet: BundleSet;

beforeAll(async () => {
  logCa = await createCa({ trustDomain: LOGISTICS });
  shipCa = await createCa({ trustDomain: SHIPPING });
  shipInter = await createCa({ issuer: shipCa, trustDomain: SHIPPING });
  suspendedCa = await createCa({ trustDomain: SUSPENDED });
  apiSvid = svidOf(await createLeaf(logCa, { spiffeIds: [API_ID.toString()] }));
  // The partner's SVID comes with an intermediate (leaf + intermediate, X509-7).
  dispatcherSvid = svidOf(await createLeaf(shipInter, { spiffeIds: [DISPATCHER_ID.toString()] }), [
    shipInter,
  ]);
  // What the logistics agent trusts: its own trust domain and the approved partner, each alone.
  logisticsSet = new BundleSet([bundleOf(LOGISTICS, [logCa]), bundleOf(SHIPPING, [shipCa])]);
  shippingSet = new BundleSet([bundleOf(SHIPPING, [shipCa]), bundleOf(LOGISTICS, [logCa])]);
});

/** What one server saw: handler / listener calls, data received, refusals (tlsClientError). */
interface Observed {
  handled: string[];
  data: string[];
  refused: unknown[];
}

const servers: tls.Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => closeServer(server)));
});

function observe(server: tls.Server, observed: Observed): void {
  server.on('tlsClientError', (error: unknown) => observed.refused.push(error));
}

/** An https server of logistics.example answering "hello <peer id>: <body>". */
async function startHttps(
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
async function startRaw(
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
function post(
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
async function ping(
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

async function refusalOf(observed: Observed): Promise<AgentError> {
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

async function connectRefusal(promise: Promise<unknown>): Promise<AgentError> {
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

describe('mTLS between federated trust domains (X509-25, FED-30)', () => {
  it('accepts an approved partner: data flows both ways over https, peer IDs known on both sides', async () => {
    const { port, observed } = await startHttps(
      staticSource(apiSvid, logisticsSet),
      authorizeMemberOf(parseTrustDomain(SHIPPING)),
    );
    const result = await post(
      port,
      staticSource(dispatcherSvid, shippingSet),
      authorizeId(API_ID),
      'order 42',
    );
    expect(result).toEqual({
      status: 200,
      text: `hello ${DISPATCHER_ID.toString()}: order 42`,
    });
    expect(observed.handled).toEqual([DISPATCHER_ID.toString()]);
    expect(observed.refused).toEqual([]);
  });

  it('accepts an approved partner over raw TLS (connectMtls / createMtlsServer)', async () => {
    const { port, observed } = await startRaw(
      staticSource(apiSvid, logisticsSet),
      authorizeOneOf(DISPATCHER_ID),
    );
    const result = await ping(port, staticSource(dispatcherSvid, shippingSet), authorizeId(API_ID));
    expect(result).toEqual({ reply: 'echo:ping', error: undefined, peer: API_ID.toString() });
    expect(observed.handled).toEqual([DISPATCHER_ID.toString()]);
    expect(observed.data).toEqual(['ping']);
  });

  it('exposes the verified chain through peerOf (leaf + intermediate, anchor = partner CA)', async () => {
    const { port } = await startRaw(staticSource(apiSvid, logisticsSet), authorizeAny());
    const socket = await connectMtls(staticSource(dispatcherSvid, shippingSet), authorizeAny(), {
      host: '127.0.0.1',
      port,
    });
    const peer = peerOf(socket);
    socket.destroy();
    expect(peer?.spiffeId.toString()).toBe(API_ID.toString());
    expect(peer?.svid.authority.der.equals(logCa.der)).toBe(true);
  });
});

describe('server refusals never reach the request handler or data listener', () => {
  interface Case {
    readonly name: string;
    readonly client: () => Promise<X509SvidWithKey>;
    readonly svidCode?: string;
    readonly code: string;
  }
  const cases: Case[] = [
    {
      // X509-25 / CTS XV-15: the chain is valid for shipping.example, the ID claims logistics.example.
      name: 'X509-25: chain valid for another federated trust domain, ID claims this one',
      client: async () =>
        svidOf(await createLeaf(shipCa, { spiffeIds: [`spiffe://${LOGISTICS}/admin`] })),
      code: 'ERR_AGENT_PEER_UNVERIFIED',
      svidCode: 'ERR_SVID_CHAIN_UNTRUSTED',
    },
    {
      name: 'X509-26: expired partner SVID',
      client: async () =>
        svidOf(
          await createLeaf(shipCa, {
            spiffeIds: [DISPATCHER_ID.toString()],
            notBefore: new Date(Date.now() - 2 * DAY),
            notAfter: new Date(Date.now() - DAY),
          }),
        ),
      code: 'ERR_AGENT_PEER_UNVERIFIED',
      svidCode: 'ERR_SVID_CERT_EXPIRED',
    },
    {
      name: 'WAPI-14: trust domain without a bundle in the set',
      client: async () =>
        svidOf(await createLeaf(suspendedCa, { spiffeIds: [`spiffe://${SUSPENDED}/dispatcher`] })),
      code: 'ERR_AGENT_PEER_UNVERIFIED',
      svidCode: 'ERR_SVID_NO_BUNDLE',
    },
    {
      name: 'X509-28: verified SPIFFE ID the authoriser does not allow',
      client: async () =>
        svidOf(await createLeaf(shipCa, { spiffeIds: [`spiffe://${SHIPPING}/intruder`] })),
      code: 'ERR_AGENT_PEER_UNAUTHORIZED',
    },
    {
      // A chain whose intermediate is withheld cannot reach the partner's anchor.
      name: 'X509-26: partner leaf without its intermediate',
      client: async () => ({ ...dispatcherSvid, chainDer: dispatcherSvid.chainDer.slice(0, 1) }),
      code: 'ERR_AGENT_PEER_UNVERIFIED',
      svidCode: 'ERR_SVID_CHAIN_UNTRUSTED',
    },
  ];
  const clientSet = (): BundleSet => shippingSet;

  it.each(cases.map((c) => [c.name, c] as const))('https: %s', async (_name, c) => {
    const { port, observed } = await startHttps(
      staticSource(apiSvid, logisticsSet),
      authorizeOneOf(DISPATCHER_ID),
    );
    const result = await post(
      port,
      staticSource(await c.client(), clientSet()),
      authorizeAny(),
      'secret order',
    );
    expect(result).toHaveProperty('error');
    const refusal = await refusalOf(observed);
    expect(refusal.code).toBe(c.code);
    if (c.svidCode !== undefined) expect(refusal.context?.svidCode).toBe(c.svidCode);
    expect(observed.handled).toEqual([]);
    expect(observed.data).toEqual([]);
  });

  it.each(cases.map((c) => [c.name, c] as const))('raw tls: %s', async (_name, c) => {
    const { port, observed } = await startRaw(
      staticSource(apiSvid, logisticsSet),
      authorizeOneOf(DISPATCHER_ID),
    );
    const result = await ping(port, staticSource(await c.client(), clientSet()), authorizeAny());
    // TLS 1.3: the client finishes its handshake before the server's verdict; it only sees the end.
    expect(result.reply).toBe('');
    const refusal = await refusalOf(observed);
    expect(refusal.code).toBe(c.code);
    expect(observed.handled).toEqual([]);
    expect(observed.data).toEqual([]);
  });

  it('X509-25: a hostile client writing before the handshake ends gets no byte to the application', async () => {
    const { port, observed } = await startRaw(staticSource(apiSvid, logisticsSet), authorizeAny());
    const forged = await createLeaf(shipCa, { spiffeIds: [`spiffe://${LOGISTICS}/admin`] });
    const forgedSvid = svidOf(forged);
    const socket = tls.connect({
      host: '127.0.0.1',
      port,
      cert: forged.pem,
      key: forgedSvid.privateKeyPem,
      rejectUnauthorized: false,
    });
    socket.write('early bytes'); // queued before the handshake, sent as soon as it completes
    socket.on('secureConnect', () => socket.write('late bytes'));
    socket.on('error', () => undefined);
    await within(once(socket, 'close'), WAIT_MS, 'hostile client close');
    const refusal = await refusalOf(observed);
    expect(refusal.context?.svidCode).toBe('ERR_SVID_CHAIN_UNTRUSTED');
    expect(observed.handled).toEqual([]);
    expect(observed.data).toEqual([]);
  });

  it('X509-28: TLS 1.2 renegotiation is refused, so the verified identity cannot be swapped', async () => {
    const { port, observed } = await startRaw(
      staticSource(apiSvid, logisticsSet),
      authorizeOneOf(DISPATCHER_ID),
    );
    const socket = tls.connect({
      host: '127.0.0.1',
      port,
      cert: marshalPem(dispatcherSvid.chainDer),
      key: dispatcherSvid.privateKeyPem,
      rejectUnauthorized: false,
      maxVersion: 'TLSv1.2',
    });
    try {
      let reply = '';
      socket.on('data', (chunk: Buffer) => (reply += chunk.toString()));
      const failed = new Promise<Error>((resolve) => socket.on('error', resolve));
      await within(once(socket, 'secureConnect'), WAIT_MS, 'tls 1.2 connect');
      socket.write('ping');
      await within(
        (async () => {
          while (reply !== 'echo:ping') await new Promise((r) => setTimeout(r, 10));
        })(),
        WAIT_MS,
        'echo',
      );
      // The server answers the renegotiation request with a no_renegotiation alert.
      const renegotiated = new Promise<string>((resolve) => {
        if (
          !socket.renegotiate({ rejectUnauthorized: false }, (e) => resolve(e ? 'failed' : 'done'))
        ) {
          resolve('not started');
        }
      });
      socket.write('again');
      const outcome = await within(
        Promise.race([renegotiated, failed.then((e) => e.message)]),
        WAIT_MS,
        'renegotiation',
      );
      expect(outcome).not.toBe('done');
      expect(outcome).toMatch(/renegotiation|failed|not started/);
      expect(observed.handled).toEqual([DISPATCHER_ID.toString()]);
    } finally {
      socket.destroy();
    }
  });

  it('X509-26: no session resumption; every connection is a full handshake verified anew', async () => {
    const { port, observed } = await startRaw(staticSource(apiSvid, logisticsSet), authorizeAny());
    const open = async (session?: Buffer): Promise<{ reused: boolean; session?: Buffer }> => {
      const socket = tls.connect({
        host: '127.0.0.1',
        port,
        cert: marshalPem(dispatcherSvid.chainDer),
        key: dispatcherSvid.privateKeyPem,
        rejectUnauthorized: false,
        ...(session === undefined ? {} : { session }),
      });
      let ticket: Buffer | undefined;
      socket.on('session', (s: Buffer) => (ticket = s));
      socket.on('error', () => undefined);
      await within(once(socket, 'secureConnect'), WAIT_MS, 'connect');
      socket.write('ping');
      await within(once(socket, 'data'), WAIT_MS, 'echo');
      const reused = socket.isSessionReused();
      socket.destroy();
      return { reused, ...(ticket === undefined ? {} : { session: ticket }) };
    };
    const first = await open();
    const second = await open(first.session);
    expect([first.reused, second.reused]).toEqual([false, false]);
    expect(observed.handled).toEqual([DISPATCHER_ID.toString(), DISPATCHER_ID.toString()]);
  });

  it('X509-20: a client without a certificate is refused', async () => {
    const { port, observed } = await startRaw(staticSource(apiSvid, logisticsSet), authorizeAny());
    const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false });
    socket.on('error', () => undefined);
    socket.on('secureConnect', () => socket.write('hello'));
    await within(once(socket, 'close'), WAIT_MS, 'anonymous client close');
    const refusal = await refusalOf(observed);
    expect(refusal.context?.svidCode).toBe('ERR_SVID_EMPTY_CHAIN');
    expect(observed.data).toEqual([]);
  });
});

describe('client refusals: the application never gets a socket to an unverified server', () => {
  interface Case {
    readonly name: string;
    readonly server: () => Promise<X509SvidWithKey>;
    readonly authorize: Authorizer;
    readonly code: string;
    readonly svidCode?: string;
  }
  const cases: Case[] = [
    {
      name: 'X509-25: server chain valid for shipping.example claims logistics.example',
      server: async () => svidOf(await createLeaf(shipCa, { spiffeIds: [API_ID.toString()] })),
      authorize: authorizeId(API_ID),
      code: 'ERR_AGENT_PEER_UNVERIFIED',
      svidCode: 'ERR_SVID_CHAIN_UNTRUSTED',
    },
    {
      name: 'X509-26: expired server SVID',
      server: async () =>
        svidOf(
          await createLeaf(logCa, {
            spiffeIds: [API_ID.toString()],
            notBefore: new Date(Date.now() - 2 * DAY),
            notAfter: new Date(Date.now() - DAY),
          }),
        ),
      authorize: authorizeId(API_ID),
      code: 'ERR_AGENT_PEER_UNVERIFIED',
      svidCode: 'ERR_SVID_CERT_EXPIRED',
    },
    {
      name: 'WAPI-14: server of a trust domain the client has no bundle for',
      server: async () =>
        svidOf(await createLeaf(suspendedCa, { spiffeIds: [`spiffe://${SUSPENDED}/api`] })),
      authorize: authorizeAny(),
      code: 'ERR_AGENT_PEER_UNVERIFIED',
      svidCode: 'ERR_SVID_NO_BUNDLE',
    },
    {
      name: 'X509-28: verified server ID that is not the expected one',
      server: async () =>
        svidOf(await createLeaf(logCa, { spiffeIds: [`spiffe://${LOGISTICS}/other`] })),
      authorize: authorizeId(API_ID),
      code: 'ERR_AGENT_PEER_UNAUTHORIZED',
    },
  ];

  it.each(cases.map((c) => [c.name, c] as const))('connectMtls: %s', async (_name, c) => {
    const { port, observed } = await startRaw(
      staticSource(await c.server(), logisticsSet),
      authorizeAny(),
    );
    const error = await connectRefusal(
      connectMtls(staticSource(dispatcherSvid, shippingSet), c.authorize, {
        host: '127.0.0.1',
        port,
      }),
    );
    expect(error.code).toBe(c.code);
    if (c.svidCode !== undefined) expect(error.context?.svidCode).toBe(c.svidCode);
    expect(observed.data).toEqual([]);
  });

  it.each(cases.map((c) => [c.name, c] as const))('https.request: %s', async (_name, c) => {
    const { port, observed } = await startHttps(
      staticSource(await c.server(), logisticsSet),
      authorizeAny(),
    );
    const result = await post(port, staticSource(dispatcherSvid, shippingSet), c.authorize, 'x');
    expect(result).toHaveProperty('error');
    const error = (result as { error: AgentError }).error;
    expect(error).toBeInstanceOf(AgentError);
    expect(error.code).toBe(c.code);
    expect(observed.handled).toEqual([]);
    expect(observed.data).toEqual([]);
  });
});

describe('sources are read on every connection', () => {
  it('FED-60 / WAPI-14: a partner removed from the BundleSet is refused on the next connection', async () => {
    const source = mutableSource(apiSvid, logisticsSet);
    const { port, observed } = await startRaw(source, authorizeAny());
    const client = staticSource(dispatcherSvid, shippingSet);
    expect((await ping(port, client, authorizeAny())).reply).toBe('echo:ping');

    source.bundleSet = logisticsSet.delete(parseTrustDomain(SHIPPING)); // relationship suspended
    expect((await ping(port, client, authorizeAny())).reply).toBe('');
    expect((await refusalOf(observed)).context?.svidCode).toBe('ERR_SVID_NO_BUNDLE');
    expect(observed.handled).toEqual([DISPATCHER_ID.toString()]);
  });

  it('FED-31 / X509-26: partner CA rotation (old+new CA, then a new SVID) and own SVID rotation keep new connections working on the same server', async () => {
    const serverSource = mutableSource(apiSvid, logisticsSet);
    const { port, server, observed } = await startRaw(
      serverSource,
      authorizeMemberOf(parseTrustDomain(SHIPPING)),
    );
    const clientSource: MutableSource = mutableSource(dispatcherSvid, shippingSet);
    const apiLeafHex = async (): Promise<string | undefined> => {
      const socket = await connectMtls(clientSource, authorizeId(API_ID), {
        host: '127.0.0.1',
        port,
      });
      const serial = peerOf(socket)?.svid.leaf.der.toString('hex');
      socket.destroy();
      return serial;
    };
    expect((await ping(port, clientSource, authorizeAny())).reply).toBe('echo:ping');

    // 1. The partner publishes its next CA beside the current one; we receive the new bundle.
    const shipCaNext = await createCa({ trustDomain: SHIPPING });
    const shippingNext = bundleOf(SHIPPING, [shipCa, shipCaNext]);
    serverSource.bundleSet = logisticsSet.set(shippingNext);
    expect((await ping(port, clientSource, authorizeAny())).reply).toBe('echo:ping');

    // 2. The partner's workload gets an SVID from the new CA (its own set has the new CA too).
    clientSource.bundleSet = shippingSet.set(shippingNext);
    clientSource.svid = svidOf(
      await createLeaf(shipCaNext, { spiffeIds: [DISPATCHER_ID.toString()] }),
    );
    expect((await ping(port, clientSource, authorizeAny())).reply).toBe('echo:ping');

    // 3. The partner retires the old CA: SVIDs it signed stop working, the new ones keep working.
    serverSource.bundleSet = logisticsSet.set(bundleOf(SHIPPING, [shipCaNext]));
    expect((await ping(port, clientSource, authorizeAny())).reply).toBe('echo:ping');
    const oldClient = staticSource(dispatcherSvid, shippingSet);
    expect((await ping(port, oldClient, authorizeAny())).reply).toBe('');
    expect((await refusalOf(observed)).context?.svidCode).toBe('ERR_SVID_CHAIN_UNTRUSTED');

    // 4. Our own SVID rotates: the next handshake presents it, the server was never recreated.
    const before = await apiLeafHex();
    const nextApi = await createLeaf(logCa, { spiffeIds: [API_ID.toString()] });
    serverSource.svid = svidOf(nextApi);
    const after = await apiLeafHex();
    expect(before).not.toBe(after);
    expect(after).toBe(nextApi.der.toString('hex'));
    expect(server.listening).toBe(true);
    // Every successful ping above was handled by this one server.
    expect(observed.handled.length).toBeGreaterThanOrEqual(4);
  });

  it('an SVID-less source refuses connections with ERR_AGENT_SVID_UNAVAILABLE (server and client)', async () => {
    const broken: X509Source = {
      x509Svid: () => {
        throw new Error('no svid yet');
      },
      bundles: () => logisticsSet,
    };
    const { port, observed } = await startRaw(broken, authorizeAny());
    const client = staticSource(dispatcherSvid, shippingSet);
    // The server refuses before the handshake: the client sees the connection reset.
    await expect(
      within(connectMtls(client, authorizeAny(), { host: '127.0.0.1', port }), WAIT_MS, 'connect'),
    ).rejects.toHaveProperty('code', 'ECONNRESET');
    expect((await refusalOf(observed)).code).toBe('ERR_AGENT_SVID_UNAVAILABLE');
    expect(observed.handled).toEqual([]);

    const clientError = await connectRefusal(
      connectMtls(broken, authorizeAny(), { host: '127.0.0.1', port }),
    );
    expect(clientError.code).toBe('ERR_AGENT_SVID_UNAVAILABLE');
  });
});

describe('options used without the helpers fail closed', () => {
  it('an https server built from tlsServerOptions but never guarded completes no handshake', async () => {
    const options = tlsServerOptions(staticSource(apiSvid, logisticsSet), authorizeAny());
    let handled = 0;
    const server = https.createServer(options, (_req, res) => {
      handled += 1;
      res.end('should not happen');
    });
    servers.push(server);
    const port = await listenLoopback(server);
    const result = await post(port, staticSource(dispatcherSvid, shippingSet), authorizeAny(), 'x');
    expect(result).toHaveProperty('error');
    expect(handled).toBe(0);
  });

  it('guardServer makes an https server built from spread options enforce mTLS', async () => {
    const options = tlsServerOptions(
      staticSource(apiSvid, logisticsSet),
      authorizeOneOf(DISPATCHER_ID),
    );
    const server = guardServer(
      https.createServer({ ...options, keepAliveTimeout: 1000 }, (req, res) => {
        res.end(peerIdOf(req.socket)?.toString());
      }),
      { ...options, keepAliveTimeout: 1000 } as typeof options,
    );
    servers.push(server);
    const port = await listenLoopback(server);
    const result = await post(
      port,
      staticSource(dispatcherSvid, shippingSet),
      authorizeId(API_ID),
      '',
    );
    expect(result).toEqual({ status: 200, text: DISPATCHER_ID.toString() });
    expect(() => guardServer(server, options)).toThrow(TypeError);
  });

  it('tlsClientOptions passed to tls.connect refuse even a legitimate server', async () => {
    const { port, observed } = await startRaw(staticSource(apiSvid, logisticsSet), authorizeAny());
    const socket = tls.connect({
      ...(tlsClientOptions(
        staticSource(dispatcherSvid, shippingSet),
        authorizeAny(),
      ) as tls.ConnectionOptions),
      host: '127.0.0.1',
      port,
    });
    const [error] = (await within(once(socket, 'error'), WAIT_MS, 'tls.connect error')) as [Error];
    expect(error).toBeInstanceOf(Error);
    expect(observed.data).toEqual([]);
  });

  it('caller mistakes throw TypeError', () => {
    const source = staticSource(apiSvid, logisticsSet);
    expect(() => tlsServerOptions({} as X509Source, authorizeAny())).toThrow(TypeError);
    expect(() => tlsServerOptions(source, 'any' as unknown as Authorizer)).toThrow(TypeError);
    expect(() => guardServer(tls.createServer(), {})).toThrow(TypeError);
    expect(() => connectMtls(source, authorizeAny(), { port: 0 })).toThrow(TypeError);
    expect(() => authorizeId('spiffe://x/y' as never)).toThrow(TypeError);
    expect(() => staticSource({ ...apiSvid, chainDer: [] }, logisticsSet)).toThrow(TypeError);
  });
});
