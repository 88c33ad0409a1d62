// Interop with the openssl CLI over real TLS on 127.0.0.1: files written by writeSvidFiles drive
// `openssl s_client` against a guarded SDK server, and an SDK client talks to `openssl s_server`.
// Child processes are async (never *Sync against in-process servers), bounded, killed in finally.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  authorizeId,
  authorizeMemberOf,
  connectMtls,
  guardServer,
  peerIdOf,
  staticSource,
  tlsServerOptions,
  writeSvidFiles,
  type X509SvidWithKey,
} from '../../src/agent/index.js';
import { BundleSet } from '../../src/bundle/index.js';
import { AgentError } from '../../src/errors.js';
import { parseSpiffeId, parseTrustDomain } from '../../src/spiffeid/index.js';
import { closeServer, listenLoopback, svidOf, within } from '../helpers/agent.js';
import { freePort } from '../helpers/free-port.js';
import { bundleOf, createCa, createLeaf, type TestCert } from '../helpers/pki.js';
import {
  hasOpenssl,
  runOpenssl,
  stopOpenssl,
  waitUntil,
  type OpensslRun,
} from '../helpers/openssl.js';

const WAIT_MS = 10_000;
const LOGISTICS = 'logistics.example';
const SHIPPING = 'shipping.example';
const API_ID = parseSpiffeId(`spiffe://${LOGISTICS}/api`);
const DISPATCHER_ID = parseSpiffeId(`spiffe://${SHIPPING}/dispatcher`);

let dir: string;
let logCa: TestCert;
let shipCa: TestCert;
let apiSvid: X509SvidWithKey;
let dispatcherSvid: X509SvidWithKey;
let logisticsSet: BundleSet;
let shippingSet: BundleSet;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'agent-openssl-'));
  logCa = await createCa({ trustDomain: LOGISTICS });
  shipCa = await createCa({ trustDomain: SHIPPING });
  const shipInter = await createCa({ issuer: shipCa, trustDomain: SHIPPING });
  apiSvid = svidOf(await createLeaf(logCa, { spiffeIds: [API_ID.toString()] }));
  dispatcherSvid = svidOf(await createLeaf(shipInter, { spiffeIds: [DISPATCHER_ID.toString()] }), [
    shipInter,
  ]);
  logisticsSet = new BundleSet([bundleOf(LOGISTICS, [logCa]), bundleOf(SHIPPING, [shipCa])]);
  shippingSet = new BundleSet([bundleOf(SHIPPING, [shipCa]), bundleOf(LOGISTICS, [logCa])]);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const run = (args: string[]): OpensslRun => runOpenssl(args);
const waitFor = (check: () => boolean, label: string, ms = WAIT_MS): Promise<void> =>
  waitUntil(check, label, ms);
const stop = (proc: OpensslRun): Promise<void> => stopOpenssl(proc, WAIT_MS);

