// SPIFFE SDK conformance catalogue §5.1 (XS, the SVID source) against our harness: what the X.509
// port presents (SVID, full chain, rotation) and which CAs of the streamed bundle it trusts. Every
// update is followed by a barrier (a new SVID that must be presented) instead of a sleep (§2.2).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCa, createLeaf, type TestCert } from '../helpers/pki.js';
import {
  TD,
  expectPeerAccepted,
  issue,
  startWorld,
  untilPresented,
  x509Message,
  type World,
} from './fixtures.js';
import { probe, verdictOf } from './suite-client.js';

let world: World;
let ca2: TestCert;
let peer2: TestCert;

beforeAll(async () => {
  world = await startWorld();
  ca2 = await createCa({ trustDomain: TD });
  peer2 = await createLeaf(ca2, { spiffeIds: [`spiffe://${TD}/peer2`] });
}, 60_000);

afterAll(async () => {
  await world?.stop();
});

describe('catalogue §5.1 XS: SVID source (MUST)', () => {
  it('XS-1: presents the X.509-SVID received from FetchX509SVID', async () => {
    const seen = await probe(world.ports, [world.peer]);
    expect(seen.presentedUri).toBe(world.own.spiffeId);
    expect(seen.presentedChain[0]?.equals(world.own.leaf.der)).toBe(true);
    expect(seen.line).toBe(`spiffe://${TD}/peer\n`);
  });

  it('XS-2: presents the full chain, leaf first, including intermediates', async () => {
    const intermediate = await createCa({ issuer: world.ca, trustDomain: TD });
    const svid = await issue(intermediate, `spiffe://${TD}/xs2`, [intermediate]);
    world.api.setX509(x509Message([svid], [world.ca]));
    await untilPresented(world, svid.spiffeId);
    // The suite trusts the root only: the handshake verifies only if the intermediate was sent.
    const seen = await probe(world.ports, [world.peer], world.ca);
    expect(seen.trusted).toBe(true);
    // Node lists the chain as verified: what was sent, then the root from our trust store.
    expect(seen.presentedChain.slice(0, 2).map((der) => der.toString('base64'))).toEqual(
      [svid.leaf.der, intermediate.der].map((der) => der.toString('base64')),
    );
  });

  it('XS-3: uses a rotated SVID for new connections', async () => {
    const a = await issue(world.ca, `spiffe://${TD}/xs3-a`);
    const b = await issue(world.ca, `spiffe://${TD}/xs3-b`);
    world.api.setX509(x509Message([a], [world.ca]));
    await untilPresented(world, a.spiffeId);
    world.api.setX509(x509Message([b], [world.ca]));
    await untilPresented(world, b.spiffeId);
    for (let i = 0; i < 3; i++) {
      const seen = await probe(world.ports, [world.peer]);
      expect(seen.presentedChain[0]?.equals(b.leaf.der)).toBe(true);
    }
  });

  it('XS-4: accepts a bundle of several concatenated CA certificates and trusts each', async () => {
    const barrier = await issue(world.ca, `spiffe://${TD}/xs4`);
    world.api.setX509(x509Message([barrier], [world.ca, ca2]));
    await untilPresented(world, barrier.spiffeId);
    await expectPeerAccepted(world, 'server');
    expect(await verdictOf(world.ports, 'server', [peer2])).toEqual({
      accepted: true,
      spiffeId: `spiffe://${TD}/peer2`,
    });
  });

  it('XS-5: stops trusting a CA once it is removed from the bundle', async () => {
    // Starts from XS-4's state (CA1 and CA2 trusted, peer2 accepted there).
    const barrier = await issue(world.ca, `spiffe://${TD}/xs5`);
    world.api.setX509(x509Message([barrier], [world.ca]));
    await untilPresented(world, barrier.spiffeId);
    await expectPeerAccepted(world, 'server');
    expect(await verdictOf(world.ports, 'server', [peer2])).toEqual({ accepted: false });
  });
});
