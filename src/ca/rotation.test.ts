// The pure rotation policy, table-driven on hand-made authority metadata (FED-50, FED-51, FED-53).
import { describe, expect, it } from 'vitest';
import type { AuthorityMetadata, AuthorityState } from './authority.js';
import { planRotation, removableAt, type RotationAction } from './rotation.js';

const H = 3600_000;
const T0 = Date.parse('2030-01-01T00:00:00Z');
const config = { refreshHintSeconds: 300 };
const LEAD = 5 * 300_000;

function authority(
  id: string,
  state: AuthorityState,
  fields: { created?: number; lifetime?: number; signedUntil?: number; kind?: 'x509' | 'jwt' } = {},
): AuthorityMetadata {
  const created = fields.created ?? T0;
  return {
    id,
    kind: fields.kind ?? 'x509',
    keyType: 'ec-p256',
    state,
    createdAt: new Date(created),
    publishedAt: new Date(created),
    activatedAt: state === 'active' ? new Date(created) : undefined,
    retiredAt: undefined,
    taintedAt: undefined,
    revokedAt: undefined,
    notBefore: new Date(created),
    notAfter: new Date(created + (fields.lifetime ?? 24 * H)),
    signedUntil: fields.signedUntil === undefined ? undefined : new Date(fields.signedUntil),
    upstream: false,
    certificateDer: undefined,
    fingerprintSha256: undefined,
    anchorFingerprintSha256: undefined,
    publicJwk: undefined,
  };
}

/** A healthy JWT key so that each table row only exercises the x509 kind. */
const JWT_OK = authority('k1', 'active', { kind: 'jwt', created: T0 + 20 * H });

function x509Actions(authorities: AuthorityMetadata[], at: number): RotationAction[] {
  return planRotation([...authorities, JWT_OK], config, new Date(at)).actions.filter(
    (a) => a.kind === 'x509',
  );
}

describe('planRotation', () => {
  it.each<[string, AuthorityMetadata[], number, RotationAction[]]>([
    [
      'bootstrap when nothing is published',
      [],
      T0,
      [{ type: 'prepare', kind: 'x509', activate: true, reason: 'bootstrap' }],
    ],
    ['nothing before half-life', [authority('a', 'active')], T0 + 12 * H - 1, []],
    [
      'prepare (and publish) at half-life',
      [authority('a', 'active')],
      T0 + 12 * H,
      [{ type: 'prepare', kind: 'x509', activate: false, reason: 'half-life' }],
    ],
    [
      'FED-50: no activation before 5 × hint',
      [authority('a', 'active'), authority('b', 'prepared', { created: T0 + 12 * H })],
      T0 + 12 * H + LEAD - 1,
      [],
    ],
    [
      'FED-50: activation once 5 × hint has passed',
      [authority('a', 'active'), authority('b', 'prepared', { created: T0 + 12 * H })],
      T0 + 12 * H + LEAD,
      [{ type: 'activate', kind: 'x509', id: 'b', reason: 'lead-time-passed' }],
    ],
    [
      'FED-51: a retired authority stays while what it signed is valid',
      [
        authority('a', 'retired', { signedUntil: T0 + 13 * H }),
        authority('b', 'active', { created: T0 + 12 * H }),
      ],
      T0 + 13 * H - 1,
      [],
    ],
    [
      'FED-51: removed once everything it signed expired',
      [
        authority('a', 'retired', { signedUntil: T0 + 13 * H }),
        authority('b', 'active', { created: T0 + 12 * H }),
      ],
      T0 + 13 * H,
      [{ type: 'remove', kind: 'x509', id: 'a', reason: 'signed-material-expired' }],
    ],
    [
      'a tainted authority is kept like a retired one',
      [
        authority('a', 'tainted', { signedUntil: T0 + 2 * H }),
        authority('b', 'active', { created: T0 }),
      ],
      T0 + H,
      [],
    ],
    [
      'an expired active authority is retired and removed, then a new one bootstraps',
      [authority('a', 'active')],
      T0 + 24 * H,
      [
        { type: 'retire', kind: 'x509', id: 'a', reason: 'expired' },
        { type: 'remove', kind: 'x509', id: 'a', reason: 'expired' },
        { type: 'prepare', kind: 'x509', activate: true, reason: 'bootstrap' },
      ],
    ],
    [
      'no active one but published ones (after a taint): prepare, activate only after the lead',
      [authority('a', 'tainted', { signedUntil: T0 + 2 * H })],
      T0 + H,
      [{ type: 'prepare', kind: 'x509', activate: false, reason: 'no-active-authority' }],
    ],
    [
      'no active one, a prepared one past its lead: activate it',
      [
        authority('a', 'tainted', { signedUntil: T0 + 2 * H }),
        authority('b', 'prepared', { created: T0 }),
      ],
      T0 + LEAD,
      [{ type: 'activate', kind: 'x509', id: 'b', reason: 'lead-time-passed' }],
    ],
    [
      'a revoked authority record is dropped at its notAfter',
      [authority('a', 'revoked'), authority('b', 'active', { created: T0 + 20 * H })],
      T0 + 24 * H,
      [{ type: 'remove', kind: 'x509', id: 'a', reason: 'expired' }],
    ],
  ])('%s', (_name, authorities, at, expected) => {
    expect(x509Actions(authorities, at)).toEqual(expected);
  });

  it('reports when the plan changes next', () => {
    const plan = planRotation([authority('a', 'active'), JWT_OK], config, new Date(T0 + H));
    expect(plan.nextCheckAt?.getTime()).toBe(T0 + 12 * H);
    const waiting = planRotation(
      [authority('a', 'active'), authority('b', 'prepared', { created: T0 + 12 * H }), JWT_OK],
      config,
      new Date(T0 + 12 * H + 1),
    );
    expect(waiting.nextCheckAt?.getTime()).toBe(T0 + 12 * H + LEAD);
  });

  it('removableAt: never later than notAfter, immediately when nothing was signed', () => {
    expect(removableAt(authority('a', 'retired'))).toBe(Number.NEGATIVE_INFINITY);
    expect(removableAt(authority('a', 'retired', { signedUntil: T0 + 30 * H }))).toBe(T0 + 24 * H);
  });
});
