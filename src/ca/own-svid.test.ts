// ownSvidReissueReason, table-driven on hand-made authority metadata and bundles (issue 15, finding 4).
import { beforeAll, describe, expect, it } from 'vitest';
import { authorityOf, createCa, type TestCert } from '../../test/helpers/pki.js';
import { Bundle } from '../bundle/index.js';
import { parseTrustDomain } from '../spiffeid/index.js';
import type { AuthorityMetadata, AuthorityState } from './authority.js';
import { ownSvidReissueReason } from './own-svid.js';

const T0 = Date.parse('2030-01-01T00:00:00Z');

function authority(
  id: string,
  state: AuthorityState,
  anchor: string | undefined,
): AuthorityMetadata {
  return {
    id,
    kind: 'x509',
    keyType: 'ec-p256',
    state,
    createdAt: new Date(T0),
    publishedAt: new Date(T0),
    activatedAt: undefined,
    retiredAt: undefined,
    taintedAt: undefined,
    revokedAt: undefined,
    notBefore: new Date(T0),
    notAfter: new Date(T0 + 86_400_000),
    signedUntil: undefined,
    upstream: false,
    certificateDer: undefined,
    fingerprintSha256: anchor,
    anchorFingerprintSha256: anchor,
    publicJwk: undefined,
  };
}

let fa = '';
let fb = '';
let bundleA: Bundle;
let bundleB: Bundle;
let bundleNone: Bundle;
beforeAll(async () => {
  const [a, b] = await Promise.all([createCa(), createCa()]);
  fa = authorityOf(a as TestCert).fingerprintSha256;
  fb = authorityOf(b as TestCert).fingerprintSha256;
  const td = parseTrustDomain('own.test');
  bundleA = new Bundle({ trustDomain: td, x509Authorities: [authorityOf(a as TestCert)] });
  bundleB = new Bundle({ trustDomain: td, x509Authorities: [authorityOf(b as TestCert)] });
  bundleNone = new Bundle({ trustDomain: td, x509Authorities: [] });
});

describe('ownSvidReissueReason', () => {
  type Row = [string, AuthorityState, 'a' | 'b', 'A' | 'B' | 'none', string | undefined];
  it.each<Row>([
    ['active signer in the bundle: keep', 'active', 'a', 'A', undefined],
    ['retired signer still published: keep (half-life renewal)', 'retired', 'a', 'A', undefined],
    ['tainted signer: re-issue', 'tainted', 'a', 'A', 'signer-tainted'],
    ['revoked signer: re-issue', 'revoked', 'a', 'none', 'signer-revoked'],
    [
      'signer gone from the served (shared) bundle: re-issue',
      'active',
      'a',
      'B',
      'signer-not-in-bundle',
    ],
    ['signer unknown to the CA: re-issue', 'active', 'b', 'B', 'signer-unknown'],
  ])('%s', (_name, state, known, served, expected) => {
    const authorities = [authority(known, state, known === 'a' ? fa : fb)];
    const bundle = served === 'A' ? bundleA : served === 'B' ? bundleB : bundleNone;
    expect(ownSvidReissueReason('a', authorities, bundle)).toBe(expected);
  });
});
