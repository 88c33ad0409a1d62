// Offline CLI commands (issue 2): bundle inspect, svid verify, jwt validate on real certificates and tokens.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { marshalBundle } from '../../src/bundle/index.js';
import { cli } from '../helpers/cli.js';
import {
  bundleOf,
  createCa,
  createJwtKey,
  createLeaf,
  pemOf,
  type TestCert,
  type TestJwtKey,
} from '../helpers/pki.js';

const dir = mkdtempSync(join(tmpdir(), 'fedbroker-offline-'));
const file = (name: string, content: string | Buffer): string => {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
};

let caA: TestCert;
let caB: TestCert;
let leafA: TestCert;
let jwtKey: TestJwtKey;
let bundleAJson: string;
let bundleBPem: string;

beforeAll(async () => {
  caA = await createCa({ trustDomain: 'a.test' });
  caB = await createCa({ trustDomain: 'b.test' });
  leafA = await createLeaf(caA, { spiffeIds: ['spiffe://a.test/agents/one'] });
  jwtKey = await createJwtKey('ES256', 'k1');
  bundleAJson = file('a.json', marshalBundle(bundleOf('a.test', [caA], [jwtKey])));
  bundleBPem = file('b.pem', pemOf(caB));
});

describe('fedbroker bundle inspect', () => {
  it('BUNDLE-28 prints authorities and every skipped entry with its reason', async () => {
    const doc = JSON.parse(marshalBundle(bundleOf('a.test', [caA], [jwtKey])).toString()) as {
      keys: unknown[];
    };
    doc.keys.push(
      { kty: 'EC', use: 'jwt-svid', crv: 'P-256' },
      { kty: 'oct', use: 'jwt-svid', kid: 'h' },
    );
    const result = await cli([
      'bundle',
      'inspect',
      file('skips.json', JSON.stringify(doc)),
      '--trust-domain',
      'a.test',
      '--json',
    ]);
    expect(result.code).toBe(0);
    const view = JSON.parse(result.stdout) as {
      x509Authorities: unknown[];
      jwtAuthorities: { kid: string }[];
      skipped: { reason: string }[];
    };
    expect(view.x509Authorities).toHaveLength(1);
    expect(view.jwtAuthorities.map((a) => a.kid)).toEqual(['k1']);
    expect(view.skipped.map((s) => s.reason).sort()).toEqual(['kty-oct', 'missing-kid']);
  });

  it('accepts a PEM file of CA certificates', async () => {
    const result = await cli(['bundle', 'inspect', bundleBPem, '--trust-domain', 'b.test']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('x509-svid');
  });

  it.each([
    [
      'BUNDLE-14 private key member',
      '{"keys":[{"kty":"EC","use":"jwt-svid","kid":"a","crv":"P-256","x":"a","y":"b","d":"c"}]}',
      'ERR_BUNDLE_PRIVATE_KEY',
    ],
    ['BUNDLE-3 keys missing', '{"spiffe_sequence":1}', 'ERR_BUNDLE_KEYS_MISSING'],
    ['BUNDLE-7 duplicate member', '{"keys":[],"keys":[]}', 'ERR_BUNDLE_DUPLICATE_MEMBER'],
  ])('%s exits 1 with the code', async (_name, text, code) => {
    const result = await cli([
      'bundle',
      'inspect',
      file(`bad-${code}.json`, text),
      '--trust-domain',
      'a.test',
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(new RegExp(`^error ${code}: `));
  });

  it('a missing file is ERR_CLI_FILE and a missing --trust-domain a usage error', async () => {
    expect(
      (await cli(['bundle', 'inspect', join(dir, 'nope.json'), '--trust-domain', 'a.test'])).stderr,
    ).toMatch(/^error ERR_CLI_FILE/);
    expect((await cli(['bundle', 'inspect', bundleAJson])).code).toBe(2);
  });
});

describe('fedbroker svid verify', () => {
  it('X509-25 prints the SPIFFE ID when the chain verifies against its own trust domain bundle', async () => {
    const result = await cli([
      'svid',
      'verify',
      '--cert',
      file('leaf.pem', pemOf(leafA)),
      '--bundle',
      `a.test=${bundleAJson}`,
      '--bundle',
      `b.test=${bundleBPem}`,
    ]);
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toBe('spiffe://a.test/agents/one');
  });

  it('X509-25 refuses a chain when only another trust domain bundle is given', async () => {
    const result = await cli([
      'svid',
      'verify',
      '--cert',
      file('leaf2.pem', pemOf(leafA)),
      '--bundle',
      `b.test=${bundleBPem}`,
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^error ERR_SVID_NO_BUNDLE: /);
  });

  it('X509-25 refuses a leaf claiming a.test whose chain is b.test CA', async () => {
    const forged = await createLeaf(caB, { spiffeIds: ['spiffe://a.test/agents/one'] });
    const result = await cli([
      'svid',
      'verify',
      '--cert',
      file('forged.pem', pemOf(forged)),
      '--bundle',
      `a.test=${bundleAJson}`,
      '--bundle',
      `b.test=${bundleBPem}`,
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^error ERR_SVID_CHAIN_UNTRUSTED: /);
  });
});

describe('fedbroker jwt validate', () => {
  async function token(audience: string): Promise<string> {
    return new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: 'k1', typ: 'JWT' })
      .setSubject('spiffe://a.test/agents/one')
      .setAudience(audience)
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(jwtKey.privateKey);
  }

  it('JWT-24 prints sub and the claims, numbers as numbers', async () => {
    const result = await cli([
      'jwt',
      'validate',
      '--token',
      await token('reports'),
      '--audience',
      'reports',
      '--bundle',
      `a.test=${bundleAJson}`,
    ]);
    expect(result.code).toBe(0);
    const out = JSON.parse(result.stdout) as {
      sub: string;
      claims: { exp: unknown; aud: unknown };
    };
    expect(out.sub).toBe('spiffe://a.test/agents/one');
    expect(typeof out.claims.exp).toBe('number');
    expect(out.claims.aud).toBe('reports');
  });

  it('JWT-19 refuses a token for another audience', async () => {
    const result = await cli([
      'jwt',
      'validate',
      '--token',
      await token('billing'),
      '--audience',
      'reports',
      '--bundle',
      `a.test=${bundleAJson}`,
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^error ERR_SVID_JWT_AUD: /);
  });

  it('JWT-19 demands an audience (usage error)', async () => {
    const result = await cli([
      'jwt',
      'validate',
      '--token',
      await token('reports'),
      '--bundle',
      `a.test=${bundleAJson}`,
    ]);
    expect(result.code).toBe(2);
  });
});
