// SPIFFE SDK conformance catalogue §4 (WA, Workload API client behaviour) against our harness:
// default identity, stream re-establishment, discarding responses with a mandatory field at its
// default, and withdrawing the SVID after PermissionDenied; and §8 (HX, optional hardening): bad
// SVIDs from the Workload API are never served. Barrier SVIDs instead of sleeps (§2.2).
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KU, createCa, createLeaf } from '../helpers/pki.js';
import {
  TD,
  issue,
  startWorld,
  untilPresented,
  x509Message,
  type Svid,
  type World,
} from './fixtures.js';
import { probe, until } from './suite-client.js';

let world: World;
let current: Svid;

beforeAll(async () => {
  world = await startWorld();
  current = world.own;
}, 60_000);

afterAll(async () => {
  await world?.stop();
});

const DAY_MS = 86_400_000;
const svid = (name: string) => issue(world.ca, `spiffe://${TD}/${name}`);
const presented = async () => (await probe(world.ports, [world.peer])).presentedUri;

/** Makes `next` the served SVID and waits until the X.509 port presents it. */
async function serve(next: Svid): Promise<void> {
  world.api.setX509(x509Message([next], [world.ca]));
  await untilPresented(world, next.spiffeId);
  current = next;
}

type Message = { svids: Record<string, unknown>[] };
/** Sets one field of the first SVID to its proto3 default. */
const emptied =
  (field: string, value: unknown) =>
  (message: Message): void => {
    const first = message.svids[0];
    if (first !== undefined) first[field] = value;
  };
const VARIANTS: readonly (readonly [string, (message: Message) => void])[] = [
  ['empty-svids', (message) => void message.svids.splice(0)],
  ['empty-spiffe_id', emptied('spiffe_id', '')],
  ['empty-x509_svid', emptied('x509_svid', Buffer.alloc(0))],
  ['empty-x509_svid_key', emptied('x509_svid_key', Buffer.alloc(0))],
  ['empty-bundle', emptied('bundle', Buffer.alloc(0))],
];

/**
 * Pushes `bad`, probes three times, then pushes a barrier SVID B and probes until B shows (§2.2):
 * every probe before B must present the SVID served before, never C and never nothing.
 */
async function expectIgnored(name: string, bad: Message): Promise<void> {
  const before = current;
  world.api.setX509(bad);
  const seen: string[] = [];
  for (let i = 0; i < 3; i++) seen.push(await presented());
  const barrier = await svid(`${name}-barrier`);
  world.api.setX509(x509Message([barrier], [world.ca]));
  await until(async () => {
    seen.push(await presented());
    return seen.at(-1) === barrier.spiffeId;
  }, 'the barrier SVID');
  current = barrier;
  const beforeB = seen.slice(0, seen.indexOf(barrier.spiffeId));
  expect(beforeB.length).toBeGreaterThanOrEqual(3);
  expect(new Set(beforeB)).toEqual(new Set([before.spiffeId]));
}

/** Catalogue §8: SVIDs no spec requires a client to refuse (a lenient SDK would serve them). */
const HARDENING: readonly (readonly [string, string, () => Promise<Message>])[] = [
  ['HX-1', 'with an invalid signature', () => spoiled('hx1', {}, (m) => flipLast(m, 'x509_svid'))],
  [
    'HX-2',
    'that does not chain to the bundle in the same response',
    async () => {
      const stranger = await createCa({ trustDomain: TD });
      return x509Message([await issue(stranger, `spiffe://${TD}/hx2`)], [world.ca]) as Message;
    },
  ],
  [
    'HX-3',
    'that is expired',
    () =>
      spoiled('hx3', {
        notBefore: new Date(Date.now() - 2 * DAY_MS),
        notAfter: new Date(Date.now() - 60_000),
      }),
  ],
  ['HX-4', 'whose leaf has cA=true', () => spoiled('hx4', { ca: true })],
  [
    'HX-5',
    'whose leaf has keyCertSign',
    () => spoiled('hx5', { keyUsage: KU.digitalSignature | KU.keyCertSign }),
  ],
  [
    'HX-6',
    'with more than one URI SAN',
    () => spoiled('hx6', { extraUri: `spiffe://${TD}/hx6-b` }),
  ],
  ['HX-7', 'with a non-spiffe:// URI SAN', () => spoiled('hx7', { uri: `https://${TD}/hx7` })],
  [
    'HX-8',
    'whose private key does not match the certificate',
    () =>
      spoiled(
        'hx8',
        {},
        (m) =>
          (first(m)['x509_svid_key'] = world.peer
            .nodePrivateKey()
            .export({ format: 'der', type: 'pkcs8' })),
      ),
  ],
  [
    'HX-9',
    "whose spiffe_id field differs from the certificate's URI SAN",
    () => spoiled('hx9', {}, (m) => (first(m)['spiffe_id'] = `spiffe://${TD}/hx9-other`)),
  ],
];

