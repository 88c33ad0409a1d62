// The one peer-chain walk over real TLS on 127.0.0.1: the bundle fetch (federation), the SDK's mTLS
// client (agent) and our listeners' client-certificate check (api) all see the same chain and the
// same cap (X509-20: an over-long chain is refused as ERR_SVID_CHAIN_TOO_LONG, never cut to a
// prefix), and the clocks they take are milliseconds (Clock).
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import * as tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authorizeAny, connectMtls, staticSource } from '../../src/agent/index.js';
import { createPeerVerifier } from '../../src/api/index.js';
import { BundleSet } from '../../src/bundle/index.js';
import { isBrokerError } from '../../src/errors.js';
import { fetchBundle } from '../../src/federation/index.js';
import { parseSpiffeId } from '../../src/spiffeid/index.js';
import { MAX_PEER_CHAIN_WALK, MAX_PRESENTED_CERTIFICATES } from '../../src/svid/index.js';
import { svidOf } from '../helpers/agent.js';
import { bundleOf, createCa, createLeaf, sourceOf, type TestCert } from '../helpers/pki.js';
import {
  HOST,
  identityOf,
  serve,
  startEndpointServer,
  type EndpointServer,
} from '../federation/support.js';

const TD = 'long.test';
const ENDPOINT_ID = `spiffe://${TD}/spiffe/bundle-endpoint`;
const HOUR_MS = 3_600_000;

/** Root -> `count` intermediates, each signed by the one before; the root is never presented. */
async function intermediates(root: TestCert, count: number): Promise<TestCert[]> {
  const chain: TestCert[] = [];
  let issuer = root;
  for (let i = 0; i < count; i++) {
    issuer = await createCa({ issuer, trustDomain: TD });
    chain.push(issuer);
  }
  return chain.reverse(); // nearest the leaf first
}

