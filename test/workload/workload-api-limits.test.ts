// What one local user can make the node agent hold (review 10 F1-F4): request messages that never
// complete, idle connections, streams never read and streams of one uid. The abusers are child
// processes (abuse-client.mjs), most of them run as nobody (65534) without any entry.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { createFakeNode } from '../helpers/workload-node.js';
import { header, openStream, unaryCall } from '../helpers/workload-client.js';
import {
  UID,
  child,
  client,
  node,
  server,
  start,
  useWorkloadApiWorld,
} from './workload-api-fixture.js';
import { NOBODY, abuse, sleep, until, useAbusers } from './abusers.js';

useWorkloadApiWorld();
useAbusers();

const MiB = 1024 * 1024;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Buffers held now (after a full collection): what grpc-js and node:http2 keep for callers. */
const heldBytes = async (): Promise<number> => {
  // Buffers are freed by finalizers after a collection: collect, let them run, collect again.
  gc();
  await sleep(50);
  gc();
  const m = process.memoryUsage();
  return m.external + m.arrayBuffers;
};

describe('Workload API limits per local user (review 10)', () => {
  it('F1: partial request messages of a uid without entry hold at most maxReceivingPerUid x maxMessageBytes', async () => {
    await start();
    node.setEntries([{ selectors: [`unix:uid:${UID}`] }]);
    const before = await heldBytes();
    // 40 connections x 100 streams, each 67,000 bytes (under the largest valid request) but one.
    const attacker = abuse(['partial', '40', '100', '67000', '1'], NOBODY);
    await until(
      'the attacker to be answered',
      () => {
        const c = attacker.counts();
        return c !== undefined && (c.statuses['8'] ?? 0) >= 4000 - 256;
      },
      20_000,
    );
    await sleep(1000);
    const grown = (await heldBytes()) - before;
    console.log(`F1: ${JSON.stringify(attacker.counts())}; held ${Math.round(grown / MiB)} MiB`);
    expect(grown).toBeLessThan(32 * MiB);
    const served = await unaryCall<{ svids: unknown[] }>(client(), 'FetchJWTSVID', {
      audience: ['x'],
    });
    expect(served.svids).toHaveLength(1);
  }, 120_000);

  it('maxMessageBytes fits the largest valid requests (32 x 256 audience characters; a 65,536-character token)', async () => {
    await start();
    node.setEntries([{ selectors: [`unix:uid:${UID}`] }]);
    const c = client();
    const audience = Array.from({ length: 32 }, (_, i) => `${i}`.padEnd(256, 'a'));
    const jwt = await unaryCall<{ svids: unknown[] }>(c, 'FetchJWTSVID', {
      audience,
      spiffe_id: 'spiffe://node.test/'.padEnd(2048, 'x'),
    }).catch((e: grpc.ServiceError) => e.code);
    expect(jwt).toBe(grpc.status.PERMISSION_DENIED); // no such ID here: the request was read
    const validate = (svid: string, aud: string): Promise<unknown> =>
      unaryCall(c, 'ValidateJWTSVID', { audience: aud, svid }).catch(
        (e: grpc.ServiceError) => e.code,
      );
    const longest = `${'a'.repeat(65_534)}.b`;
    expect(await validate(longest, 'x'.repeat(1024))).toBe(grpc.status.INVALID_ARGUMENT);
    expect(await validate('a.b.c', 'x'.repeat(1025))).toBe(grpc.status.INVALID_ARGUMENT);
    expect(await validate(`${longest}${'a'.repeat(2048)}`, 'x')).toBe(
      grpc.status.RESOURCE_EXHAUSTED,
    );
  });

  it('F1: without the security header a call is InvalidArgument at its headers; a message left incomplete is DeadlineExceeded after receiveMs; review 17 F1: the timed-out streams are closed, not left holding the message', async () => {
    await start(undefined, { receiveMs: 1000 });
    const bare = abuse(['partial', '1', '50', '60000', '0'], NOBODY);
    await until('50 refusals', () => bare.counts()?.statuses['3'] === 50);
    const slow = abuse(['partial', '1', '10', '60000', '1'], NOBODY);
    await until('10 deadlines', () => slow.counts()?.statuses['4'] === 10, 10_000);
    // The abuser never ends a stream: only the agent's RST_STREAM closes one whose message had
    // begun to arrive (before, each stayed open holding it: review 17 measured 117 MiB for a uid).
    await until('the timed-out streams closed', () => slow.counts()?.streamsClosed === 10, 5_000);
    // Review 18 F1: ended by grpc-js itself (the client's own grpc-timeout), not by this gate.
    const own = abuse(['partial', '1', '10', '60000', '1', '300m'], NOBODY);
    await until('10 client deadlines', () => own.counts()?.statuses['4'] === 10, 5_000);
    await until('those streams closed', () => own.counts()?.streamsClosed === 10, 5_000);
  });

  it('review 14 F1: a complete request never half-closed is DeadlineExceeded after receiveMs, and many audiences are never decoded', async () => {
    await start(undefined, { receiveMs: 1000 });
    node.setEntries([{ selectors: [`unix:uid:${UID}`] }]);
    const before = await heldBytes();
    const heapBefore = process.memoryUsage().heapUsed;
    // 100 streams, each a complete 16,000-audience FetchJWTSVID request (64 KB), never half-closed.
    const held = abuse(['held', '100', '16000'], NOBODY);
    await until('100 deadlines', () => held.counts()?.statuses['4'] === 100, 15_000);
    gc();
    const heapGrown = process.memoryUsage().heapUsed - heapBefore;
    const grown = (await heldBytes()) - before;
    console.log(
      `held: heap +${Math.round(heapGrown / MiB)} MiB, buffers +${Math.round(grown / MiB)} MiB`,
    );
    expect(heapGrown).toBeLessThan(64 * MiB);
    // The uid's slots came back: a call of a registered uid is served.
    const served = await unaryCall<{ svids: unknown[] }>(client(), 'FetchJWTSVID', {
      audience: ['x'],
    });
    expect(served.svids).toHaveLength(1);
  }, 60_000);

  it('review 14 F1: more than maxAudiences audience values are refused as before, without decoding them', async () => {
    await start();
    node.setEntries([{ selectors: [`unix:uid:${UID}`] }]);
    const many = Array.from({ length: 5000 }, () => 'ab');
    const code = await unaryCall(client(), 'FetchJWTSVID', { audience: many }).catch(
      (e: grpc.ServiceError) => e.code,
    );
    expect(code).toBe(grpc.status.INVALID_ARGUMENT);
  });

  it('F2: a uid holds at most maxConnectionsPerUid; silent ones are closed; a registered workload still connects', async () => {
    await start(undefined, { maxConnections: 300, firstCallMs: 2000 });
    node.setEntries([{ selectors: [`unix:uid:${UID}`] }]);
    const attacker = abuse(['idle', '400'], NOBODY);
    await until('400 connections tried', () => {
      const c = attacker.counts();
      return c !== undefined && c.open + c.closedByServer + c.errors >= 400;
    });
    await sleep(300);
    expect(attacker.counts()!.open).toBeLessThanOrEqual(128);
    const served = await unaryCall<{ svids: unknown[] }>(client(), 'FetchJWTSVID', {
      audience: ['x'],
    });
    expect(served.svids).toHaveLength(1);
    await until('silent connections closed', () => attacker.counts()!.open === 0, 10_000);
  }, 60_000);

  it('F2: a connection without calls for idleMs is closed (grpc.max_connection_idle_ms)', async () => {
    await start(undefined, { idleMs: 500 });
    node.setEntries([{ selectors: [`unix:uid:${UID}`] }]);
    const c = client();
    await unaryCall(c, 'FetchJWTSVID', { audience: ['x'] });
    expect(c.getChannel().getConnectivityState(false)).toBe(grpc.connectivityState.READY);
    await until(
      'the server to close the idle connection',
      () => c.getChannel().getConnectivityState(false) !== grpc.connectivityState.READY,
      5000,
    );
    await unaryCall(c, 'FetchJWTSVID', { audience: ['x'] }); // the client reconnects
  });

  it('F3: a stream that is never read holds at most one waiting message, and a reader gets the latest state', async () => {
    await start();
    const partners = await Promise.all(
      Array.from({ length: 40 }, (_, i) => createFakeNode({ trustDomain: `p${i}.test` })),
    );
    try {
      node.setEntries([
        { selectors: [`unix:uid:${UID}`], federatesWith: partners.map((_, i) => `p${i}.test`) },
      ]);
      node.setPartners(partners.map((p) => p.ca.localBundle()));
      abuse(['noread', 'FetchX509Bundles', '120']);
      await until('120 streams', () => server.openStreams === 120);
      const reader = openStream<{ bundles: Record<string, Buffer> }>(client(), 'FetchX509Bundles');
      await reader.next();
      await sleep(1000);
      const before = await heldBytes();
      for (let i = 0; i < 30; i += 1) {
        // one partner bundle more or less each time, as a rotation or an entry edit would do
        node.setPartners(partners.slice(i % 2).map((p) => p.ca.localBundle()));
        await sleep(100);
      }
      node.setPartners(partners.slice(5).map((p) => p.ca.localBundle()));
      await sleep(2000);
      const grown = (await heldBytes()) - before;
      console.log(`F3: 31 changes x 120 unread streams held ${Math.round(grown / MiB)} MiB`);
      expect(grown).toBeLessThan(24 * MiB);
      const last = reader.messages[reader.messages.length - 1]!;
      expect(Object.keys(last.bundles)).toHaveLength(1 + 35);
    } finally {
      for (const p of partners) await p.close();
    }
  }, 120_000);

  it('F4: one uid holds at most maxCallsPerUid streams; another registered workload is served', async () => {
    await start(undefined, { maxStreams: 30, maxCallsPerUid: 20 });
    node.setEntries([
      { spiffeId: 'spiffe://node.test/hog', selectors: [`unix:uid:${UID}`] },
      { spiffeId: 'spiffe://node.test/victim', selectors: [`unix:uid:${NOBODY}`] },
    ]);
    const c = client();
    const streams = Array.from({ length: 30 }, () => openStream(c, 'FetchX509Bundles'));
    const ends = await Promise.all(
      streams.map((s) => Promise.race([s.next().then(() => 'open'), s.ended.then((e) => e?.code)])),
    );
    expect(ends.filter((e) => e === 'open')).toHaveLength(20);
    expect(ends.filter((e) => e === grpc.status.RESOURCE_EXHAUSTED)).toHaveLength(10);
    expect(await child(['x509'], { uid: NOBODY })).toEqual([
      { ids: ['spiffe://node.test/victim'] },
    ]);
  }, 60_000);

  it('review 14 F3: calls that give up do not queue signings without bound; X.509 goes first', async () => {
    await start();
    node.setEntries([
      { spiffeId: 'spiffe://node.test/a', selectors: [`unix:uid:${UID}`] },
      { spiffeId: 'spiffe://node.test/victim', selectors: [`unix:uid:${NOBODY}`] },
    ]);
    let signings = 0;
    for (const kind of ['signJwt', 'signX509'] as const) {
      const sign = node[kind].bind(node) as (request: never) => Promise<never>;
      node[kind] = (async (request: never) => {
        signings += 1;
        await sleep(50); // a broker round trip
        return sign(request);
      }) as never;
    }
    // 600 FetchJWTSVID calls of distinct audiences, each giving up after 300 ms.
    const c = client();
    const codes = new Map<number | string, number>();
    const flood = Array.from(
      { length: 600 },
      (_, i) =>
        new Promise<void>((resolve) => {
          c['FetchJWTSVID']!(
            { audience: [`aud-${i}`] },
            header(),
            { deadline: Date.now() + 300 },
            (error: grpc.ServiceError | null) => {
              const code = error === null ? 'ok' : error.code;
              codes.set(code, (codes.get(code) ?? 0) + 1);
              resolve();
            },
          );
        }),
    );
    const startedMs = Date.now();
    const victim = await child(['x509'], { uid: NOBODY });
    const victimMs = Date.now() - startedMs;
    await Promise.all(flood);
    console.log(`F3: ${JSON.stringify([...codes])}; victim ${victimMs} ms; signings ${signings}`);
    expect(victim).toEqual([{ ids: ['spiffe://node.test/victim'] }]);
    // Past 32 per uid a new audience set is refused at once (the rest of the 600 wait in the
    // client for a stream of the connection and give up there): about 32 signings, not hundreds
    // queued 16 at a time behind which the victim's X.509-SVID would wait. (On a loaded machine
    // the 300 ms can run out before a refusal is sent: either answer is a call given up.)
    expect(signings).toBeLessThanOrEqual(2 * 32 + 1);
    const given = [grpc.status.RESOURCE_EXHAUSTED, grpc.status.DEADLINE_EXCEEDED, 'ok'];
    expect([...codes.keys()].filter((code) => !given.includes(code))).toEqual([]);
  }, 60_000);

  it('F6: FetchJWTSVID calls with distinct audiences reach the broker at most 16 at a time', async () => {
    await start();
    node.setEntries([{ spiffeId: 'spiffe://node.test/a', selectors: [`unix:uid:${UID}`] }]);
    let inFlight = 0;
    let peak = 0;
    const sign = node.signJwt.bind(node);
    node.signJwt = async (request) => {
      inFlight += 1;
      peak = Math.max(peak, inFlight);
      try {
        await sleep(50); // a broker round trip
        return await sign(request);
      } finally {
        inFlight -= 1;
      }
    };
    const c = client();
    // 32: as many new audience sets as one uid may have in progress (review 14 F3).
    const results = await Promise.all(
      Array.from({ length: 32 }, (_, i) =>
        unaryCall<{ svids: unknown[] }>(c, 'FetchJWTSVID', { audience: [`aud-${i}`] }),
      ),
    );
    expect(results.every((r) => r.svids.length === 1)).toBe(true);
    expect(peak).toBe(16);
  });
});
