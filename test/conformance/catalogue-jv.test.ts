// SPIFFE SDK conformance catalogue §6.1 (JV, JWT-SVID validation) against our harness's
// /v1/jwt/validate: tokens are ES256, aud ["conformance"], 5-minute exp and a kid in the bundle
// unless a case says otherwise; every negative case runs a positive control first (§2.1).
import { createHmac, generateKeyPairSync, sign as cryptoSign } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJwtKey, type TestJwtKey } from '../helpers/pki.js';
import {
  AUDIENCE,
  FED,
  TD,
  b64u,
  claims,
  craft,
  ecdsa,
  jwkOf,
  jwtMessage,
  mint,
  startWorld,
  type World,
} from './fixtures.js';
import { expectAccepted, expectRejected } from './jwt-validate.js';

const SUB = `spiffe://${TD}/workload`;
const ed = generateKeyPairSync('ed25519');
let world: World;
let keys: Record<'es256' | 'es384' | 'es512' | 'rsa' | 'pss' | 'fed' | 'stranger', TestJwtKey>;
let good: { token: string; sub: string };

beforeAll(async () => {
  keys = {
    es256: await createJwtKey('ES256', 'es256'),
    es384: await createJwtKey('ES384', 'es384'),
    es512: await createJwtKey('ES512', 'es512'),
    rsa: await createJwtKey('RS256', 'rsa'),
    pss: await createJwtKey('PS256', 'pss'),
    fed: await createJwtKey('ES256', 'fed'),
    stranger: await createJwtKey('ES256', 'unknown'),
  };
  const local = [keys.es256, keys.es384, keys.es512, keys.rsa, keys.pss].map((key) => jwkOf(key));
  const edJwk = { ...ed.publicKey.export({ format: 'jwk' }), kid: 'ed', use: 'jwt-svid' };
  world = await startWorld({
    jwtBundles: jwtMessage({ [TD]: [...local, edJwk], [FED]: [jwkOf(keys.fed)] }),
  });
  good = { token: await mint(keys.es256, SUB), sub: SUB };
}, 60_000);

afterAll(async () => {
  await world?.stop();
});

const rejects = (token: string) => expectRejected(world.ports, good, token);
const es256Header = (extra: Record<string, unknown> = {}) => ({
  alg: 'ES256',
  kid: 'es256',
  typ: 'JWT',
  ...extra,
});
const signEs256 = (header: Record<string, unknown>, payload: Record<string, unknown>) =>
  craft(header, payload, ecdsa(keys.es256.privateKey));