describe.skipIf(!hasOpenssl)('openssl interop with writeSvidFiles files', () => {
  it('X509-7 / FED-30: openssl s_client with svid.pem + federated/<td>.pem talks to a guarded SDK server', async () => {
    const clientDir = join(dir, 'shipping-agent');
    await writeSvidFiles(clientDir, {
      ...dispatcherSvid,
      bundles: shippingSet,
      ownTrustDomain: parseTrustDomain(SHIPPING),
    });
    const handled: string[] = [];
    const options = tlsServerOptions(
      staticSource(apiSvid, logisticsSet),
      authorizeMemberOf(parseTrustDomain(SHIPPING)),
    );
    const server = guardServer(
      tls.createServer(options, (socket) => {
        handled.push(peerIdOf(socket)?.toString() ?? 'nobody');
        socket.on('data', (chunk: Buffer) => socket.write(`echo:${chunk.toString().trim()}\n`));
        socket.on('error', () => undefined);
      }),
      options,
    );
    const port = await listenLoopback(server);
    const client = run([
      's_client',
      '-connect',
      `127.0.0.1:${port}`,
      '-cert',
      join(clientDir, 'svid.pem'),
      '-cert_chain',
      join(clientDir, 'svid.pem'),
      '-key',
      join(clientDir, 'svid_key.pem'),
      '-CAfile',
      join(clientDir, 'federated', `${LOGISTICS}.pem`),
      '-verify_return_error',
      '-quiet',
    ]);
    try {
      client.child.stdin?.write('ping\n');
      await waitFor(() => client.stdout.includes('echo:ping'), 's_client echo');
      expect(handled).toEqual([DISPATCHER_ID.toString()]);
    } finally {
      await stop(client);
      await closeServer(server);
    }
  });

  it('FED-30: s_client trusting only its own bundle.pem refuses the logistics server', async () => {
    const clientDir = join(dir, 'shipping-agent-own');
    await writeSvidFiles(clientDir, {
      ...dispatcherSvid,
      bundles: shippingSet,
      ownTrustDomain: parseTrustDomain(SHIPPING),
    });
    const handled: string[] = [];
    const options = tlsServerOptions(
      staticSource(apiSvid, logisticsSet),
      authorizeMemberOf(parseTrustDomain(SHIPPING)),
    );
    const server = guardServer(
      tls.createServer(options, (socket) => {
        handled.push(peerIdOf(socket)?.toString() ?? 'nobody');
        socket.on('error', () => undefined);
      }),
      options,
    );
    const port = await listenLoopback(server);
    const client = run([
      's_client',
      '-connect',
      `127.0.0.1:${port}`,
      '-cert',
      join(clientDir, 'svid.pem'),
      '-cert_chain',
      join(clientDir, 'svid.pem'),
      '-key',
      join(clientDir, 'svid_key.pem'),
      '-CAfile',
      join(clientDir, 'bundle.pem'),
      '-verify_return_error',
      '-quiet',
    ]);
    try {
      client.child.stdin?.end('ping\n');
      const code = await within(client.exited, WAIT_MS, 's_client exit');
      expect(code).not.toBe(0);
      expect(client.stderr).toMatch(/verify error|certificate verify failed/i);
      expect(handled).toEqual([]);
    } finally {
      await stop(client);
      await closeServer(server);
    }
  });

  it('X509-25: an SDK client (connectMtls) talks to openssl s_server using the logistics files', async () => {
    const serverDir = join(dir, 'logistics-agent');
    await writeSvidFiles(serverDir, {
      ...apiSvid,
      bundles: logisticsSet,
      ownTrustDomain: parseTrustDomain(LOGISTICS),
    });
    const port = await freePort();
    const server = run([
      's_server',
      '-accept',
      `127.0.0.1:${port}`,
      '-cert',
      join(serverDir, 'svid.pem'),
      '-key',
      join(serverDir, 'svid_key.pem'),
      '-CAfile',
      join(serverDir, 'federated', `${SHIPPING}.pem`),
      '-Verify',
      '1',
      '-verify_return_error',
      '-rev',
    ]);
    try {
      await waitFor(() => server.stdout.includes('ACCEPT'), 's_server ready');
      const socket = await within(
        connectMtls(staticSource(dispatcherSvid, shippingSet), authorizeId(API_ID), {
          host: '127.0.0.1',
          port,
        }),
        WAIT_MS,
        'connectMtls',
      );
      let reply = '';
      socket.on('data', (chunk: Buffer) => (reply += chunk.toString()));
      socket.on('error', () => undefined);
      expect(peerIdOf(socket)?.toString()).toBe(API_ID.toString());
      socket.write('ping\n');
      await waitFor(() => reply.includes('gnip'), 's_server reply');
      socket.destroy();
      // s_server verified our chain (leaf + intermediate) against federated/shipping.example.pem.
      expect(server.stdout + server.stderr).not.toMatch(/verify error/i);
    } finally {
      await stop(server);
    }
  });

  it('X509-25: the SDK client refuses s_server presenting a shipping-signed cert that claims logistics', async () => {
    const forged = await createLeaf(shipCa, { spiffeIds: [API_ID.toString()] });
    const forgedDir = join(dir, 'forged');
    await writeSvidFiles(forgedDir, {
      ...svidOf(forged),
      bundles: logisticsSet,
      ownTrustDomain: parseTrustDomain(LOGISTICS),
    });
    const port = await freePort();
    const server = run([
      's_server',
      '-accept',
      `127.0.0.1:${port}`,
      '-cert',
      join(forgedDir, 'svid.pem'),
      '-key',
      join(forgedDir, 'svid_key.pem'),
      '-rev',
    ]);
    try {
      await waitFor(() => server.stdout.includes('ACCEPT'), 's_server ready');
      const error = await within(
        connectMtls(staticSource(dispatcherSvid, shippingSet), authorizeId(API_ID), {
          host: '127.0.0.1',
          port,
        }).then(
          () => undefined,
          (e: unknown) => e,
        ),
        WAIT_MS,
        'connectMtls refusal',
      );
      expect(error).toBeInstanceOf(AgentError);
      expect((error as AgentError).context?.svidCode).toBe('ERR_SVID_CHAIN_UNTRUSTED');
    } finally {
      await stop(server);
    }
  });
});
