// The Workload API over a real Unix socket over time: streams pushing complete state on change
// (WAPI-8), outages and bounds (cached SVIDs, open streams, message sizes, the socket file) and
// 1,000 concurrent streams. The world is test/workload/workload-api-fixture.ts.
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { createAttestor, createWorkloadApiServer, loadPeerCred } from '../../src/workload/index.js';
import { openStream, unaryCall, type X509SvidResponseMsg } from '../helpers/workload-client.js';
import { createFakeNode } from '../helpers/workload-node.js';
import {
  BOOT_ID,
  UID,
  client,
  dir,
  node,
  server,
  socket,
  start,
  useWorkloadApiWorld,
} from './workload-api-fixture.js';

useWorkloadApiWorld();

describe('Workload API streams push complete state on change (WAPI-8)', () => {
  it('FetchX509SVID: entry added, partner bundle changed, CA rotated, entry deleted', async () => {
    await start();
    const partner = await createFakeNode({ trustDomain: 'partner.test' });
    try {
      node.setEntries([
        {
          id: 'e_a',
          spiffeId: 'spiffe://node.test/a',
          selectors: [`unix:uid:${UID}`],
          federatesWith: ['partner.test'],
        },
      ]);
      const stream = openStream<X509SvidResponseMsg>(client(), 'FetchX509SVID');
      const first = await stream.next();
      expect(first.svids.map((s) => s.spiffe_id)).toEqual(['spiffe://node.test/a']);
      expect(Object.keys(first.federated_bundles)).toEqual([]);

      node.setPartners([partner.ca.localBundle()]);
      const withPartner = await stream.next();
      expect(Object.keys(withPartner.federated_bundles)).toEqual(['spiffe://partner.test']);
      expect(withPartner.svids[0]?.x509_svid.equals(first.svids[0]!.x509_svid)).toBe(true);

      node.setEntries([
        {
          id: 'e_a',
          spiffeId: 'spiffe://node.test/a',
          selectors: [`unix:uid:${UID}`],
          federatesWith: ['partner.test'],
        },
        { id: 'e_b', spiffeId: 'spiffe://node.test/b', selectors: [`unix:uid:${UID}`] },
      ]);
      const two = await stream.next();
      expect(two.svids.map((s) => s.spiffe_id)).toEqual([
        'spiffe://node.test/a',
        'spiffe://node.test/b',
      ]);

      // CA rotation: a new authority enters our bundle; every SVID is re-signed and re-sent.
      await node.ca.prepare('x509');
      const rotated = await stream.next();
      expect(rotated.svids[0]?.bundle.length).toBeGreaterThan(two.svids[0]!.bundle.length);
      expect(rotated.svids.map((s) => s.spiffe_id)).toEqual([
        'spiffe://node.test/a',
        'spiffe://node.test/b',
      ]);
      expect(rotated.svids[0]?.x509_svid.equals(two.svids[0]!.x509_svid)).toBe(false);

      node.setEntries([
        { id: 'e_b', spiffeId: 'spiffe://node.test/b', selectors: [`unix:uid:${UID + 1}`] },
      ]);
      const error = await stream.ended;
      expect(error?.code).toBe(grpc.status.PERMISSION_DENIED);
    } finally {
      await partner.close();
    }
  });

  it('FetchX509Bundles and FetchJWTBundles: own TD always, partners by federatesWith, JWKS without use (WAPI-11, WAPI-12)', async () => {
    await start();
    const partner = await createFakeNode({ trustDomain: 'partner.test' });
    try {
      node.setPartners([partner.ca.localBundle()]);
      node.setEntries([{ selectors: [`unix:uid:${UID}`] }]);
      const c = client();
      const x509 = openStream<{ bundles: Record<string, Buffer> }>(c, 'FetchX509Bundles');
      const jwt = openStream<{ bundles: Record<string, Buffer> }>(c, 'FetchJWTBundles');
      expect(Object.keys((await x509.next()).bundles)).toEqual(['spiffe://node.test']);
      const jwks = JSON.parse((await jwt.next()).bundles['spiffe://node.test']!.toString()) as {
        keys: Record<string, unknown>[];
      };
      expect(jwks.keys.length).toBeGreaterThan(0);
      for (const key of jwks.keys) {
        expect(key['kid']).toBeTypeOf('string');
        expect(key).not.toHaveProperty('use');
        expect(key).not.toHaveProperty('d');
      }
      node.setEntries([{ selectors: [`unix:uid:${UID}`], federatesWith: ['partner.test'] }]);
      expect(Object.keys((await x509.next()).bundles).sort()).toEqual([
        'spiffe://node.test',
        'spiffe://partner.test',
      ]);
      expect(Object.keys((await jwt.next()).bundles).sort()).toEqual([
        'spiffe://node.test',
        'spiffe://partner.test',
      ]);
    } finally {
      await partner.close();
    }
  });
});

