// Table-driven tests of the SPIFFE ID rules (ID-*), including every example of SPIFFE-RULES §1.2.
import { describe, expect, it } from 'vitest';
import { BrokerError } from '../errors.js';
import {
  parseSpiffeId,
  parseTrustDomain,
  parseTrustDomainId,
  spiffeIdFromSegments,
  spiffeIdOfTrustDomain,
} from './index.js';

const idAtLength = (length: number): string => {
  let id = 'spiffe://acme.example';
  while (id.length + 10 <= length) id += '/abcdefghi';
  id += '/' + 'x'.repeat(length - id.length - 1);
  return id;
};

describe('parseSpiffeId accepts valid IDs (§1.2 examples 1-12)', () => {
  it.each([
    ['ID-1 #1 plain trust domain and two segments', 'spiffe://acme.example/billing/api'],
    ['ID-11 #2 trust domain id', 'spiffe://acme.example'],
    [
      'ID-4 #3 underscore and hyphen in trust domain',
      'spiffe://prod_eu-1.acme.example/ns/payments/sa/ledger-writer',
    ],
    ['ID-5 #4 IPv4-shaped trust domain is an opaque name', 'spiffe://10.20.30.40/node/agent-7'],
    ['ID-10 #5 uppercase in path', 'spiffe://acme.example/Team/ReportGen'],
    ['ID-7 #6 three dots is not a dot segment', 'spiffe://acme.example/.../a'],
    ['ID-7 #7 segment starting with a dot', 'spiffe://acme.example/.well-known'],
    ['ID-3 #8 one-character trust domain', 'spiffe://a/b'],
    ['ID-5 #9 DNS label rules do not apply', 'spiffe://-acme/x'],
    ['ID-5 #10 trailing dot is a different trust domain', 'spiffe://acme.example./x'],
    ['ID-12 #11 opaque uuid path', 'spiffe://acme-example/3f2c9a1e-77b0-4d52-9c1a-0e5d2f6b8a41'],
    ['ID-9 #12 exactly 2048 bytes', idAtLength(2048)],
  ])('%s', (_name, input) => {
    const id = parseSpiffeId(input);
    expect(id.toString()).toBe(input);
    expect(input.length).toBeLessThanOrEqual(2048);
  });

  it('ID-5 keeps acme.example. and acme.example apart', () => {
    const a = parseSpiffeId('spiffe://acme.example./x');
    const b = parseSpiffeId('spiffe://acme.example/x');
    expect(a.trustDomain.name).toBe('acme.example.');
    expect(a.equals(b)).toBe(false);
    expect(a.trustDomain.equals(b.trustDomain)).toBe(false);
  });

  it('ID-11 marks the trust domain id and splits trust domain from path', () => {
    expect(parseSpiffeId('spiffe://acme.example').isTrustDomainId).toBe(true);
    const id = parseSpiffeId('spiffe://acme.example/billing/api');
    expect(id.isTrustDomainId).toBe(false);
    expect(id.trustDomain.name).toBe('acme.example');
    expect(id.path).toBe('/billing/api');
  });
});

