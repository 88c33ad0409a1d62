// Fair shares of the Workload API's pools (review 14 F2), audience bounds in bytes (review 14 F4)
// and limits an operator sets with `agent serve` flags. Abusers are child processes run as uids
// 65534, 65533, ... without any entry; the registered workload is this process's uid.
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { parseCommandArgs } from '../../src/cli/args.js';
import {
  WORKLOAD_LIMIT_OPTIONS,
  workloadLimitsFromArgs,
} from '../../src/cli/commands/workload-limit-options.js';
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

/** FetchJWTSVID calls one after another for `ms`: how many ended with each code (or 'ok'). */
async function callFor(ms: number): Promise<Map<string, number>> {
  const c = client();
  const results = new Map<string, number>();
  for (const end = Date.now() + ms; Date.now() < end; await sleep(100)) {
    const result = await unaryCall(c, 'FetchJWTSVID', { audience: ['x'] }).then(
      () => 'ok',
      (e: grpc.ServiceError) => `${e.code} ${e.details}`,
    );
    results.set(result, (results.get(result) ?? 0) + 1);
  }
  return results;
}

describe('fair shares of the pools every uid draws from (review 14 F2)', () => {
  it('four uids holding every arriving slot (headers only, reopened) do not lock a registered workload out', async () => {
    await start();
    node.setEntries([{ selectors: [`unix:uid:${UID}`] }]);
    await unaryCall(client(), 'FetchJWTSVID', { audience: ['warm'] });
    // 4 x 128 = maxReceiving (512): before, every other uid's call was refused meanwhile.
    const attackers = [0, 1, 2, 3].map((i) => abuse(['headers', '128'], NOBODY - i));
    await until('512 streams held', () => attackers.every((a) => a.counts()?.open === 128));
    await sleep(1000);
    const results = await callFor(12_000);
    const total = [...results.values()].reduce((a, b) => a + b, 0);
    console.log(`F2 arriving: uid ${UID} over 12 s: ${JSON.stringify([...results])}`);
    expect(total).toBeGreaterThan(20);
    expect(results.get('ok')).toBe(total);
  }, 60_000);

  it('uids holding every connection do not lock a newcomer uid out: the heaviest gives one up', async () => {
    await start(undefined, { maxConnections: 256, firstCallMs: 60_000 });
    node.setEntries([{ selectors: [`unix:uid:${UID}`] }]);
    const attackers = [0, 1].map((i) => abuse(['idle', '128'], NOBODY - i));
    await until('256 connections held', () => attackers.every((a) => a.counts()?.open === 128));
    await sleep(300);
    const c = client();
    const served = await new Promise<unknown>((resolve) =>
      c['FetchJWTSVID']!(
        { audience: ['x'] },
        header(),
        { deadline: Date.now() + 5000 },
        (error: grpc.ServiceError | null, response: unknown) =>
          resolve(error === null ? response : error.code),
      ),
    );
    expect(served).toMatchObject({ svids: [expect.anything()] });
    const closed = (): number =>
      attackers.reduce((sum, a) => sum + (a.counts()?.closedByServer ?? 0), 0);
    await until('an attacker connection closed', () => closed() > 0, 5000);
    await sleep(500);
    console.log(`F2 connections: the server closed ${closed()} of the attackers' 256`);
    expect(closed()).toBe(1);
  }, 60_000);
});

describe('open streams are shared fairly too (review 17, left from review 14 F2)', () => {
  it('a uid holding every open stream gives its newest up to a registered workload of another uid', async () => {
    await start(undefined, { maxStreams: 20, maxCallsPerUid: 20 });
    node.setEntries([
      { spiffeId: 'spiffe://node.test/hog', selectors: [`unix:uid:${UID}`] },
      { spiffeId: 'spiffe://node.test/victim', selectors: [`unix:uid:${NOBODY}`] },
    ]);
    const c = client();
    const streams = Array.from({ length: 20 }, () => openStream(c, 'FetchX509Bundles'));
    await Promise.all(streams.map((s) => s.next()));
    expect(server.openStreams).toBe(20);
    // Before: ResourceExhausted for every other uid while one held them all.
    expect(await child(['x509'], { uid: NOBODY })).toEqual([
      { ids: ['spiffe://node.test/victim'] },
    ]);
    const ended = await Promise.all(
      streams.map((s) =>
        Promise.race([s.ended.then((e) => e?.code), sleep(500).then(() => 'open')]),
      ),
    );
    expect(ended.filter((e) => e === grpc.status.RESOURCE_EXHAUSTED)).toHaveLength(1);
    expect(ended.at(-1)).toBe(grpc.status.RESOURCE_EXHAUSTED); // the newest
  }, 60_000);
});

