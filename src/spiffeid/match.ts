// Authorisation matchers over SpiffeId values (ID-12): exact, one-of, member-of, segment-bounded prefix.
import type { SpiffeId } from './spiffe-id.js';
import type { TrustDomain } from './trust-domain.js';

/** Decides whether an authenticated SPIFFE ID is allowed. Matchers compare strings only (ID-10). */
export type Matcher = (id: SpiffeId) => boolean;

export function matchId(expected: SpiffeId): Matcher {
  const text = expected.toString();
  return (id) => id.toString() === text;
}

export function matchOneOf(...expected: SpiffeId[]): Matcher {
  const texts = new Set(expected.map((id) => id.toString()));
  return (id) => texts.has(id.toString());
}

export function matchMemberOf(trustDomain: TrustDomain): Matcher {
  const name = trustDomain.name;
  return (id) => id.trustDomain.name === name;
}

/**
 * Matches `prefix` itself and every ID below it on a segment boundary: `/ns/a` covers `/ns/a/x`,
 * never `/ns/ab` (ID-12).
 */
export function matchPathPrefix(prefix: SpiffeId): Matcher {
  const text = prefix.toString();
  const withSlash = text + '/';
  return (id) => {
    const candidate = id.toString();
    return candidate === text || candidate.startsWith(withSlash);
  };
}