describe('parseSpiffeId rejects invalid IDs (§1.2 examples 13-37)', () => {
  it.each([
    ['ID-1 #13 empty string', '', 'ERR_SPIFFEID_EMPTY'],
    ['ID-2 #14 upper-case scheme', 'SPIFFE://acme.example/x', 'ERR_SPIFFEID_SCHEME'],
    ['ID-2 #15 wrong scheme', 'https://acme.example/x', 'ERR_SPIFFEID_SCHEME'],
    ['ID-1 #16 no authority marker', 'spiffe:acme.example/x', 'ERR_SPIFFEID_SCHEME'],
    ['ID-3 #17 empty trust domain', 'spiffe:///x', 'ERR_SPIFFEID_TRUST_DOMAIN_EMPTY'],
    ['ID-3 trust domain missing entirely', 'spiffe://', 'ERR_SPIFFEID_TRUST_DOMAIN_EMPTY'],
    [
      'ID-4 #18 uppercase in trust domain',
      'spiffe://Acme.example/x',
      'ERR_SPIFFEID_TRUST_DOMAIN_CHAR',
    ],
    ['ID-4 #19 port', 'spiffe://acme.example:8443/x', 'ERR_SPIFFEID_TRUST_DOMAIN_CHAR'],
    ['ID-4 #20 userinfo', 'spiffe://svc@acme.example/x', 'ERR_SPIFFEID_TRUST_DOMAIN_CHAR'],
    ['ID-4 #21 IPv6 literal', 'spiffe://[2001:db8::1]/x', 'ERR_SPIFFEID_TRUST_DOMAIN_CHAR'],
    ['ID-4 #22 tilde in trust domain', 'spiffe://acme~dev/x', 'ERR_SPIFFEID_TRUST_DOMAIN_CHAR'],
    [
      'ID-4 percent-encoding in trust domain',
      'spiffe://acme%2Eexample/x',
      'ERR_SPIFFEID_TRUST_DOMAIN_CHAR',
    ],
    ['ID-4 non-ASCII trust domain', 'spiffe://exämple/x', 'ERR_SPIFFEID_TRUST_DOMAIN_CHAR'],
    [
      'ID-8 query after trust domain',
      'spiffe://acme.example?x=1',
      'ERR_SPIFFEID_TRUST_DOMAIN_CHAR',
    ],
    ['ID-8 #23 query', 'spiffe://acme.example/x?env=prod', 'ERR_SPIFFEID_PATH_CHAR'],
    ['ID-8 #24 fragment', 'spiffe://acme.example/x#main', 'ERR_SPIFFEID_PATH_CHAR'],
    [
      'ID-8 #25 percent-encoding in path',
      'spiffe://acme.example/caf%C3%A9',
      'ERR_SPIFFEID_PATH_CHAR',
    ],
    ['ID-7 #26 non-ASCII in path', 'spiffe://acme.example/café', 'ERR_SPIFFEID_PATH_CHAR'],
    ['ID-7 #27 empty segment', 'spiffe://acme.example/a//b', 'ERR_SPIFFEID_PATH_SEGMENT'],
    ['ID-7 #28 dot segment', 'spiffe://acme.example/a/./b', 'ERR_SPIFFEID_PATH_SEGMENT'],
    ['ID-7 #29 dot-dot segment', 'spiffe://acme.example/a/../b', 'ERR_SPIFFEID_PATH_SEGMENT'],
    ['ID-7 #30 dot as last segment', 'spiffe://acme.example/x/.', 'ERR_SPIFFEID_PATH_SEGMENT'],
    ['ID-7 dot-dot as last segment', 'spiffe://acme.example/x/..', 'ERR_SPIFFEID_PATH_SEGMENT'],
    ['ID-7 #31 trailing slash', 'spiffe://acme.example/a/', 'ERR_SPIFFEID_PATH_SEGMENT'],
    ['ID-7 #32 bare trailing slash', 'spiffe://acme.example/', 'ERR_SPIFFEID_PATH_SEGMENT'],
    ['ID-7 #33 colon in segment', 'spiffe://acme.example/team:blue', 'ERR_SPIFFEID_PATH_CHAR'],
    ['ID-7 #34 plus in segment', 'spiffe://acme.example/a+b', 'ERR_SPIFFEID_PATH_CHAR'],
    ['ID-7 #35 space in segment', 'spiffe://acme.example/a b', 'ERR_SPIFFEID_PATH_CHAR'],
    [
      'ID-6 #36 trust domain of 256 bytes',
      `spiffe://${'a'.repeat(256)}/x`,
      'ERR_SPIFFEID_TRUST_DOMAIN_TOO_LONG',
    ],
    ['ID-9 #37 2049-byte id', idAtLength(2049), 'ERR_SPIFFEID_TOO_LONG'],
  ])('%s', (_name, input, code) => {
    expect(() => parseSpiffeId(input)).toThrow(expect.objectContaining({ code }));
    try {
      parseSpiffeId(input);
    } catch (error) {
      expect(error).toBeInstanceOf(BrokerError);
    }
  });

  it('ID-6 accepts a trust domain of exactly 255 bytes', () => {
    expect(parseSpiffeId(`spiffe://${'a'.repeat(255)}/x`).trustDomain.name).toHaveLength(255);
  });

  it('ID-14 does not collapse dot segments or lowercase the scheme like WHATWG URL does', () => {
    expect(new URL('spiffe://td/a/../b').href).toBe('spiffe://td/b');
    expect(() => parseSpiffeId('spiffe://td/a/../b')).toThrow(
      expect.objectContaining({ code: 'ERR_SPIFFEID_PATH_SEGMENT' }),
    );
  });

  it('throws TypeError for a non-string (caller mistake, not outside input)', () => {
    expect(() => parseSpiffeId(42 as unknown as string)).toThrow(TypeError);
  });
});