describe('Workload API: outages and bounds', () => {
  it('broker down: cached SVIDs are served until they expire, never after (issue 17 item 5)', async () => {
    let clock = Date.now();
    await start(() => clock);
    node.setEntries([
      { spiffeId: 'spiffe://node.test/a', selectors: [`unix:uid:${UID}`], ttlSeconds: 120 },
    ]);
    const c = client();
    const first = await openStream<X509SvidResponseMsg>(c, 'FetchX509SVID').next();
    const jwt = await unaryCall<{ svids: { svid: string }[] }>(c, 'FetchJWTSVID', {
      audience: ['x'],
    });
    node.down = true;
    clock += 90_000; // past half-life: renewal fails, the cached SVID is still valid
    const during = openStream<X509SvidResponseMsg>(c, 'FetchX509SVID');
    expect((await during.next()).svids[0]?.x509_svid.equals(first.svids[0]!.x509_svid)).toBe(true);
    during.cancel();
    expect(
      (await unaryCall<{ svids: { svid: string }[] }>(c, 'FetchJWTSVID', { audience: ['x'] }))
        .svids[0]?.svid,
    ).toBe(jwt.svids[0]?.svid);
    clock += 60_000; // past notAfter
    const after = await openStream<X509SvidResponseMsg>(c, 'FetchX509SVID').ended;
    expect(after?.code).toBe(grpc.status.UNAVAILABLE);
    node.down = false;
    const back = await openStream<X509SvidResponseMsg>(c, 'FetchX509SVID').next();
    expect(back.svids[0]?.x509_svid.equals(first.svids[0]!.x509_svid)).toBe(false);
  });

  it('open streams are bounded: one more than the limit is ResourceExhausted', async () => {
    await start(undefined, { maxStreams: 20 });
    node.setEntries([{ selectors: [`unix:uid:${UID}`] }]);
    const c = client();
    const streams = Array.from({ length: 20 }, () =>
      openStream<X509SvidResponseMsg>(c, 'FetchX509Bundles'),
    );
    await Promise.all(streams.map((s) => s.next()));
    expect(server.openStreams).toBe(20);
    expect((await openStream(c, 'FetchX509Bundles').ended)?.code).toBe(
      grpc.status.RESOURCE_EXHAUSTED,
    );
    streams[0]!.cancel();
    await streams[0]!.ended;
    await new Promise((r) => setTimeout(r, 100));
    expect(server.openStreams).toBe(19);
  });

  it('oversized and malformed messages are refused; the server keeps serving', async () => {
    await start();
    node.setEntries([{ selectors: [`unix:uid:${UID}`] }]);
    const c = client();
    const big = (await unaryCall(c, 'ValidateJWTSVID', {
      audience: 'x',
      svid: 'a'.repeat(512 * 1024),
    }).catch((e: unknown) => e)) as grpc.ServiceError;
    expect(big.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    const raw = new grpc.Client(`unix://${socket}`, grpc.credentials.createInsecure());
    const malformed = await new Promise<grpc.ServiceError>((resolve) => {
      raw.makeUnaryRequest(
        '/SpiffeWorkloadAPI/FetchJWTSVID',
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.from([0x0a, 0xff, 0xff, 0xff]),
        (() => {
          const m = new grpc.Metadata();
          m.set('workload.spiffe.io', 'true');
          return m;
        })(),
        (error) => resolve(error as grpc.ServiceError),
      );
    });
    raw.close();
    expect([grpc.status.INTERNAL, grpc.status.INVALID_ARGUMENT]).toContain(malformed.code);
    expect(
      (await unaryCall<{ svids: unknown[] }>(c, 'FetchJWTSVID', { audience: ['ok'] })).svids,
    ).toHaveLength(1);
  });

  it('a stale socket file is replaced; a live one is ERR_WORKLOAD_SOCKET_IN_USE; close removes it', async () => {
    await start();
    const second = createWorkloadApiServer({
      socketPath: socket,
      source: node,
      peerCred: loadPeerCred(),
      attestor: createAttestor(),
      bootId: BOOT_ID,
    });
    await expect(second.listen()).rejects.toMatchObject({ code: 'ERR_WORKLOAD_SOCKET_IN_USE' });
    const plain = join(dir, 'plain-file');
    writeFileSync(plain, 'x');
    const third = createWorkloadApiServer({
      socketPath: plain,
      source: node,
      peerCred: loadPeerCred(),
      attestor: createAttestor(),
      bootId: BOOT_ID,
    });
    await expect(third.listen()).rejects.toMatchObject({ code: 'ERR_WORKLOAD_SOCKET_IN_USE' });
    // A crashed agent leaves its socket file: a child process listens, then is killed.
    const stale = join(dir, 'stale.sock');
    spawnSync(process.execPath, [
      '-e',
      `require('net').createServer().listen(${JSON.stringify(stale)}, () => process.kill(process.pid, 'SIGKILL'))`,
    ]);
    expect(existsSync(stale)).toBe(true);
    const fourth = createWorkloadApiServer({
      socketPath: stale,
      source: node,
      peerCred: loadPeerCred(),
      attestor: createAttestor(),
      bootId: BOOT_ID,
    });
    await fourth.listen();
    await fourth.close();
    expect(existsSync(stale)).toBe(false);
  });

  it('a missing addon refuses with ERR_WORKLOAD_PEERCRED_UNAVAILABLE', () => {
    expect(() => loadPeerCred(join(dir, 'missing.node'))).toThrow(
      expect.objectContaining({ code: 'ERR_WORKLOAD_PEERCRED_UNAVAILABLE' }),
    );
  });
});

describe('Workload API: 1,000 concurrent streams', () => {
  it('serves 1,000 open streams on one connection and releases every one when they end', async () => {
    // Above the defaults for one connection (128 streams) and for requests arriving at once (128
    // per uid, 512 in all): the hub's capacity is measured.
    await start(undefined, {
      maxStreamsPerConnection: 1000,
      maxReceivingPerUid: 1000,
      maxReceiving: 1000,
    });
    node.setEntries([{ selectors: [`unix:uid:${UID}`] }]);
    const c = client();
    const streams = Array.from({ length: 1000 }, () => openStream(c, 'FetchX509Bundles'));
    await Promise.all(streams.map((s) => s.next(60_000)));
    expect(server.openStreams).toBe(1000);
    node.setPartners([]); // a change reaches all of them; unchanged content is not re-sent
    for (const s of streams) s.cancel();
    await Promise.all(streams.map((s) => s.ended));
    for (let i = 0; i < 100 && server.openStreams > 0; i += 1) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(server.openStreams).toBe(0);
    expect(streams.every((s) => s.messages.length === 1)).toBe(true);
  }, 120_000);
});
