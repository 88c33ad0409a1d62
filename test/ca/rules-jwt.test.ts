// SPIFFE-RULES JWT-2, -3, -4, -6 and BUNDLE-34 on what the CA really mints: the JWS header, the alg
// for each key type, the kid as published in our bundle through a rotation, and validation against
// our bundle as it travels on the wire (use "jwt-svid"), where a generic JWKS library finds no key.
import { createPublicKey, verify, type JsonWebKey } from 'node:crypto';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { marshalBundle, parseBundle } from '../../src/bundle/index.js';
import { activationLeadMs, type Ca } from '../../src/ca/index.js';
import { validateJwtSvid } from '../../src/svid/index.js';
import { codeOf } from '../helpers/error-code.js';
import { openCa, testClock, TD, type TestClock } from './support.js';

const ID = `spiffe://${TD}/w`;

function headerOf(token: string): Record<string, unknown> {
  const [header = ''] = token.split('.');
  return JSON.parse(Buffer.from(header, 'base64url').toString('utf8')) as Record<string, unknown>;
}

/** Our bundle as a partner receives it: marshalled to SPIFFE JSON and parsed back. */
function wireBundle(ca: Ca) {
  return parseBundle(marshalBundle(ca.localBundle()), ca.trustDomain);
}

function validate(token: string, ca: Ca, clock: TestClock): string {
  return validateJwtSvid(token, wireBundle(ca), {
    audience: 'api',
    now: clock.now(),
  }).spiffeId.toString();
}

describe('JWT-SVID header (JWT-2, JWT-3, JWT-4)', () => {
  it.each(['ec-p256', 'ec-p384', 'rsa-2048'] as const)(
    'JWT-2: a %s key mints a header of exactly alg, kid and typ "JWT"',
    async (jwtKeyType) => {
      const ca = await openCa(testClock(), { jwtKeyType });
      const { token } = await ca.issueJwtSvid({ spiffeId: ID, audience: ['api'] });
      const header = headerOf(token);
      expect(Object.keys(header)).toEqual(['alg', 'kid', 'typ']);
      expect(header['typ']).toBe('JWT');
      await ca.close();
    },
  );

  it.each([
    ['ec-p256', 'ES256', 'P-256'],
    ['ec-p384', 'ES384', 'P-384'],
    ['rsa-2048', 'RS256', 'RSA'],
  ] as const)(
    'JWT-3: a %s key signs with alg %s, verified with the published %s key',
    async (jwtKeyType, alg, crv) => {
      const clock = testClock();
      const ca = await openCa(clock, { jwtKeyType });
      const { token, kid } = await ca.issueJwtSvid({ spiffeId: ID, audience: ['api'] });
      expect(headerOf(token)['alg']).toBe(alg);
      const jwk = ca.localBundle().jwtAuthorities.get(kid)?.jwk;
      if (alg !== 'RS256') expect(jwk?.crv).toBe(crv);
      else {
        expect(Buffer.from(jwk?.n ?? '', 'base64url').length * 8).toBeGreaterThanOrEqual(2048);
      }
      const [h, p, s = ''] = token.split('.');
      const ok = verify(
        alg === 'ES384' ? 'sha384' : 'sha256',
        Buffer.from(`${h}.${p}`),
        {
          key: createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' }),
          dsaEncoding: 'ieee-p1363',
        },
        Buffer.from(s, 'base64url'),
      );
      expect(ok).toBe(true);
      expect(validate(token, ca, clock)).toBe(ID);
      await ca.close();
    },
  );

  it('JWT-3: the CA refuses a JWT key type outside the allowed list (no RSA below 2048 bits)', async () => {
    const code = await codeOf(
      openCa(testClock(), { jwtKeyType: 'rsa-1024' as unknown as 'rsa-2048' }),
    );
    expect(code).toBe('ERR_CA_CONFIG');
  });

  it('JWT-4: every token carries a kid equal to the kid of a jwt-svid key in our published bundle', async () => {
    const clock = testClock();
    const ca = await openCa(clock);
    const published = JSON.parse(marshalBundle(ca.localBundle()).toString('utf8')) as {
      keys: { use: string; kid?: string }[];
    };
    const publishedKids = published.keys.filter((k) => k.use === 'jwt-svid').map((k) => k.kid);
    const { token, kid } = await ca.issueJwtSvid({ spiffeId: ID, audience: ['api'] });
    expect(typeof headerOf(token)['kid']).toBe('string');
    expect(headerOf(token)['kid']).toBe(kid);
    expect(publishedKids).toEqual([kid]);
    await ca.close();
  });
});

describe('JWT-6: a signing key is published before its first token', () => {
  it('JWT-6: a new key is in the bundle partners fetched before its first token, which that bundle validates', async () => {
    const clock = testClock();
    const ca = await openCa(clock);
    const first = await ca.issueJwtSvid({ spiffeId: ID, audience: ['api'] });
    expect(validate(first.token, ca, clock)).toBe(ID);
    // A new key is prepared: published at once, but it signs nothing yet.
    const next = await ca.prepare('jwt');
    const fetchedByPartners = wireBundle(ca);
    expect(fetchedByPartners.jwtAuthorities.has(next.id)).toBe(true);
    const stillOld = await ca.issueJwtSvid({ spiffeId: ID, audience: ['api'] });
    expect(stillOld.kid).toBe(first.kid);
    // Activating it before partners could have fetched it is refused (FED-50 lead time).
    expect(await codeOf(ca.activate('jwt', next.id))).toBe('ERR_CA_ACTIVATION_TOO_EARLY');
    clock.advanceMs(activationLeadMs(ca.rotationConfig));
    await ca.activate('jwt', next.id);
    const fresh = await ca.issueJwtSvid({ spiffeId: ID, audience: ['api'] });
    expect(fresh.kid).toBe(next.id);
    expect(validate(fresh.token, ca, clock)).toBe(ID);
    // A partner still holding the bundle it fetched before the activation validates the first token.
    const atPartner = validateJwtSvid(fresh.token, fetchedByPartners, {
      audience: 'api',
      now: clock.now(),
    });
    expect(atPartner.spiffeId.toString()).toBe(ID);
    await ca.close();
  });
});

describe('BUNDLE-34: JWT-SVID keys are resolved by our validator, not a generic JWKS library', () => {
  it('BUNDLE-34: a minted token validates against our wire bundle; jose createLocalJWKSet finds no key there', async () => {
    const clock = testClock();
    const ca = await openCa(clock);
    const { token } = await ca.issueJwtSvid({ spiffeId: ID, audience: ['api'] });
    expect(validate(token, ca, clock)).toBe(ID);
    const jwks = JSON.parse(marshalBundle(ca.localBundle()).toString('utf8')) as {
      keys: { use: string }[];
    };
    const jwtKeys = { keys: jwks.keys.filter((k) => k.use === 'jwt-svid') };
    expect(jwtKeys.keys).toHaveLength(1);
    const jose = jwtVerify(token, createLocalJWKSet(jwtKeys as never), {
      currentDate: clock.now(),
    });
    await expect(jose).rejects.toMatchObject({ code: 'ERR_JWKS_NO_MATCHING_KEY' });
    await ca.close();
  });
});