function codeOf(error: unknown): string {
  return isBrokerError(error) ? error.code : `not a broker error: ${String(error)}`;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

let root: TestCert;
let shortChain: TestCert[];
let longChain: TestCert[];
let shortLeaf: TestCert;
let longLeaf: TestCert;
let clientLeaf: TestCert;
const servers: EndpointServer[] = [];

beforeAll(async () => {
  root = await createCa({ trustDomain: TD });
  shortChain = await intermediates(root, 2);
  // One more certificate than verification accepts: leaf + MAX_PRESENTED_CERTIFICATES intermediates.
  longChain = await intermediates(root, MAX_PRESENTED_CERTIFICATES);
  shortLeaf = await createLeaf(shortChain[0] as TestCert, { spiffeIds: [ENDPOINT_ID] });
  longLeaf = await createLeaf(longChain[0] as TestCert, { spiffeIds: [ENDPOINT_ID] });
  clientLeaf = await createLeaf(root, { spiffeIds: [`spiffe://${TD}/client`] });
});

afterAll(async () => {
  for (const server of servers) await server.close();
});

async function endpoint(leaf: TestCert, chain: readonly TestCert[]): Promise<EndpointServer> {
  const server = await startEndpointServer(identityOf(leaf, chain), serve('{"keys":[]}'));
  servers.push(server);
  return server;
}

describe('one peer-chain walk, one cap (X509-20)', () => {
  it('walks at most one certificate more than verification accepts', () => {
    expect(MAX_PEER_CHAIN_WALK).toBe(MAX_PRESENTED_CERTIFICATES + 1);
  });

  it.each([
    ['short chain (leaf + 2 intermediates)', false],
    [`leaf + ${MAX_PRESENTED_CERTIFICATES} intermediates`, true],
  ])('X509-20 federation fetch (https_spiffe), %s', async (_name, long) => {
    const server = await endpoint(long ? longLeaf : shortLeaf, long ? longChain : shortChain);
    const fetching = fetchBundle(
      {
        url: `${server.origin}/`,
        profile: 'https_spiffe',
        endpointSpiffeId: parseSpiffeId(ENDPOINT_ID),
        endpointBundle: sourceOf(bundleOf(TD, [root])),
        followRedirects: false,
      },
      { now: () => Date.now() },
    );
    if (!long) {
      expect((await fetching).body.toString()).toBe('{"keys":[]}');
      return;
    }
    const error = await rejection(fetching);
    expect(codeOf(error)).toBe('ERR_FEDERATION_FETCH_TLS');
    expect((error as { context?: { verifyCode?: string } }).context?.verifyCode).toBe(
      'ERR_SVID_CHAIN_TOO_LONG',
    );
    expect(server.requests).toBe(0);
  });

  it.each([
    ['short chain (leaf + 2 intermediates)', false],
    [`leaf + ${MAX_PRESENTED_CERTIFICATES} intermediates`, true],
  ])('X509-20 agent SDK connectMtls, %s', async (_name, long) => {
    const server = await endpoint(long ? longLeaf : shortLeaf, long ? longChain : shortChain);
    const source = staticSource(svidOf(clientLeaf), new BundleSet([bundleOf(TD, [root])]));
    const connecting = connectMtls(source, authorizeAny(), { host: HOST, port: server.port });
    if (!long) {
      (await connecting).destroy();
      return;
    }
    const error = await rejection(connecting);
    expect(codeOf(error)).toBe('ERR_AGENT_PEER_UNVERIFIED');
    expect((error as { context?: { svidCode?: string } }).context?.svidCode).toBe(
      'ERR_SVID_CHAIN_TOO_LONG',
    );
  });

  // With an upstream CA our SVIDs reach the bundle through intermediates their holder sends, and
  // the whole chain is read; without one only the leaf is (it must be signed by a bundle authority).
  it.each([
    ['short chain (leaf + 2 intermediates), upstream CA', false, true, 'verified'],
    [
      `leaf + ${MAX_PRESENTED_CERTIFICATES} intermediates, upstream CA`,
      true,
      true,
      'ERR_SVID_CHAIN_TOO_LONG',
    ],
    [
      'short chain (leaf + 2 intermediates), no upstream CA',
      false,
      false,
      'ERR_SVID_CHAIN_UNTRUSTED',
    ],
  ])(
    'X509-20 our listeners’ client-certificate check, %s',
    async (_name, long, upstream, expected) => {
      const verify = createPeerVerifier(
        () => bundleOf(TD, [root]),
        () => Date.now(),
        { intermediates: upstream },
      );
      const server = tls.createServer({
        ...identityOf(clientLeaf),
        requestCert: true,
        rejectUnauthorized: false,
      });
      server.listen(0, HOST);
      await once(server, 'listening');
      const checked = once(server, 'secureConnection').then(([socket]) => {
        const check = verify(socket);
        (socket as tls.TLSSocket).destroy();
        return check.kind === 'refused' ? check.code : check.kind;
      });
      const presented = identityOf(long ? longLeaf : shortLeaf, long ? longChain : shortChain);
      const client = tls.connect({
        host: HOST,
        port: (server.address() as AddressInfo).port,
        ...presented,
        rejectUnauthorized: false,
      });
      client.on('error', () => undefined);
      try {
        expect(await checked).toBe(expected);
      } finally {
        client.destroy();
        server.close();
      }
    },
  );
});

describe('the fetch and mTLS clocks are milliseconds (Clock)', () => {
  it('federation fetch verifies the endpoint at now() ms: an hour past its notAfter it is expired', async () => {
    const server = await endpoint(shortLeaf, shortChain);
    const afterExpiry = shortLeaf.certificate.notAfter.getTime() + HOUR_MS;
    const error = await rejection(
      fetchBundle(
        {
          url: `${server.origin}/`,
          profile: 'https_spiffe',
          endpointSpiffeId: parseSpiffeId(ENDPOINT_ID),
          endpointBundle: sourceOf(bundleOf(TD, [root])),
          followRedirects: false,
        },
        { now: () => afterExpiry },
      ),
    );
    expect(codeOf(error)).toBe('ERR_FEDERATION_FETCH_TLS');
    expect((error as { context?: { verifyCode?: string } }).context?.verifyCode).toBe(
      'ERR_SVID_CERT_EXPIRED',
    );
  });

  it('connectMtls verifies the server at now() ms: an hour past its notAfter it is expired', async () => {
    const server = await endpoint(shortLeaf, shortChain);
    const source = staticSource(svidOf(clientLeaf), new BundleSet([bundleOf(TD, [root])]));
    const afterExpiry = shortLeaf.certificate.notAfter.getTime() + HOUR_MS;
    const error = await rejection(
      connectMtls(source, authorizeAny(), {
        host: HOST,
        port: server.port,
        now: () => afterExpiry,
      }),
    );
    expect(codeOf(error)).toBe('ERR_AGENT_PEER_UNVERIFIED');
    expect((error as { context?: { svidCode?: string } }).context?.svidCode).toBe(
      'ERR_SVID_CERT_EXPIRED',
    );
  });
});
