// Relationship validation and lifecycle tests (FED-1..4, ID-15): pending until approved, explicit parameters.
import { describe, expect, it } from 'vitest';
import { parseTrustDomain } from '../spiffeid/index.js';
import {
  approvalsOf,
  createRelationship,
  isTrusted,
  transitionRelationship,
  type Relationship,
  type RelationshipInput,
} from './relationship.js';

const own = parseTrustDomain('a.test');
const ctx = { ownTrustDomain: own, source: 'api' as const, actor: 'admin', nowMs: 1000 };
const web: RelationshipInput = {
  trustDomain: 'b.test',
  url: 'https://b.test/bundle',
  profile: 'https_web',
};
const spiffe: RelationshipInput = {
  trustDomain: 'b.test',
  url: 'https://127.0.0.1:8443/',
  profile: 'https_spiffe',
  endpointSpiffeId: 'spiffe://b.test/spiffe/bundle-endpoint',
  bootstrapBundle: '{"keys":[]}',
};

describe('createRelationship', () => {
  it('FED-1 an https_web relationship needs only trust domain, URL and profile; it starts pending', () => {
    const r = createRelationship(web, ctx);
    expect(r.state).toBe('pending');
    expect(isTrusted(r)).toBe(false);
    expect(r.transitions).toEqual([
      { action: 'create', from: null, to: 'pending', actor: 'admin', atMs: 1000, reason: '' },
    ]);
  });

  it('FED-1 an https_spiffe relationship keeps endpoint ID and bootstrap bundle', () => {
    const r = createRelationship(spiffe, ctx);
    expect(r.endpointSpiffeId).toBe('spiffe://b.test/spiffe/bundle-endpoint');
    expect(r.bootstrapBundle).toBe('{"keys":[]}');
  });

  it('static configuration relationships are active at start', () => {
    expect(createRelationship(web, { ...ctx, source: 'config' }).state).toBe('active');
  });

  it.each([
    [
      'ID-15 our own trust domain',
      { ...web, trustDomain: 'a.test' },
      'ERR_FEDERATION_OWN_TRUST_DOMAIN',
    ],
    [
      'ID-13 a spiffe:// trust domain instead of a bare name',
      { ...web, trustDomain: 'spiffe://b.test' },
      'ERR_SPIFFEID_TRUST_DOMAIN_CHAR',
    ],
    ['FED-4 http URL', { ...web, url: 'http://b.test/' }, 'ERR_FEDERATION_URL'],
    ['FED-4 userinfo in URL', { ...web, url: 'https://user:pw@b.test/' }, 'ERR_FEDERATION_URL'],
    ['FED-4 not a URL', { ...web, url: 'b.test/bundle' }, 'ERR_FEDERATION_URL'],
    [
      'FED-1 https_spiffe without endpoint ID',
      { ...spiffe, endpointSpiffeId: undefined },
      'ERR_FEDERATION_RELATIONSHIP_INVALID',
    ],
    [
      'FED-1 self-serving https_spiffe without bootstrap bundle',
      { ...spiffe, bootstrapBundle: undefined },
      'ERR_FEDERATION_RELATIONSHIP_INVALID',
    ],
    [
      'FED-2 https_web with an endpoint ID',
      { ...web, endpointSpiffeId: 'spiffe://b.test/x' },
      'ERR_FEDERATION_RELATIONSHIP_INVALID',
    ],
    [
      'FED-2 unknown profile',
      { ...web, profile: 'https' as 'https_web' },
      'ERR_FEDERATION_RELATIONSHIP_INVALID',
    ],
    [
      'FED-1 X509-2 an endpoint SPIFFE ID without a path (no SVID can carry it)',
      { ...spiffe, endpointSpiffeId: 'spiffe://b.test' },
      'ERR_FEDERATION_RELATIONSHIP_INVALID',
    ],
    [
      'ID-7 invalid endpoint SPIFFE ID',
      { ...spiffe, endpointSpiffeId: 'spiffe://b.test/a/../b' },
      'ERR_SPIFFEID_PATH_SEGMENT',
    ],
  ])('refuses %s', (_name, input, code) => {
    expect(() => createRelationship(input as RelationshipInput, ctx)).toThrow(
      expect.objectContaining({ code }),
    );
  });
});

describe('transitionRelationship', () => {
  const pending = createRelationship(web, ctx);
  const at = { actor: 'ops@a.test', nowMs: 2000, reason: 'contract signed' };

  it('approve makes a pending relationship active and records who, when and why', () => {
    const active = transitionRelationship(pending, 'approve', at);
    expect(active.state).toBe('active');
    expect(isTrusted(active)).toBe(true);
    expect(active.transitions.at(-1)).toEqual({
      action: 'approve',
      from: 'pending',
      to: 'active',
      ...{ actor: 'ops@a.test', atMs: 2000, reason: 'contract signed' },
    });
  });

  it('suspend and resume toggle trust', () => {
    const suspended = transitionRelationship(
      transitionRelationship(pending, 'approve', at),
      'suspend',
      at,
    );
    expect(isTrusted(suspended)).toBe(false);
    expect(isTrusted(transitionRelationship(suspended, 'resume', at))).toBe(true);
  });

  it.each([
    ['resume a pending relationship', pending, 'resume'],
    ['suspend a pending relationship', pending, 'suspend'],
    ['approve a rejected relationship', transitionRelationship(pending, 'reject', at), 'approve'],
    [
      'approve an active relationship twice',
      transitionRelationship(pending, 'approve', at),
      'approve',
    ],
  ] as const)(
    'refuses to %s (ERR_FEDERATION_TRANSITION)',
    (_name, relationship: Relationship, action) => {
      expect(() => transitionRelationship(relationship, action, at)).toThrow(
        expect.objectContaining({ code: 'ERR_FEDERATION_TRANSITION' }),
      );
    },
  );
});

describe('two-person approval (issue 19, FED-3: every approval recorded)', () => {
  const pending = createRelationship(web, ctx);
  const by = (actor: string) => ({
    actor,
    nowMs: 3000,
    reason: `ok by ${actor}`,
    requiredApprovals: 2,
  });

  it('the first approval of 2 stays pending and is counted; a different second one activates', () => {
    const once = transitionRelationship(pending, 'approve', by('admin:alice'));
    expect(once.state).toBe('pending');
    expect(approvalsOf(once).map((a) => [a.actor, a.reason])).toEqual([
      ['admin:alice', 'ok by admin:alice'],
    ]);
    const twice = transitionRelationship(once, 'approve', by('admin:bob'));
    expect(twice.state).toBe('active');
    expect(approvalsOf(twice)).toHaveLength(2);
  });

  it.each([
    ['the same admin twice', 'approve', 'admin:alice', 'ERR_FEDERATION_APPROVAL_REPEATED'],
    ['suspend while approvals are collected', 'suspend', 'admin:bob', 'ERR_FEDERATION_TRANSITION'],
  ] as const)('refuses %s', (_what, action, actor, code) => {
    const once = transitionRelationship(pending, 'approve', by('admin:alice'));
    let thrown: unknown;
    try {
      transitionRelationship(once, action, by(actor));
    } catch (error) {
      thrown = error;
    }
    expect((thrown as { code?: string }).code).toBe(code);
  });

  it('a reject by anyone ends it, whatever approvals were collected', () => {
    const once = transitionRelationship(pending, 'approve', by('admin:alice'));
    expect(transitionRelationship(once, 'reject', by('admin:alice')).state).toBe('rejected');
  });
});
