// Unit tests for URI / DNS / IP name constraint matching (X509-26, RFC 5280 §4.2.1.10).
import { describe, expect, it } from 'vitest';
import type { GeneralName, NameConstraints } from './cert-extensions.js';
import { findNameConstraintViolation, isFullySupported, uriHost } from './name-constraints.js';

const uri = (v: string): GeneralName => ({ tag: 6, value: Buffer.from(v) });
const dns = (v: string): GeneralName => ({ tag: 2, value: Buffer.from(v) });
const ip = (...bytes: number[]): GeneralName => ({ tag: 7, value: Buffer.from(bytes) });
const email = (v: string): GeneralName => ({ tag: 1, value: Buffer.from(v) });

function nc(permitted: GeneralName[], excluded: GeneralName[] = []): NameConstraints {
  return { permitted, excluded, hasDistanceFields: false };
}

describe('uriHost', () => {
  it.each([
    ['spiffe://a.example/w', 'a.example'],
    ['spiffe://a.example', 'a.example'],
    ['https://user@host.example:8443/x?y#z', 'host.example'],
    ['urn:x:y', undefined],
    ['spiffe:///path', undefined],
    ['https://[::1]/x', undefined],
  ])('%s -> %s', (input, host) => {
    expect(uriHost(input)).toBe(host);
  });
});

describe('findNameConstraintViolation', () => {
  it.each([
    ['URI exact host permitted', [uri('spiffe://a.example/w')], nc([uri('a.example')]), undefined],
    [
      'URI host is case-insensitive',
      [uri('spiffe://a.example/w')],
      nc([uri('A.EXAMPLE')]),
      undefined,
    ],
    [
      'URI subdomain needs a leading dot',
      [uri('spiffe://x.a.example/w')],
      nc([uri('a.example')]),
      'spiffe://x.a.example/w',
    ],
    [
      'URI leading dot matches subdomains',
      [uri('spiffe://x.a.example/w')],
      nc([uri('.a.example')]),
      undefined,
    ],
    [
      'URI leading dot excludes the domain itself',
      [uri('spiffe://a.example/w')],
      nc([uri('.a.example')]),
      'spiffe://a.example/w',
    ],
    [
      'URI excluded',
      [uri('spiffe://a.example/w')],
      nc([], [uri('a.example')]),
      'spiffe://a.example/w',
    ],
    [
      'URI without host under a URI constraint',
      [uri('urn:a:b')],
      nc([], [uri('x.example')]),
      'urn:a:b',
    ],
    [
      'URI with IP host under a URI constraint',
      [uri('spiffe://10.0.0.1/w')],
      nc([uri('10.0.0.1')]),
      'spiffe://10.0.0.1/w',
    ],
    ['DNS exact', [dns('a.example')], nc([dns('a.example')]), undefined],
    [
      'DNS subdomain of a plain constraint',
      [dns('x.a.example')],
      nc([dns('a.example')]),
      undefined,
    ],
    ['DNS label boundary', [dns('bada.example')], nc([dns('a.example')]), 'bada.example'],
    ['DNS leading dot', [dns('x.a.example')], nc([dns('.a.example')]), undefined],
    [
      'DNS excluded wins over permitted',
      [dns('x.a.example')],
      nc([dns('a.example')], [dns('x.a.example')]),
      'x.a.example',
    ],
    ['IPv4 in range', [ip(10, 1, 2, 3)], nc([ip(10, 0, 0, 0, 255, 0, 0, 0)]), undefined],
    ['IPv4 out of range', [ip(11, 1, 2, 3)], nc([ip(10, 0, 0, 0, 255, 0, 0, 0)]), '11.1.2.3'],
    [
      'names of other types are not constrained',
      [dns('z.example')],
      nc([uri('a.example')]),
      undefined,
    ],
    ['unsupported name forms are skipped', [email('a@b')], nc([dns('a.example')]), undefined],
  ])('%s', (_name, names, constraints, violation) => {
    expect(findNameConstraintViolation(names, constraints)).toBe(violation);
  });

  it('IPv6 constraint does not match an IPv4 name', () => {
    const v6 = ip(...new Array<number>(16).fill(0), ...new Array<number>(16).fill(0));
    expect(findNameConstraintViolation([ip(10, 0, 0, 1)], nc([v6]))).toBe('10.0.0.1');
  });
});

describe('isFullySupported', () => {
  it('accepts URI, DNS and IP; refuses other forms and distance fields', () => {
    expect(isFullySupported(nc([uri('a'), dns('b'), ip(1, 2, 3, 4, 255, 255, 255, 255)]))).toBe(
      true,
    );
    expect(isFullySupported(nc([email('a@b')]))).toBe(false);
    expect(isFullySupported({ ...nc([uri('a')]), hasDistanceFields: true })).toBe(false);
  });
});
