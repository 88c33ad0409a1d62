// What one Workload API message may make the SDK parse: certificates and JWT keys counted before
// parsing (typed discard past the caps, BUNDLE-7 for one JWK Set), and the authorities of unchanged
// bytes reused from the last accepted message instead of parsed again.
import { beforeAll, describe, expect, it } from 'vitest';
import { codeOfSync } from '../../test/helpers/error-code.js';
import { createCa, createJwtKey, createLeaf, type TestCert } from '../../test/helpers/pki.js';
import { jwtBundlesResponse, x509Response } from '../../test/helpers/workload-api-server.js';
import { parseTrustDomain } from '../spiffeid/index.js';
import {
  MAX_BUNDLE_JWT_KEYS,
  MAX_MESSAGE_CERTIFICATES,
  MAX_MESSAGE_JWT_KEYS,
  createAuthorityCache,
} from './workload-api-bounds.js';
import { parseJwtBundlesResponse, parseX509SvidResponse } from './workload-api-messages.js';

let ca: TestCert;
let leaf: TestCert;
let small: TestCert;
const own = () => ({ spiffeId: 'spiffe://example.org/a', leaf, bundle: [ca] });

beforeAll(async () => {
  ca = await createCa({ trustDomain: 'example.org' });
  leaf = await createLeaf(ca, { spiffeIds: ['spiffe://example.org/a'] });
  small = await createCa({ trustDomain: 'x' });
});

/** `count` federated trust domains of `per` certificates each. */
function federated(count: number, per: number): Record<string, TestCert[]> {
  const out: Record<string, TestCert[]> = {};
  for (let i = 0; i < count; i++) out[`spiffe://td${i}.example`] = Array<TestCert>(per).fill(small);
  return out;
}

describe('FetchX509SVID: certificates per message', () => {
  it(`a message of more than ${MAX_MESSAGE_CERTIFICATES} certificates is discarded before any is parsed`, () => {
    // 2 (leaf, own CA) + 64 x 64 = 4098; each bundle holds the 64 a field may.
    const message = x509Response([own()], federated(64, 64));
    expect(codeOfSync(() => parseX509SvidResponse(message, new Date()))).toBe(
      'ERR_AGENT_WORKLOAD_API_RESPONSE',
    );
    // One trust domain less fits, and every bundle is kept.
    const fits = parseX509SvidResponse(x509Response([own()], federated(63, 64)), new Date());
    expect([...fits.bundles]).toHaveLength(64);
  });

  it('a second message with the same bytes reuses the parsed authorities; a changed bundle is parsed', async () => {
    const cache = createAuthorityCache();
    const first = parseX509SvidResponse(x509Response([own()], federated(3, 2)), new Date(), cache);
    cache.commit();
    const second = parseX509SvidResponse(x509Response([own()], federated(3, 2)), new Date(), cache);
    cache.commit();
    const td = (name: string) => parseTrustDomain(name);
    const before = first.bundles.get(td('td1.example'))?.x509Authorities[0];
    expect(before).toBeDefined();
    expect(second.bundles.get(td('td1.example'))?.x509Authorities[0]).toBe(before);
    expect(second.bundles.get(td('example.org'))?.x509Authorities[0]).toBe(
      first.bundles.get(td('example.org'))?.x509Authorities[0],
    );
    const other = await createCa({ trustDomain: 'x' });
    const changed = parseX509SvidResponse(
      x509Response([own()], { 'spiffe://td1.example': [other] }),
      new Date(),
      cache,
    );
    const parsed = changed.bundles.get(td('td1.example'))?.x509Authorities[0];
    expect(parsed).not.toBe(before);
    expect(parsed?.der.equals(other.der)).toBe(true);
  });
});

describe('FetchJWTBundles: keys per trust domain and per message', () => {
  const entries = (count: number, prefix: string) =>
    Array.from({ length: count }, (_, i) => ({ kty: 'EC', kid: `${prefix}${i}`, crv: 'P-256' }));

  it(`BUNDLE-7: a JWK Set of more than ${MAX_BUNDLE_JWT_KEYS} keys discards the message`, () => {
    const message = jwtBundlesResponse({
      'spiffe://example.org': entries(MAX_BUNDLE_JWT_KEYS + 1, 'k'),
    });
    expect(codeOfSync(() => parseJwtBundlesResponse(message))).toBe(
      'ERR_AGENT_WORKLOAD_API_RESPONSE',
    );
  });

  it(`more than ${MAX_MESSAGE_JWT_KEYS} keys in all discards the message`, () => {
    const bundles: Record<string, Record<string, unknown>[]> = {};
    for (let i = 0; i < 5; i++) bundles[`spiffe://td${i}.example`] = entries(900, `k${i}-`);
    expect(codeOfSync(() => parseJwtBundlesResponse(jwtBundlesResponse(bundles)))).toBe(
      'ERR_AGENT_WORKLOAD_API_RESPONSE',
    );
    delete bundles['spiffe://td4.example'];
    expect([...parseJwtBundlesResponse(jwtBundlesResponse(bundles))]).toHaveLength(4);
  });

  it('unchanged JWK Set bytes reuse the parsed keys', async () => {
    const key = await createJwtKey('ES256', 'k1');
    const message = jwtBundlesResponse({ 'spiffe://example.org': [{ ...key.jwk, kid: 'k1' }] });
    const cache = createAuthorityCache();
    const first = parseJwtBundlesResponse(message, cache);
    cache.commit();
    const second = parseJwtBundlesResponse(message, cache);
    const td = parseTrustDomain('example.org');
    expect(first.get(td)?.jwtAuthorities.get('k1')).toBeDefined();
    expect(second.get(td)?.jwtAuthorities.get('k1')).toBe(first.get(td)?.jwtAuthorities.get('k1'));
  });
});
