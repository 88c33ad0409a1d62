// SPIFFE SDK conformance catalogue §6.2 (JB, JWT bundles from FetchJWTBundles) against our harness.
// Each test pushes the complete bundle state it needs; every push carries a fresh barrier key, and
// a token signed by it must be accepted before anything is asserted (§2.2: no sleeps).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJwtKey, type TestJwtKey } from '../helpers/pki.js';
import { FED, TD, jwkOf, jwtMessage, mint, startWorld, type World } from './fixtures.js';
import { expectAccepted, expectRejected, validate } from './jwt-validate.js';
import { until } from './suite-client.js';

const SUB = `spiffe://${TD}/w`;
const FED_SUB = `spiffe://${FED}/w`;
let world: World;
let k1: TestJwtKey;
let k2: TestJwtKey;
let fedKey: TestJwtKey;

beforeAll(async () => {
  k1 = await createJwtKey('ES256', 'k1');
  k2 = await createJwtKey('ES256', 'k2');
  fedKey = await createJwtKey('ES256', 'fed');
  world = await startWorld({ jwtBundles: jwtMessage({ [TD]: [jwkOf(k1)] }) });
}, 60_000);

afterAll(async () => {
  await world?.stop();
});

let barriers = 0;

/** Pushes `bundles` plus a fresh key in TD, and waits until a token of that key is accepted. */
async function settle(bundles: Record<string, Record<string, unknown>[]>): Promise<string> {
  const barrier = await createJwtKey('ES256', `barrier-${++barriers}`);
  world.api.setJwtBundles(
    jwtMessage({ ...bundles, [TD]: [...(bundles[TD] ?? []), jwkOf(barrier)] }),
  );
  const token = await mint(barrier, SUB);
  await until(
    async () => (await validate(world.ports, token)).status === 200,
    `barrier key ${barrier.kid}`,
  );
  return token;
}

const token = (key: TestJwtKey, sub = SUB) => mint(key, sub);

describe('catalogue §6.2 JB: JWT bundles (MUST unless marked)', () => {
  it('JB-1: picks up a key added by a streamed bundle update', async () => {
    await settle({ [TD]: [jwkOf(k1)] });
    await expectRejected(world.ports, { token: await token(k1), sub: SUB }, await token(k2));
    await settle({ [TD]: [jwkOf(k1), jwkOf(k2)] });
    await expectAccepted(world.ports, await token(k2), SUB);
  });

  it('JB-2: stops accepting a key removed by a streamed bundle update', async () => {
    await settle({ [TD]: [jwkOf(k1), jwkOf(k2)] });
    await expectAccepted(world.ports, await token(k1), SUB);
    await settle({ [TD]: [jwkOf(k2)] });
    await expectRejected(world.ports, { token: await token(k2), sub: SUB }, await token(k1));
  });

  it('JB-3 (SHOULD): stops accepting tokens from a trust domain whose bundle was removed', async () => {
    await settle({ [TD]: [jwkOf(k1)], [FED]: [jwkOf(fedKey)] });
    await expectAccepted(world.ports, await token(fedKey, FED_SUB), FED_SUB);
    await settle({ [TD]: [jwkOf(k1)] });
    const control = { token: await token(k1), sub: SUB };
    await expectRejected(world.ports, control, await token(fedKey, FED_SUB));
  });

  it('JB-4: selects the verification key by kid among several keys (token uses the second)', async () => {
    const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((kid) => createJwtKey('ES256', kid)));
    await settle({ [TD]: [a, b, c].map((key) => jwkOf(key as TestJwtKey)) });
    await expectAccepted(world.ports, await token(b as TestJwtKey), SUB);
  });

  it('JB-5/x509-svid-use: ignores JWKs whose use is not jwt-svid; other keys keep working', async () => {
    const x509Use = await createJwtKey('ES256', 'x5');
    await settle({ [TD]: [jwkOf(k1), jwkOf(x509Use, 'x509-svid')] });
    await expectRejected(world.ports, { token: await token(k1), sub: SUB }, await token(x509Use));
  });

  it('JB-6: ignores a JWK with an unknown kty without discarding the rest of the bundle', async () => {
    // The barrier key shares the message: its acceptance shows the message was not discarded.
    await settle({ [TD]: [{ kty: 'XYZ', kid: 'odd', use: 'jwt-svid' }, jwkOf(k1)] });
    await expectAccepted(world.ports, await token(k1), SUB);
  });

  it('JB-7: treats a bundle with empty keys as "trust nothing" for that trust domain', async () => {
    await settle({ [TD]: [jwkOf(k1)], [FED]: [jwkOf(fedKey)] });
    await expectAccepted(world.ports, await token(fedKey, FED_SUB), FED_SUB);
    await settle({ [TD]: [jwkOf(k1)], [FED]: [] });
    const control = { token: await token(k1), sub: SUB };
    await expectRejected(world.ports, control, await token(fedKey, FED_SUB));
  });

  it("JB-8: accepts a token from a federated trust domain using that trust domain's bundle", async () => {
    await settle({ [TD]: [jwkOf(k1)], [FED]: [jwkOf(fedKey)] });
    await expectAccepted(world.ports, await token(fedKey, FED_SUB), FED_SUB);
    // Its key is not trusted for the local trust domain (the bundles are not pooled).
    await expectRejected(world.ports, { token: await token(k1), sub: SUB }, await token(fedKey));
  });

  it('§2.4: validation is not delegated (no ValidateJWTSVID call)', () => {
    expect(world.api.callsOf('ValidateJWTSVID')).toEqual([]);
  });
});
