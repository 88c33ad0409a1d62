// What our bundle publishes at an instant: the X.509 anchors and JWT keys of published authorities,
// expired ones pruned (BUNDLE-33), in BUNDLE-32 order, with a digest that changes only with content.
import { createHash } from 'node:crypto';
import type { JwtAuthority, X509Authority } from '../bundle/index.js';
import { PUBLISHED_STATES } from './authority.js';
import type { AuthorityRecord } from './authority-record.js';

export interface LocalBundleContent {
  readonly x509: readonly X509Authority[];
  readonly jwt: readonly JwtAuthority[];
  /** SHA-256 over the refresh hint, anchor fingerprints and JWT keys: equal content, equal digest. */
  readonly digest: string;
  /** The content stays the same until this instant unless an authority changes. */
  readonly validUntil: number;
}

/** BUNDLE-32: x509 entries by notBefore (then fingerprint), jwt entries by kid; sorts in place. */
export function sortForPublication(x509: X509Authority[], jwt: JwtAuthority[]): void {
  x509.sort(
    (a, b) =>
      a.notBefore.getTime() - b.notBefore.getTime() ||
      (a.fingerprintSha256 < b.fingerprintSha256 ? -1 : 1),
  );
  jwt.sort((a, b) => (a.kid < b.kid ? -1 : a.kid > b.kid ? 1 : 0));
}

export function localBundleContent(
  records: Iterable<AuthorityRecord>,
  refreshHintSeconds: number,
  t: number,
): LocalBundleContent {
  const x509: X509Authority[] = [];
  const jwt: JwtAuthority[] = [];
  const seen = new Set<string>();
  let validUntil = Number.POSITIVE_INFINITY;
  for (const r of records) {
    if (!PUBLISHED_STATES.has(r.state)) continue;
    if (r.anchor !== undefined) {
      const expiry = r.anchor.notAfter.getTime();
      // BUNDLE-33: expired CA certificates are pruned. Upstream anchors are shared: published once.
      if (expiry > t && !seen.has(r.anchor.fingerprintSha256)) {
        seen.add(r.anchor.fingerprintSha256);
        x509.push(r.anchor);
        validUntil = Math.min(validUntil, expiry);
      }
    }
    if (r.jwtAuthority !== undefined && r.notAfter > t) {
      jwt.push(r.jwtAuthority);
      validUntil = Math.min(validUntil, r.notAfter);
    }
  }
  sortForPublication(x509, jwt);
  const digest = createHash('sha256')
    .update(
      JSON.stringify([
        refreshHintSeconds,
        x509.map((a) => a.fingerprintSha256),
        jwt.map((a) => [a.kid, a.jwk]),
      ]),
    )
    .digest('hex');
  return { x509, jwt, digest, validUntil };
}
