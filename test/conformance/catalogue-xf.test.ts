// SPIFFE SDK conformance catalogue §5.3 (XF, federation) against our harness, in both roles: a
// federated bundle from `federated_bundles` authenticates its own trust domain only, and stops
// doing so once a later response omits it. Positive control before every negative (§2.1).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCa, createLeaf, type TestCert } from '../helpers/pki.js';
import {
  FED,
  TD,
  expectPeerAccepted,
  issue,
  startWorld,
  untilPresented,
  x509Message,
  type World,
} from './fixtures.js';
import { ROLES, verdictOf } from './suite-client.js';

let world: World;
let fedCa: TestCert;
let fedPeer: TestCert;
let impostor: TestCert;

beforeAll(async () => {
  fedCa = await createCa({ trustDomain: FED });
  const ca = await createCa({ trustDomain: TD });
  world = await startWorld({ ca, federated: { [`spiffe://${FED}`]: [fedCa] } });
  fedPeer = await createLeaf(fedCa, { spiffeIds: [`spiffe://${FED}/peer`] });
  // Claims the federated trust domain, signed by the local CA (XF-2).
  impostor = await createLeaf(world.ca, { spiffeIds: [`spiffe://${FED}/impostor`] });
}, 60_000);

afterAll(async () => {
  await world?.stop();
});

describe('catalogue §5.3 XF: federation (MUST)', () => {
  it.each(ROLES)(
    'XF-1/%s: accepts a peer from a federated trust domain using federated_bundles',
    async (role) => {
      expect(await verdictOf(world.ports, role, [fedPeer])).toEqual({
        accepted: true,
        spiffeId: `spiffe://${FED}/peer`,
      });
    },
  );

  it.each(ROLES)(
    'XF-2/%s: rejects a peer claiming trust domain B whose chain only verifies against A (no bundle merging)',
    async (role) => {
      await expectPeerAccepted(world, role);
      expect(await verdictOf(world.ports, role, [impostor])).toEqual({ accepted: false });
    },
  );

  describe('after a response without federated_bundles', () => {
    beforeAll(async () => {
      // Barrier (§2.2): the same response carries a new SVID; once it is presented, the SDK has
      // applied the response that dropped the federated bundle.
      const barrier = await issue(world.ca, `spiffe://${TD}/xf3-barrier`);
      world.api.setX509(x509Message([barrier], [world.ca]));
      await untilPresented(world, barrier.spiffeId);
    });

    it.each(ROLES)(
      'XF-3/%s: stops trusting a federated trust domain when a later response omits it',
      async (role) => {
        await expectPeerAccepted(world, role);
        expect(await verdictOf(world.ports, role, [fedPeer])).toEqual({ accepted: false });
      },
    );
  });
});
