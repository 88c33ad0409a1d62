// SPIFFE SDK conformance catalogue §5.2 (XV, peer validation) against our harness, in both roles:
// `server` probes the harness's X.509 port with the peer certificate, `client` asks the harness to
// dial a TLS server presenting it. Every negative case runs its positive control first (§2.1).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KU, createCa, createLeaf, type TestCert } from '../helpers/pki.js';
import { TD, expectPeerAccepted, startWorld, type World } from './fixtures.js';
import { ROLES, verdictOf } from './suite-client.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const id = (name: string): string => `spiffe://${TD}/${name}`;

interface Case {
  readonly id: string;
  readonly words: string;
  /** The chain the peer presents, leaf first. */
  readonly chain: (ca: TestCert) => Promise<TestCert[]>;
  /** The SPIFFE ID an accepting harness reports; undefined: the harness must reject. */
  readonly accept?: string;
}

const leaf = (options: Parameters<typeof createLeaf>[1]) => async (ca: TestCert) => [
  await createLeaf(ca, options),
];

const CASES: readonly Case[] = [
  {
    id: 'XV-1',
    words: 'accepts a valid peer SVID (positive control)',
    chain: leaf({ spiffeIds: [id('xv1')] }),
    accept: id('xv1'),
  },
  {
    id: 'XV-2',
    words: 'accepts a peer SVID chained through an intermediate',
    chain: async (ca) => {
      const intermediate = await createCa({ issuer: ca, trustDomain: TD });
      return [await createLeaf(intermediate, { spiffeIds: [id('xv2')] }), intermediate];
    },
    accept: id('xv2'),
  },
  {
    id: 'XV-3',
    words: 'accepts a peer SVID that also carries DNS SANs',
    chain: leaf({ spiffeIds: [id('xv3')], dnsNames: ['xv3.example.org', 'localhost'] }),
    accept: id('xv3'),
  },
  {
    id: 'XV-4',
    words: 'accepts a peer SVID with an empty Subject and a critical URI SAN',
    chain: leaf({ spiffeIds: [id('xv4')], subject: '', sanCritical: true }),
    accept: id('xv4'),
  },
  {
    id: 'XV-5',
    words: 'rejects a peer chaining to an untrusted CA (same trust domain name)',
    chain: async () => [
      await createLeaf(await createCa({ trustDomain: TD }), { spiffeIds: [id('xv5')] }),
    ],
  },
  {
    id: 'XV-6',
    words: 'rejects an expired peer certificate',
    chain: leaf({
      spiffeIds: [id('xv6')],
      notBefore: new Date(Date.now() - 2 * DAY),
      notAfter: new Date(Date.now() - HOUR),
    }),
  },
  {
    id: 'XV-7',
    words: 'rejects a not-yet-valid peer certificate',
    chain: leaf({
      spiffeIds: [id('xv7')],
      notBefore: new Date(Date.now() + HOUR),
      notAfter: new Date(Date.now() + 2 * DAY),
    }),
  },
  {
    id: 'XV-8',
    words: 'rejects a peer leaf with cA=true',
    chain: leaf({ spiffeIds: [id('xv8')], ca: true }),
  },
  {
    id: 'XV-9',
    words: 'rejects a peer leaf with keyCertSign',
    chain: leaf({ spiffeIds: [id('xv9')], keyUsage: KU.digitalSignature | KU.keyCertSign }),
  },
  {
    id: 'XV-10',
    words: 'rejects a peer leaf with cRLSign',
    chain: leaf({ spiffeIds: [id('xv10')], keyUsage: KU.digitalSignature | KU.cRLSign }),
  },
  {
    id: 'XV-11',
    words: 'rejects a peer with more than one URI SAN',
    chain: leaf({ spiffeIds: [id('xv11a'), id('xv11b')] }),
  },
  {
    id: 'XV-12',
    words: 'rejects a peer without a URI SAN',
    chain: leaf({ spiffeIds: [], dnsNames: ['xv12.example.org'] }),
  },
  {
    id: 'XV-13',
    words: 'rejects a peer URI SAN that is not spiffe://',
    chain: leaf({ spiffeIds: [`https://${TD}/xv13`] }),
  },
  {
    id: 'XV-14',
    words: 'rejects a peer SPIFFE ID without a path (spiffe://td)',
    chain: leaf({ spiffeIds: [`spiffe://${TD}`] }),
  },
  {
    id: 'XV-15',
    words:
      'rejects a peer whose trust domain has no bundle, though its chain verifies against the local CA',
    chain: leaf({ spiffeIds: ['spiffe://other.example.org/x'] }),
  },
];

let world: World;
const chains = new Map<string, TestCert[]>();

beforeAll(async () => {
  world = await startWorld();
  for (const testCase of CASES) chains.set(testCase.id, await testCase.chain(world.ca));
}, 60_000);

afterAll(async () => {
  await world?.stop();
});

describe('catalogue §5.2 XV: peer validation (MUST)', () => {
  const table = ROLES.flatMap((role) => CASES.map((testCase) => ({ role, testCase })));
  it.each(table.map((row) => [`${row.testCase.id}/${row.role}: ${row.testCase.words}`, row]))(
    '%s',
    async (_name, { role, testCase }) => {
      const chain = chains.get(testCase.id) ?? [];
      if (testCase.accept !== undefined) {
        expect(await verdictOf(world.ports, role, chain)).toEqual({
          accepted: true,
          spiffeId: testCase.accept,
        });
        return;
      }
      await expectPeerAccepted(world, role);
      expect(await verdictOf(world.ports, role, chain)).toEqual({ accepted: false });
    },
  );
});
