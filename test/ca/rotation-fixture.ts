// What the rotation audit tests share: a CA lifetime of a day with a 300 s refresh hint (so a
// 25 min FED-50 lead time), the authority of a kind in a state, and the authorities that sign now.
import { generateKeyPairSync } from 'node:crypto';
import type { AuthorityKind, Ca } from '../../src/ca/index.js';
import { TD } from './support.js';

export const HINT_SECONDS = 300;
export const LEAD_SECONDS = 5 * HINT_SECONDS;
export const CA_TTL_SECONDS = 24 * 3600;
export const CA_OPTIONS = {
  caTtlSeconds: CA_TTL_SECONDS,
  refreshHintSeconds: HINT_SECONDS,
  x509SvidTtlSeconds: 3600,
  maxX509SvidTtlSeconds: 4 * 3600,
  jwtSvidTtlSeconds: 300,
  maxJwtSvidTtlSeconds: 1800,
};
export const KINDS: readonly AuthorityKind[] = ['x509', 'jwt'];

export function idOf(ca: Ca, kind: AuthorityKind, state: string): string {
  const found = ca.authorities(kind).find((a) => a.state === state);
  if (found === undefined) throw new Error(`no ${state} ${kind} authority`);
  return found.id;
}

/** The authority that signs an X509-SVID and a JWT-SVID issued now. */
export async function signers(ca: Ca): Promise<{ x509: string; jwt: string }> {
  const x509 = await ca.issueX509Svid({
    spiffeId: `spiffe://${TD}/workload`,
    publicKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey,
  });
  const jwt = await ca.issueJwtSvid({ spiffeId: `spiffe://${TD}/workload`, audience: ['x'] });
  return { x509: x509.authorityId, jwt: jwt.kid };
}
