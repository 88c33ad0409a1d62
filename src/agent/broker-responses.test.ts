// Unit tests of reading the agent API's answers: when a bundle set counts as changed (one
// bundle-content equality, bundle/bundleContentEquals), and malformed answers as typed errors.
import { describe, expect, it } from 'vitest';
import { bundleOf, createCa, createJwtKey } from '../../test/helpers/pki.js';
import {
  Bundle,
  BundleSet,
  jwtAuthorityFromJwk,
  marshalBundle,
  parseStrictJson,
} from '../bundle/index.js';
import { isBrokerError } from '../errors.js';
import { parseTrustDomain } from '../spiffeid/index.js';
import {
  bundleSetChanged,
  bundleSetFromResponse,
  jwtSvidFromResponse,
} from './broker-responses.js';
import { parseSseBlock } from './bundle-watch.js';

const OWN = 'logistics.test';
const PARTNER = 'shipping.test';
const ownCa = await createCa({ trustDomain: OWN });
const partnerCa = await createCa({ trustDomain: PARTNER });
const key1 = await createJwtKey('ES256', 'kid-1');
const key1Again = await createJwtKey('ES256', 'kid-1'); // same kid, another key

function bundle(
  td: string,
  options: { sequence?: bigint; hint?: number; jwt?: typeof key1 } = {},
): Bundle {
  const base = bundleOf(td, [td === OWN ? ownCa : partnerCa]);
  return new Bundle({
    trustDomain: base.trustDomain,
    x509Authorities: base.x509Authorities,
    jwtAuthorities:
      options.jwt === undefined ? [] : [jwtAuthorityFromJwk(options.jwt.kid, options.jwt.jwk)],
    sequence: options.sequence ?? 1n,
    refreshHintSeconds: options.hint ?? 300,
  });
}

function codeOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    return isBrokerError(error) ? error.code : `not a broker error: ${String(error)}`;
  }
  return 'no error';
}

describe('bundleSetChanged', () => {
  const before = new BundleSet([bundle(OWN, { jwt: key1 }), bundle(PARTNER)]);
  it.each([
    ['the same content in new objects', [bundle(OWN, { jwt: key1 }), bundle(PARTNER)], false],
    ['a partner added', [bundle(OWN, { jwt: key1 })], true],
    ['a new sequence', [bundle(OWN, { jwt: key1, sequence: 2n }), bundle(PARTNER)], true],
    ['another key under the same kid', [bundle(OWN, { jwt: key1Again }), bundle(PARTNER)], true],
    ['another refresh hint', [bundle(OWN, { jwt: key1, hint: 60 }), bundle(PARTNER)], true],
  ])('%s -> %s', (_name, next, changed) => {
    expect(bundleSetChanged(before, new BundleSet(next))).toBe(changed);
  });
});

describe('broker answers are untrusted input', () => {
  const td = parseTrustDomain(OWN);
  const json = (b: Bundle): unknown => parseStrictJson(marshalBundle(b));
  it('reads the bundle set and finds our own bundle', () => {
    const { own, set } = bundleSetFromResponse(
      { bundles: { [OWN]: json(bundle(OWN)), [PARTNER]: json(bundle(PARTNER)) } },
      td,
    );
    expect(own.trustDomain.name).toBe(OWN);
    expect(set.size).toBe(2);
  });
  it.each([
    ['not an object', null],
    ['no bundles member', {}],
    ['bundles not an object', { bundles: [] }],
    ['our own trust domain missing', { bundles: { [PARTNER]: json(bundle(PARTNER)) } }],
  ])('bundles: %s -> ERR_AGENT_BROKER_UNTRUSTED', (_name, value) => {
    expect(codeOf(() => bundleSetFromResponse(value, td))).toBe('ERR_AGENT_BROKER_UNTRUSTED');
  });
  it.each([
    ['null', null],
    ['no token', { expiresAt: '2030-01-01T00:00:00Z' }],
    ['a bad expiry', { token: 'a.b.c', expiresAt: 'soon' }],
  ])('JWT-SVID: %s -> ERR_AGENT_BROKER_UNTRUSTED', (_name, value) => {
    expect(codeOf(() => jwtSvidFromResponse(value))).toBe('ERR_AGENT_BROKER_UNTRUSTED');
  });
});

describe('parseSseBlock', () => {
  it.each([
    ['event: bundles\ndata: {"a":1}', 'bundles', '{"a":1}'],
    ['data: one\r\ndata: two', 'message', 'one\ntwo'],
    [': keep-alive', 'message', ''],
    ['event:bundles\ndata:{}', 'bundles', '{}'],
  ])('%j', (block, event, data) => {
    expect(parseSseBlock(block)).toEqual({ event, data });
  });
});
