// When the broker's own X509-SVIDs (bundle endpoint, agent API, admin API) must be re-issued at once,
// not at their next half-life renewal: their signer was tainted or revoked, or is leaving the bundle.
import type { Bundle } from '../bundle/index.js';
import type { AuthorityMetadata } from './authority.js';

export type OwnSvidReissueReason =
  'signer-tainted' | 'signer-revoked' | 'signer-unknown' | 'signer-not-in-bundle';

/**
 * Why the own SVID signed by `signerId` must be re-issued now, or undefined while it is fine.
 * Issue 15, finding 4: a tainted or revoked signer, or a signer whose anchor is not in the bundle
 * served now (removed from it; a change made on another replica arrives through the shared
 * bundle). An SVID never outlives its signer's certificate (the CA caps notAfter), and a signer
 * stays published until that expiry (BUNDLE-33), so the half-life renewal covers the rest.
 */
export function ownSvidReissueReason(
  signerId: string,
  authorities: readonly AuthorityMetadata[],
  bundle: Bundle,
): OwnSvidReissueReason | undefined {
  const signer = authorities.find((a) => a.kind === 'x509' && a.id === signerId);
  if (signer === undefined) return 'signer-unknown';
  if (signer.state === 'revoked') return 'signer-revoked';
  if (signer.state === 'tainted') return 'signer-tainted';
  const anchor = signer.anchorFingerprintSha256;
  if (anchor !== undefined && !bundle.x509Authorities.some((a) => a.fingerprintSha256 === anchor)) {
    return 'signer-not-in-bundle';
  }
  return undefined;
}
