import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isBrokerError } from '../errors.js';
import { parseSpiffeId, parseTrustDomain } from '../spiffeid/index.js';
import {
  fillIdPattern,
  idPatternsOverlap,
  matchIdPattern,
  newInstanceId,
  parseIdPattern,
} from './template.js';

const td = parseTrustDomain('logistics.example');

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return isBrokerError(error) ? error.code : `not a broker error: ${String(error)}`;
  }
  return undefined;
}

describe('ID patterns for registration entries', () => {
  it('ID-7/ID-12: a template fills its placeholder with one fresh path segment per instance', () => {
    const pattern = parseIdPattern(
      'spiffe://logistics.example/agents/research/instance/{instance}',
      td,
    );
    const a = newInstanceId(randomBytes);
    const b = newInstanceId(randomBytes);
    expect(a).not.toBe(b);
    const id = fillIdPattern(pattern, a);
    expect(id.toString()).toBe(`spiffe://logistics.example/agents/research/instance/${a}`);
    expect(matchIdPattern(pattern, id)).toEqual({ instanceId: a });
    expect(
      matchIdPattern(
        pattern,
        parseSpiffeId('spiffe://logistics.example/agents/research/instance/x/y'),
      ),
    ).toBeUndefined();
    expect(
      matchIdPattern(pattern, parseSpiffeId('spiffe://logistics.example/agents/research/instance')),
    ).toBeUndefined();
  });

  it('ID-12: the placeholder must be a whole path segment, exactly once, in the path', () => {
    for (const bad of [
      'spiffe://logistics.example/agents/a{instance}',
      'spiffe://logistics.example/agents/{instance}b',
      'spiffe://logistics.example/{instance}/{instance}',
      'spiffe://{instance}/agents',
    ]) {
      expect(
        code(() => parseIdPattern(bad, td)),
        bad,
      ).toBe('ERR_REGISTRATION_ENTRY_INVALID');
    }
  });

  it('ID-11: the trust domain ID and other trust domains are refused; reserved IDs cannot be granted', () => {
    expect(code(() => parseIdPattern('spiffe://logistics.example', td))).toBe(
      'ERR_REGISTRATION_ENTRY_INVALID',
    );
    expect(code(() => parseIdPattern('spiffe://shipping.example/agent', td))).toBe(
      'ERR_REGISTRATION_ENTRY_INVALID',
    );
    expect(code(() => parseIdPattern('spiffe://logistics.example/a/../b', td))).toBe(
      'ERR_REGISTRATION_ENTRY_INVALID',
    );
    const reserved = [parseSpiffeId('spiffe://logistics.example/spiffe/bundle-endpoint')];
    expect(
      code(() => parseIdPattern('spiffe://logistics.example/spiffe/{instance}', td, reserved)),
    ).toBe('ERR_REGISTRATION_ENTRY_INVALID');
    expect(
      code(() => parseIdPattern('spiffe://logistics.example/spiffe/bundle-endpoint', td, reserved)),
    ).toBe('ERR_REGISTRATION_ENTRY_INVALID');
    expect(
      code(() => parseIdPattern('spiffe://logistics.example/spiffe/other', td, reserved)),
    ).toBeUndefined();
  });

  it('overlapping patterns are detected so the entry behind an SVID is never ambiguous', () => {
    const p = (text: string) => parseIdPattern(text, td);
    expect(
      idPatternsOverlap(
        p('spiffe://logistics.example/a/{instance}'),
        p('spiffe://logistics.example/a/b'),
      ),
    ).toBe(true);
    expect(
      idPatternsOverlap(
        p('spiffe://logistics.example/a/{instance}'),
        p('spiffe://logistics.example/{instance}/b'),
      ),
    ).toBe(true);
    expect(
      idPatternsOverlap(
        p('spiffe://logistics.example/a/{instance}'),
        p('spiffe://logistics.example/a/b/c'),
      ),
    ).toBe(false);
    expect(
      idPatternsOverlap(p('spiffe://logistics.example/a/b'), p('spiffe://logistics.example/a/c')),
    ).toBe(false);
  });

  it('fillIdPattern refuses an instance id that is not one valid segment', () => {
    const pattern = parseIdPattern('spiffe://logistics.example/a/{instance}', td);
    expect(() => fillIdPattern(pattern, 'x/y')).toThrow(TypeError);
    expect(() => fillIdPattern(pattern, '..')).toThrow(TypeError);
    expect(() => fillIdPattern(pattern, undefined)).toThrow(TypeError);
  });
});