describe('trust domains (ID-13)', () => {
  it('ID-13 parses a bare trust domain name', () => {
    const td = parseTrustDomain('partner.example');
    expect(td.name).toBe('partner.example');
    expect(td.idString).toBe('spiffe://partner.example');
  });

  it.each([
    [
      'ID-13 a spiffe:// form is not a bare name',
      'spiffe://partner.example',
      'ERR_SPIFFEID_TRUST_DOMAIN_CHAR',
    ],
    ['ID-3 empty name', '', 'ERR_SPIFFEID_TRUST_DOMAIN_EMPTY'],
    ['ID-4 uppercase name', 'Partner.example', 'ERR_SPIFFEID_TRUST_DOMAIN_CHAR'],
    ['ID-6 overlong name', 'a'.repeat(256), 'ERR_SPIFFEID_TRUST_DOMAIN_TOO_LONG'],
  ])('%s', (_name, input, code) => {
    expect(() => parseTrustDomain(input)).toThrow(expect.objectContaining({ code }));
  });

  it('ID-13 converts a trust domain id with an empty path', () => {
    expect(parseTrustDomainId('spiffe://partner.example').name).toBe('partner.example');
  });

  it.each([
    [
      'ID-13 a path is refused, not dropped',
      'spiffe://partner.example/x',
      'ERR_SPIFFEID_NOT_TRUST_DOMAIN_ID',
    ],
    [
      'ID-13 a trailing slash is a path',
      'spiffe://partner.example/',
      'ERR_SPIFFEID_NOT_TRUST_DOMAIN_ID',
    ],
    ['ID-2 bare name is not a trust domain id', 'partner.example', 'ERR_SPIFFEID_SCHEME'],
  ])('%s', (_name, input, code) => {
    expect(() => parseTrustDomainId(input)).toThrow(expect.objectContaining({ code }));
  });
});

describe('spiffeIdFromSegments', () => {
  const td = parseTrustDomain('acme.example');

  it('ID-7 builds an id from valid segments', () => {
    expect(spiffeIdFromSegments(td, 'agents', 'research', 'instance', 'i-1').toString()).toBe(
      'spiffe://acme.example/agents/research/instance/i-1',
    );
    expect(spiffeIdFromSegments(td).isTrustDomainId).toBe(true);
    expect(spiffeIdOfTrustDomain(td).toString()).toBe('spiffe://acme.example');
  });

  it.each([
    ['ID-7 empty segment', [''], 'ERR_SPIFFEID_PATH_SEGMENT'],
    ['ID-7 dot segment', ['a', '.'], 'ERR_SPIFFEID_PATH_SEGMENT'],
    ['ID-7 dot-dot segment', ['..'], 'ERR_SPIFFEID_PATH_SEGMENT'],
    ['ID-7 slash inside a segment', ['a/b'], 'ERR_SPIFFEID_PATH_CHAR'],
    ['ID-8 percent inside a segment', ['a%20b'], 'ERR_SPIFFEID_PATH_CHAR'],
    ['ID-9 result over 2048 bytes', ['x'.repeat(2100)], 'ERR_SPIFFEID_TOO_LONG'],
  ])('%s', (_name, segments, code) => {
    expect(() => spiffeIdFromSegments(td, ...segments)).toThrow(expect.objectContaining({ code }));
  });
});