describe('catalogue §6.1 JV: JWT-SVID validation (MUST)', () => {
  it('JV-1: accepts a valid token and returns sub as the SPIFFE ID (positive control)', async () => {
    await expectAccepted(world.ports, good.token, SUB);
  });

  const algs = ['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512'];
  it.each(algs)('JV-2/%s: accepts every supported alg', async (alg) => {
    const key = alg.startsWith('RS')
      ? keys.rsa
      : alg.startsWith('PS')
        ? keys.pss
        : alg === 'ES256'
          ? keys.es256
          : alg === 'ES384'
            ? keys.es384
            : keys.es512;
    await expectAccepted(world.ports, await mint(key, SUB, { alg }), SUB);
  });

  it('JV-3: rejects alg none', async () => {
    const header = b64u(JSON.stringify({ alg: 'none', kid: 'es256', typ: 'JWT' }));
    await rejects(`${header}.${b64u(JSON.stringify(claims(SUB)))}.`);
  });

  it.each(['HS256', 'HS384', 'HS512'])(
    'JV-4/%s: rejects HMAC, keyed with the bundle key PEM (algorithm confusion)',
    async (alg) => {
      const secret = keys.es256.publicKey.export({ format: 'pem', type: 'spki' });
      const hash = `sha${alg.slice(2)}`;
      const token = craft({ alg, kid: 'es256', typ: 'JWT' }, claims(SUB), (data) =>
        createHmac(hash, secret).update(data).digest(),
      );
      await rejects(token);
    },
  );

  it('JV-5: rejects an asymmetric alg outside the list (EdDSA) though its key is in the bundle', async () => {
    const token = craft({ alg: 'EdDSA', kid: 'ed', typ: 'JWT' }, claims(SUB), (data) =>
      cryptoSign(null, data, ed.privateKey),
    );
    await rejects(token);
  });

  it('JV-6/RS256-with-EC-kid: rejects an alg that does not match the key type', async () => {
    const token = craft({ alg: 'RS256', kid: 'es256', typ: 'JWT' }, claims(SUB), (data) =>
      cryptoSign('sha256', data, keys.rsa.privateKey),
    );
    await rejects(token);
  });

  it('JV-6/ES384-with-P-256-kid: rejects an alg that does not match the key curve', async () => {
    const token = craft(
      { alg: 'ES384', kid: 'es256', typ: 'JWT' },
      claims(SUB),
      ecdsa(keys.es256.privateKey, 'sha384'),
    );
    await rejects(token);
  });

  it('JV-7: rejects a token without aud', async () => {
    const { aud: _aud, ...noAud } = claims(SUB);
    await rejects(await mint(keys.es256, SUB, { claims: noAud }));
  });

  it("JV-8: rejects a token whose aud does not contain the validator's audience", async () => {
    await rejects(await mint(keys.es256, SUB, { claims: claims(SUB, { aud: ['other'] }) }));
  });

  it("JV-9: accepts an aud array holding the validator's audience among others", async () => {
    const token = await mint(keys.es256, SUB, {
      claims: claims(SUB, { aud: ['other', AUDIENCE] }),
    });
    await expectAccepted(world.ports, token, SUB);
  });

  it('JV-10: accepts aud as a single string', async () => {
    const token = await mint(keys.es256, SUB, { claims: claims(SUB, { aud: AUDIENCE }) });
    await expectAccepted(world.ports, token, SUB);
  });

  it('JV-11: rejects a token without exp', async () => {
    const { exp: _exp, ...noExp } = claims(SUB);
    await rejects(await mint(keys.es256, SUB, { claims: noExp }));
  });

  it('JV-12: rejects an expired token (exp = now - 5 min)', async () => {
    const now = Math.floor(Date.now() / 1000);
    await rejects(
      await mint(keys.es256, SUB, { claims: claims(SUB, { iat: now - 600, exp: now - 300 }) }),
    );
  });

  it('JV-13: rejects a token whose nbf is in the future (now + 5 min)', async () => {
    const now = Math.floor(Date.now() / 1000);
    await rejects(await mint(keys.es256, SUB, { claims: claims(SUB, { nbf: now + 300 }) }));
  });

  it('JV-14: rejects a token with a tampered signature (one bit flipped)', async () => {
    const [header, payload, signature = ''] = good.token.split('.');
    const bytes = Buffer.from(signature, 'base64url');
    bytes[10] = (bytes[10] as number) ^ 0x01;
    await rejects(`${header}.${payload}.${b64u(bytes)}`);
  });

  it('JV-15: rejects a token with a tampered payload (sub changed, original signature)', async () => {
    const [header, , signature] = good.token.split('.');
    const payload = b64u(JSON.stringify(claims(`spiffe://${TD}/admin`)));
    await rejects(`${header}.${payload}.${signature}`);
  });

  it('JV-16: rejects a token signed by a key that is not in the bundle (unknown kid)', async () => {
    await rejects(await mint(keys.stranger, SUB));
  });

  it("JV-17: rejects a sub in trust domain B signed by trust domain A's key", async () => {
    await expectAccepted(
      world.ports,
      await mint(keys.fed, `spiffe://${FED}/w`),
      `spiffe://${FED}/w`,
    );
    await rejects(await mint(keys.es256, `spiffe://${FED}/w`));
  });

  it('JV-18: rejects a token whose sub trust domain has no bundle', async () => {
    await rejects(await mint(keys.es256, 'spiffe://nobundle.example.org/w'));
  });

  it('JV-19: rejects a token whose sub is not a SPIFFE ID', async () => {
    await rejects(await mint(keys.es256, `https://${TD}/workload`));
  });

  it.each([['JWT'], ['JOSE'], [null]])('JV-20/%s: accepts typ JWT, JOSE or none', async (typ) => {
    await expectAccepted(world.ports, await mint(keys.es256, SUB, { typ }), SUB);
  });

  it('JV-21: rejects any other typ value', async () => {
    await rejects(await mint(keys.es256, SUB, { typ: 'at+jwt' }));
  });

  it('JV-22: accepts a token without kid', async () => {
    await expectAccepted(world.ports, await mint(keys.es256, SUB, { kid: null }), SUB);
  });

  it('JV-23: rejects a token with an unknown crit header', async () => {
    await rejects(signEs256(es256Header({ crit: ['x-cts'], 'x-cts': true }), claims(SUB)));
  });

  it('JV-24: rejects JWS JSON serialization', async () => {
    const [header, payload, signature] = good.token.split('.');
    await rejects(JSON.stringify({ protected: header, payload, signature }));
  });

  const parts = () => good.token.split('.');
  it.each([
    ['two-parts', () => parts().slice(0, 2).join('.')],
    ['four-parts', () => `${good.token}.${parts()[2]}`],
    ['bad-base64url', () => [`${parts()[0]}*`, ...parts().slice(1)].join('.')],
    ['bad-json', () => [b64u('{"alg":"ES256","kid":'), ...parts().slice(1)].join('.')],
  ])('JV-25/%s: rejects a malformed compact token', async (_name, token) => {
    await rejects(token());
  });

  it('§2.4: validation is not delegated (no ValidateJWTSVID call)', () => {
    expect(world.api.callsOf('ValidateJWTSVID')).toEqual([]);
    expect(world.api.callsOf('FetchJWTBundles').length).toBeGreaterThan(0);
  });
});
