// SPIFFE SDK conformance catalogue §7 (ID, SPIFFE ID parsing) against our harness: each case is a
// validly signed JWT-SVID with the given sub (trust domains with a bundle where the case allows
// one), and representative cases as peer X.509 URI SANs on the X.509 port (XV role server).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLeaf, createJwtKey, type TestJwtKey } from '../helpers/pki.js';
import {
  TD,
  expectPeerAccepted,
  jwkOf,
  jwtMessage,
  mint,
  startWorld,
  type World,
} from './fixtures.js';
import { expectAccepted, expectRejected } from './jwt-validate.js';
import { verdictOf } from './suite-client.js';

const UNDERSCORE_TD = 'my_td-42.example';
const IPV4_TD = '192.168.1.1';
const prefix = `spiffe://${TD}/`;
const LONGEST = prefix + 'a'.repeat(2048 - prefix.length);

/** ID-1: invalid SPIFFE IDs (one sub-result each). */
const INVALID: readonly (readonly [string, string])[] = [
  ['empty-trust-domain', 'spiffe:///a'],
  ['port', `spiffe://${TD}:8080/a`],
  ['userinfo', `spiffe://u@${TD}/a`],
  ['query', `spiffe://${TD}/a?x=1`],
  ['fragment', `spiffe://${TD}/a#f`],
  ['percent-encoded', `spiffe://${TD}/%41`],
  ['empty-segment', `spiffe://${TD}/a//b`],
  ['dot-segment', `spiffe://${TD}/a/./b`],
  ['dot-dot-segment', `spiffe://${TD}/a/../b`],
  ['trailing-slash', `spiffe://${TD}/a/`],
  ['invalid-path-char', `spiffe://${TD}/a!b`],
  ['invalid-trust-domain-char', 'spiffe://t$d/a'],
];

/** ID-2: valid edge cases. */
const VALID: readonly (readonly [string, string])[] = [
  ['path-chars-and-mixed-case', `spiffe://${TD}/Mixed.Case-Path_x/Seg.2`],
  ['trust-domain-underscore-digits', `spiffe://${UNDERSCORE_TD}/w`],
  ['ipv4-like-trust-domain', `spiffe://${IPV4_TD}/w`],
  ['2048-bytes', LONGEST],
];

/** Run as X.509 URI SANs too (their trust domain is the harness's own, so only the ID decides). */
const X509_SAMPLED_INVALID = new Set([
  'port',
  'query',
  'percent-encoded',
  'empty-segment',
  'dot-segment',
  'trailing-slash',
  'invalid-path-char',
]);
const X509_SAMPLED_VALID = new Set(['path-chars-and-mixed-case', '2048-bytes']);

let world: World;
let key: TestJwtKey;
let good: { token: string; sub: string };

beforeAll(async () => {
  key = await createJwtKey('ES256', 'k');
  const bundle = [jwkOf(key)];
  world = await startWorld({
    jwtBundles: jwtMessage({ [TD]: bundle, [UNDERSCORE_TD]: bundle, [IPV4_TD]: bundle }),
  });
  good = { token: await mint(key, `spiffe://${TD}/good`), sub: `spiffe://${TD}/good` };
}, 60_000);

afterAll(async () => {
  await world?.stop();
});

describe('catalogue §7 ID: SPIFFE ID parsing (MUST)', () => {
  it.each(INVALID)('ID-1/%s: rejects an invalid SPIFFE ID as a JWT-SVID sub', async (_n, sub) => {
    await expectRejected(world.ports, good, await mint(key, sub));
  });

  it.each(VALID)(
    'ID-2/%s: accepts a valid edge-case SPIFFE ID as a JWT-SVID sub',
    async (_n, sub) => {
      expect(Buffer.byteLength(LONGEST)).toBe(2048);
      await expectAccepted(world.ports, await mint(key, sub), sub);
    },
  );

  it.each(INVALID.filter(([name]) => X509_SAMPLED_INVALID.has(name)))(
    'ID-1/%s/x509-server: rejects an invalid SPIFFE ID as a peer URI SAN',
    async (_n, uri) => {
      const peer = await createLeaf(world.ca, { spiffeIds: [uri] });
      await expectPeerAccepted(world, 'server');
      expect(await verdictOf(world.ports, 'server', [peer])).toEqual({ accepted: false });
    },
  );

  it.each(VALID.filter(([name]) => X509_SAMPLED_VALID.has(name)))(
    'ID-2/%s/x509-server: accepts a valid edge-case SPIFFE ID as a peer URI SAN',
    async (_n, uri) => {
      const peer = await createLeaf(world.ca, { spiffeIds: [uri] });
      expect(await verdictOf(world.ports, 'server', [peer])).toEqual({
        accepted: true,
        spiffeId: uri,
      });
    },
  );

  it('§2.4: validation is not delegated (no ValidateJWTSVID call)', () => {
    expect(world.api.callsOf('ValidateJWTSVID')).toEqual([]);
  });
});
