// Matcher tests (ID-10, ID-12): exact string equality and segment-bounded prefixes.
import { describe, expect, it } from 'vitest';
import {
  matchId,
  matchMemberOf,
  matchOneOf,
  matchPathPrefix,
  parseSpiffeId,
  parseTrustDomain,
} from './index.js';

const id = parseSpiffeId;

describe('matchers', () => {
  it('ID-10 matchId compares the exact spelling (path is case-sensitive)', () => {
    const m = matchId(id('spiffe://acme.example/Team/a'));
    expect(m(id('spiffe://acme.example/Team/a'))).toBe(true);
    expect(m(id('spiffe://acme.example/team/a'))).toBe(false);
  });

  it('ID-10 matchOneOf accepts members of the set only', () => {
    const m = matchOneOf(id('spiffe://a.example/x'), id('spiffe://b.example/y'));
    expect(m(id('spiffe://b.example/y'))).toBe(true);
    expect(m(id('spiffe://b.example/x'))).toBe(false);
  });

  it('ID-12 matchMemberOf checks trust domain membership only', () => {
    const m = matchMemberOf(parseTrustDomain('acme.example'));
    expect(m(id('spiffe://acme.example/anything/here'))).toBe(true);
    expect(m(id('spiffe://acme.example./x'))).toBe(false);
    expect(m(id('spiffe://evil-acme.example/x'))).toBe(false);
  });

  it.each([
    ['ID-12 the prefix itself', 'spiffe://acme.example/ns/a', true],
    ['ID-12 a child on a segment boundary', 'spiffe://acme.example/ns/a/x', true],
    ['ID-12 a sibling sharing characters is refused', 'spiffe://acme.example/ns/ab', false],
    [
      'ID-12 another trust domain with the same path is refused',
      'spiffe://acme.example.evil/ns/a/x',
      false,
    ],
  ])('%s', (_name, candidate, expected) => {
    expect(matchPathPrefix(id('spiffe://acme.example/ns/a'))(id(candidate))).toBe(expected);
  });
});