describe('audience limits count UTF-8 bytes, as the message cap does (review 14 F4)', () => {
  const fetch = (audience: string[]): Promise<unknown> =>
    unaryCall<{ svids: { svid: string }[] }>(client(), 'FetchJWTSVID', { audience }).then(
      (r) => r,
      (e: grpc.ServiceError) => e.code,
    );
  // '€' is 3 bytes in UTF-8: 85 of them and 1 ASCII character are 256 bytes (86 characters), what
  // the broker signs; 341 and 1 are 1,024 bytes (342 characters), what ValidateJWTSVID takes.
  const within = (i: number): string => `${'€'.repeat(85)}${i % 10}`;
  const withinValidate = (i: number): string => `${'€'.repeat(341)}${i % 10}`;

  it('32 FetchJWTSVID audiences of 256 bytes are served, one of 257 bytes (87 characters) is InvalidArgument; ValidateJWTSVID takes 1,024 bytes', async () => {
    await start();
    node.setEntries([{ selectors: [`unix:uid:${UID}`] }]);
    const audience = Array.from({ length: 32 }, (_, i) => within(i));
    const served = (await fetch(audience)) as { svids: { svid: string }[] };
    expect(served.svids).toHaveLength(1);
    expect(await fetch([...audience.slice(1), `${within(0)}a`])).toBe(grpc.status.INVALID_ARGUMENT);
    // 32 x 1,024 three-byte characters: over the audience bound (and the message cap).
    const far = await fetch(Array.from({ length: 32 }, () => '€'.repeat(1024)));
    expect([grpc.status.INVALID_ARGUMENT, grpc.status.RESOURCE_EXHAUSTED]).toContain(far);
    const validate = (aud: string): Promise<unknown> =>
      unaryCall(client(), 'ValidateJWTSVID', { audience: aud, svid: served.svids[0]!.svid }).then(
        () => 'ok',
        (e: grpc.ServiceError) => `${e.code} ${e.details}`,
      );
    expect(await validate(within(5))).toBe('ok');
    // 1,024 bytes: read, and the token judged (it is not for that audience); 1,025: too long.
    expect(await validate(withinValidate(5))).toMatch(
      new RegExp(`^${grpc.status.INVALID_ARGUMENT} invalid JWT-SVID: ERR_`),
    );
    expect(await validate(`${withinValidate(5)}a`)).toBe(
      `${grpc.status.INVALID_ARGUMENT} the audience is too long`,
    );
  });
});

describe('limits an operator sets (agent serve flags)', () => {
  const limitsOf = (argv: string[]) =>
    workloadLimitsFromArgs(parseCommandArgs(argv, WORKLOAD_LIMIT_OPTIONS));

  /** Open streams of this uid after 9 connections x 128 streams asked, and how many refused. */
  async function streamsAdmitted(argv: string[]): Promise<{ open: number; refused: number }> {
    await start(undefined, limitsOf(argv));
    node.setEntries([{ selectors: [`unix:uid:${UID}`] }]);
    const children = Array.from({ length: 9 }, () => abuse(['noread', 'FetchX509Bundles', '128']));
    const refused = (): number =>
      children.reduce((sum, c) => sum + (c.counts()?.statuses['8'] ?? 0), 0);
    await until('every stream open or refused', () => server.openStreams + refused() === 1152);
    await sleep(300);
    return { open: server.openStreams, refused: refused() };
  }

  it('by default one uid holds 1,024 calls of the 1,152 it asks for', async () => {
    expect(await streamsAdmitted([])).toEqual({ open: 1024, refused: 128 });
  }, 60_000);

  it('--max-calls-per-uid 2048 admits all 1,152 calls of one uid', async () => {
    expect(await streamsAdmitted(['--max-calls-per-uid', '2048'])).toEqual({
      open: 1152,
      refused: 0,
    });
  }, 60_000);

  it.each([
    [['--max-arriving-per-uid', '600'], '--max-arriving-per-uid: 600 is above --max-arriving'],
    [['--max-connections-per-uid', '5000'], '--max-connections-per-uid: 5000 is above'],
    [['--max-calls-per-uid', '12x'], '--max-calls-per-uid: expected a whole number'],
    [['--max-streams', '0'], '--max-streams: must be at least 1'],
  ])('%j is ERR_CONFIG_INVALID naming the flag', (argv, message) => {
    expect(() => limitsOf(argv)).toThrow(
      expect.objectContaining({
        code: 'ERR_CONFIG_INVALID',
        message: expect.stringContaining(message) as string,
      }) as Error,
    );
  });
});
