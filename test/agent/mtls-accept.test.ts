// mTLS between agent SDK peers of two federated trust domains over real TLS on 127.0.0.1, the accepting
// side: per-trust-domain X509-SVID verification of approved partners (X509-25, FED-30), sources read on
// every connection (CA / SVID rotation without recreating the server), and raw options that fail closed.
import { once } from 'node:events';
import * as https from 'node:https';
import * as tls from 'node:tls';
import { describe, expect, it } from 'vitest';
import {
  authorizeAny,
  authorizeId,
  authorizeMemberOf,
  authorizeOneOf,
  connectMtls,
  guardServer,
  peerIdOf,
  peerOf,
  staticSource,
  tlsClientOptions,
  tlsServerOptions,
  type Authorizer,
  type X509Source,
} from '../../src/agent/index.js';
import { parseTrustDomain } from '../../src/spiffeid/index.js';
import {
  listenLoopback,
  mutableSource,
  svidOf,
  within,
  type MutableSource,
} from '../helpers/agent.js';
import { bundleOf, createCa, createLeaf } from '../helpers/pki.js';
import {
  API_ID,
  DISPATCHER_ID,
  SHIPPING,
  WAIT_MS,
  apiSvid,
  connectRefusal,
  dispatcherSvid,
  logCa,
  logisticsSet,
  ping,
  post,
  refusalOf,
  servers,
  shipCa,
  shippingSet,
  startHttps,
  startRaw,
  useMtlsWorld,
} from './mtls-fixture.js';

useMtlsWorld();

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