function first(message: Message): Record<string, unknown> {
  const svid = message.svids[0];
  if (svid === undefined) throw new TypeError('no svid');
  return svid;
}

function flipLast(message: Message, field: string): void {
  const bytes = Buffer.from(first(message)[field] as Buffer);
  bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 0x01;
  first(message)[field] = bytes;
}

/** A message of one SVID C from the local CA, its leaf built with `options`, then `spoil`ed. */
async function spoiled(
  name: string,
  options: Parameters<typeof createLeaf>[1] & { uri?: string; extraUri?: string },
  spoil: (message: Message) => void = () => undefined,
): Promise<Message> {
  const spiffeId = `spiffe://${TD}/${name}`;
  const { uri, extraUri, ...leafOptions } = options;
  const uris = [uri ?? spiffeId, ...(extraUri === undefined ? [] : [extraUri])];
  const leaf = await createLeaf(world.ca, { ...leafOptions, spiffeIds: uris });
  const message = x509Message([{ spiffeId, leaf, intermediates: [] }], [world.ca]) as Message;
  spoil(message);
  return message;
}

describe('catalogue §4 WA: Workload API client behaviour', () => {
  it('WA-3: uses the first SVID in the response as the default identity', async () => {
    const [a, b] = [await svid('wa3-a'), await svid('wa3-b')];
    world.api.setX509(x509Message([a, b], [world.ca]));
    let seen = '';
    await until(
      async () => [a.spiffeId, b.spiffeId].includes((seen = await presented())),
      'A or B',
    );
    expect(seen).toBe(a.spiffeId);
    const [a2, b2] = [await svid('wa3-a2'), await svid('wa3-b2')];
    world.api.setX509(x509Message([b2, a2], [world.ca]));
    await until(
      async () => [a2.spiffeId, b2.spiffeId].includes((seen = await presented())),
      'A2 or B2',
    );
    expect(seen).toBe(b2.spiffeId);
    current = b2;
  });

  it('WA-1 (SHOULD): re-establishes the stream after the server closes it', async () => {
    const opened = world.api.callsOf('FetchX509SVID').length;
    world.api.endStreams(grpc.status.UNAVAILABLE);
    await until(
      () =>
        world.api
          .callsOf('FetchX509SVID')
          .slice(opened)
          .some((c) => c.status === 'open'),
      'a new FetchX509SVID stream',
    );
    await serve(await svid('wa1-b'));
  });

  it.each(VARIANTS)(
    'WA-2/%s (SHOULD): discards a response with a mandatory field at its default value',
    async (name, mutate) => {
      // The bad response carries a new SVID C: a lenient SDK would present C, or nothing.
      const bad = x509Message([await svid(`wa2-${name}-c`)], [world.ca]) as Message;
      mutate(bad);
      await expectIgnored(`wa2-${name}`, bad);
    },
  );

  it.each(HARDENING)('%s (OPT): ignores a Workload API X.509-SVID %s', async (id, _words, make) => {
    await expectIgnored(id, await make());
  });

  it('WA-4 (SHOULD): stops using SVIDs after the stream returns PermissionDenied', async () => {
    expect(await presented()).toBe(current.spiffeId);
    world.api.refuse('FetchX509SVID', () => ({ code: grpc.status.PERMISSION_DENIED }));
    world.api.endStreams(grpc.status.PERMISSION_DENIED);
    await until(async () => (await presented()) === '', 'the SVID to be withdrawn', 5_000);
    const refused = world.api
      .callsOf('FetchX509SVID')
      .filter((c) => c.status === grpc.status.PERMISSION_DENIED);
    expect(refused.length).toBeGreaterThan(0);
  });
});
