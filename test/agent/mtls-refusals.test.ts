// mTLS refusals between agent SDK peers of two federated trust domains over real TLS on 127.0.0.1:
// a server never hands an unverified or unauthorised client (X509-25/26/28, WAPI-14) to application
// code, and a client never gets a socket to an unverified server.
import { once } from 'node:events';
import * as tls from 'node:tls';
import { describe, expect, it } from 'vitest';
import {
  authorizeAny,
  authorizeId,
  authorizeOneOf,
  connectMtls,
  staticSource,
  type Authorizer,
  type X509SvidWithKey,
} from '../../src/agent/index.js';
import { marshalPem, type BundleSet } from '../../src/bundle/index.js';
import { AgentError } from '../../src/errors.js';
import { svidOf, within } from '../helpers/agent.js';
import { createLeaf } from '../helpers/pki.js';
import {
  API_ID,
  DAY,
  DISPATCHER_ID,
  LOGISTICS,
  SHIPPING,
  SUSPENDED,
  WAIT_MS,
  apiSvid,
  connectRefusal,
  dispatcherSvid,
  logCa,
  logisticsSet,
  ping,
  post,
  refusalOf,
  shipCa,
  shippingSet,
  startHttps,
  startRaw,
  suspendedCa,
  useMtlsWorld,
} from './mtls-fixture.js';

useMtlsWorld();

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
