// What an attacker (or a careless caller) tries against the issuing CA: CSRs asking for more than a
// workload may have, forged CSRs, foreign IDs, and tokens from tainted or revoked keys.
import { X509Certificate } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { validateJwtSvid, verifyX509Svid } from '../../src/svid/index.js';
import {
  newEcKey,
  openCa,
  opensslCsr,
  opensslText,
  opensslVerify,
  removeTempDirs,
  testClock,
  TD,
} from './support.js';

afterAll(removeTempDirs);

const ID = `spiffe://${TD}/workload`;

function decodePart(token: string, index: number): unknown {
  return JSON.parse(Buffer.from(token.split('.')[index] ?? '', 'base64url').toString('utf8'));
}

describe('CSR contents are never trusted (X509-1..8)', () => {
  it.each([
    ['CA:TRUE', ['basicConstraints=critical,CA:TRUE,pathlen:3']],
    ['keyCertSign + cRLSign', ['keyUsage=critical,keyCertSign,cRLSign,digitalSignature']],
    [
      'extra URI SANs and another SPIFFE ID',
      [`subjectAltName=URI:spiffe://${TD}/admin,URI:spiffe://evil.example/x,DNS:evil.example`],
    ],
    ['codeSigning EKU', ['extendedKeyUsage=codeSigning']],
  ])('a CSR asking for %s gets a normal leaf with only our ID', async (_name, addext) => {
    const clock = testClock();
    const ca = await openCa(clock);
    const csr = opensslCsr({ subject: `/CN=spiffe:\\/\\/${TD}\\/admin/O=evil`, addext });
    const svid = await ca.issueX509Svid({ spiffeId: ID, csr });
    const text = opensslText(svid.chainDer[0] as Buffer);
    expect(text).toContain('CA:FALSE');
    expect(text).not.toContain('CA:TRUE');
    expect(text).not.toContain('Certificate Sign');
    expect(text).not.toContain('Code Signing');
    expect(text).not.toContain('evil');
    expect(text).not.toContain('/admin');
    expect(text.match(/URI:/g)).toHaveLength(1);
    expect(text).toContain(`URI:${ID}`);
    expect(text).toMatch(/Subject: *\n/);
    const verified = verifyX509Svid(svid.chainDer, ca.localBundle(), { now: clock.now() });
    expect(verified.spiffeId.toString()).toBe(ID);
    await ca.close();
  });

  it('refuses a CSR whose signature was tampered with (ERR_CA_CSR_SIGNATURE)', async () => {
    const ca = await openCa(testClock());
    const csr = Buffer.from(opensslCsr());
    csr[csr.length - 1] = (csr[csr.length - 1] ?? 0) ^ 0x01;
    await expect(ca.issueX509Svid({ spiffeId: ID, csr })).rejects.toMatchObject({
      code: 'ERR_CA_CSR_SIGNATURE',
    });
    await ca.close();
  });

  it('refuses a CSR whose public key was swapped for another one (ERR_CA_CSR_SIGNATURE)', async () => {
    const ca = await openCa(testClock());
    const csr = Buffer.from(opensslCsr());
    const victim = newEcKey().publicKey.export({ type: 'spki', format: 'der' });
    // The P-256 SPKI is a fixed-size 91-byte block: replace it in place, keep the signature.
    const at = csr.indexOf(Buffer.from([0x30, 0x59, 0x30, 0x13]));
    expect(at).toBeGreaterThan(0);
    victim.copy(csr, at);
    await expect(ca.issueX509Svid({ spiffeId: ID, csr })).rejects.toMatchObject({
      code: 'ERR_CA_CSR_SIGNATURE',
    });
    await ca.close();
  });

  it('under load (CSR checks on worker threads) forged CSRs are still refused, genuine ones served', async () => {
    const clock = testClock();
    const ca = await openCa(clock);
    const genuine = Array.from({ length: 12 }, () => opensslCsr());
    const forged = genuine.slice(0, 12).map((csr) => {
      const copy = Buffer.from(csr);
      copy[copy.length - 1] = (copy[copy.length - 1] ?? 0) ^ 0x01;
      return copy;
    });
    const results = await Promise.allSettled(
      [...genuine, ...forged].map((csr, i) =>
        ca.issueX509Svid({ spiffeId: `spiffe://${TD}/load/${i}`, csr }),
      ),
    );
    for (const r of results.slice(0, 12)) expect(r.status).toBe('fulfilled');
    for (const r of results.slice(12)) {
      expect(r).toMatchObject({ status: 'rejected', reason: { code: 'ERR_CA_CSR_SIGNATURE' } });
    }
    await ca.close();
  });

  it.each([
    ['garbage', () => Buffer.from('not a csr')],
    ['an empty buffer', () => Buffer.alloc(0)],
    ['a truncated CSR', () => opensslCsr().subarray(0, 100)],
    ['a CSR with a trailing byte', () => Buffer.concat([opensslCsr(), Buffer.from([0])])],
    ['a certificate instead of a CSR', () => Buffer.from([0x30, 0x03, 0x02, 0x01, 0x01])],
    ['an oversized CSR', () => Buffer.alloc(70_000, 0x30)],
    ['a SHA-1 signed CSR', () => opensslCsr({ newkey: 'rsa:2048', pkeyopt: [], digest: 'sha1' })],
  ])('refuses %s (ERR_CA_CSR_INVALID)', async (_name, make) => {
    const ca = await openCa(testClock());
    await expect(ca.issueX509Svid({ spiffeId: ID, csr: make() })).rejects.toMatchObject({
      code: 'ERR_CA_CSR_INVALID',
    });
    await ca.close();
  });

  it.each([
    ['RSA 1024', { newkey: 'rsa:1024', pkeyopt: [] }],
    ['secp256k1', { newkey: 'ec', pkeyopt: ['ec_paramgen_curve:secp256k1'] }],
    ['Ed448', { newkey: 'ed448', pkeyopt: [] }],
    // Past Go's crypto/rsa limit (2^31-1), and a slower check for every use of the key.
    [
      'RSA 2048 with public exponent 2^32+1',
      { newkey: 'rsa:2048', pkeyopt: ['rsa_keygen_pubexp:4294967297'] },
    ],
  ])('refuses a CSR with a %s key (ERR_CA_KEY_UNSUPPORTED)', async (_name, options) => {
    const ca = await openCa(testClock());
    await expect(
      ca.issueX509Svid({ spiffeId: ID, csr: opensslCsr(options) }),
    ).rejects.toMatchObject({ code: 'ERR_CA_KEY_UNSUPPORTED' });
    await ca.close();
  });
});

describe('identities and lifetimes the CA refuses', () => {
  it.each([
    ['another trust domain', 'spiffe://evil.example/workload'],
    ['the trust domain ID itself (X509-2)', `spiffe://${TD}`],
    ['an invalid ID', `spiffe://${TD}/a/../b`],
    ['an upper-case scheme', `SPIFFE://${TD}/w`],
  ])('refuses %s (ERR_CA_ID_NOT_ALLOWED) for X509-SVIDs and JWT-SVIDs', async (_name, spiffeId) => {
    const ca = await openCa(testClock());
    await expect(
      ca.issueX509Svid({ spiffeId, publicKey: newEcKey().publicKey }),
    ).rejects.toMatchObject({ code: 'ERR_CA_ID_NOT_ALLOWED' });
    await expect(ca.issueJwtSvid({ spiffeId, audience: ['a'] })).rejects.toMatchObject({
      code: 'ERR_CA_ID_NOT_ALLOWED',
    });
    await ca.close();
  });

  it.each([0, -5, 1.5, 4 * 3600 + 1])(
    'refuses ttlSeconds %s above the bound (ERR_CA_TTL)',
    async (ttl) => {
      const ca = await openCa(testClock(), {
        maxX509SvidTtlSeconds: 4 * 3600,
        maxJwtSvidTtlSeconds: 600,
      });
      await expect(
        ca.issueX509Svid({ spiffeId: ID, publicKey: newEcKey().publicKey, ttlSeconds: ttl }),
      ).rejects.toMatchObject({ code: 'ERR_CA_TTL' });
      await expect(
        ca.issueJwtSvid({ spiffeId: ID, audience: ['a'], ttlSeconds: ttl > 600 ? 601 : ttl }),
      ).rejects.toMatchObject({ code: 'ERR_CA_TTL' });
      await ca.close();
    },
  );

  it('treats caller mistakes as TypeError', async () => {
    const ca = await openCa(testClock());
    const { publicKey, privateKey } = newEcKey();
    await expect(ca.issueX509Svid({ spiffeId: ID })).rejects.toBeInstanceOf(TypeError);
    await expect(
      ca.issueX509Svid({ spiffeId: ID, publicKey, csr: opensslCsr() }),
    ).rejects.toBeInstanceOf(TypeError);
    await expect(ca.issueX509Svid({ spiffeId: ID, publicKey: privateKey })).rejects.toBeInstanceOf(
      TypeError,
    );
    await expect(
      ca.issueX509Svid({ spiffeId: ID, publicKey, dnsNames: ['bad name'] }),
    ).rejects.toBeInstanceOf(TypeError);
    await expect(
      ca.issueJwtSvid({ spiffeId: ID, audience: 'a' as unknown as string[] }),
    ).rejects.toBeInstanceOf(TypeError);
    await ca.close();
  });
});

describe('JWT-SVIDs (JWT-1..6)', () => {
  it.each([
    ['ec-p256', 'ES256'],
    ['ec-p384', 'ES384'],
    ['rsa-2048', 'RS256'],
  ] as const)(
    '%s keys mint %s tokens with exactly {alg, kid, typ} that our validator accepts',
    async (jwtKeyType, alg) => {
      const clock = testClock();
      const ca = await openCa(clock, { jwtKeyType });
      const minted = await ca.issueJwtSvid({ spiffeId: ID, audience: ['reports'] });
      expect(minted.token.split('.')).toHaveLength(3);
      const header = decodePart(minted.token, 0);
      expect(header).toEqual({ alg, kid: minted.kid, typ: 'JWT' });
      expect(Object.keys(header as object)).toEqual(['alg', 'kid', 'typ']);
      const now = Math.floor(clock.now().getTime() / 1000);
      expect(decodePart(minted.token, 1)).toEqual({
        sub: ID,
        aud: 'reports',
        exp: now + 300,
        iat: now,
      });
      expect(ca.localBundle().jwtAuthorities.has(minted.kid)).toBe(true);
      const validated = validateJwtSvid(minted.token, ca.localBundle(), {
        audience: 'reports',
        now: clock.now(),
      });
      expect(validated.spiffeId.toString()).toBe(ID);
      expect(validated.header.alg).toBe(alg);
      await ca.close();
    },
  );

  it('several audiences become an array; extra claims are added but may not override registered ones', async () => {
    const clock = testClock();
    const ca = await openCa(clock);
    const minted = await ca.issueJwtSvid({
      spiffeId: ID,
      audience: ['a', 'b'],
      ttlSeconds: 60,
      extraClaims: { 'https://acme.example/tier': 'gold' },
    });
    expect(decodePart(minted.token, 1)).toMatchObject({
      aud: ['a', 'b'],
      'https://acme.example/tier': 'gold',
    });
    expect(minted.expiresAt.getTime() - clock.now().getTime()).toBe(60_000);
    for (const claim of ['sub', 'aud', 'exp', 'iat', 'nbf', 'iss', 'jti']) {
      await expect(
        ca.issueJwtSvid({ spiffeId: ID, audience: ['a'], extraClaims: { [claim]: 'x' } }),
      ).rejects.toMatchObject({ code: 'ERR_CA_CLAIMS' });
    }
    await expect(ca.issueJwtSvid({ spiffeId: ID, audience: [] })).rejects.toMatchObject({
      code: 'ERR_CA_AUDIENCE',
    });
    await expect(ca.issueJwtSvid({ spiffeId: ID, audience: [''] })).rejects.toMatchObject({
      code: 'ERR_CA_AUDIENCE',
    });
    await ca.close();
  });
});

describe('tainted and revoked authorities never sign (FED-53)', () => {
  it('a tainted JWT key signs nothing more but stays published', async () => {
    const clock = testClock();
    const ca = await openCa(clock);
    const minted = await ca.issueJwtSvid({ spiffeId: ID, audience: ['a'] });
    const before = ca.localBundle().sequence;
    await ca.taint('jwt', minted.kid);
    await expect(ca.issueJwtSvid({ spiffeId: ID, audience: ['a'] })).rejects.toMatchObject({
      code: 'ERR_CA_NO_ACTIVE_AUTHORITY',
    });
    expect(ca.localBundle().jwtAuthorities.has(minted.kid)).toBe(true);
    expect(ca.localBundle().sequence).toBe(before);
    expect(
      validateJwtSvid(minted.token, ca.localBundle(), {
        audience: 'a',
        now: clock.now(),
      }).spiffeId.toString(),
    ).toBe(ID);
    await expect(ca.activate('jwt', minted.kid)).rejects.toMatchObject({
      code: 'ERR_CA_AUTHORITY_STATE',
    });
    await ca.close();
  });

  it('a token from a revoked key fails validation once the key left the bundle, and none is minted', async () => {
    const clock = testClock();
    const ca = await openCa(clock);
    const minted = await ca.issueJwtSvid({ spiffeId: ID, audience: ['a'] });
    const before = ca.localBundle().sequence ?? 0n;
    // Emergency rotation: a new key, forced into service, then the old one revoked.
    const next = await ca.prepare('jwt');
    await ca.activate('jwt', next.id, { force: true });
    await ca.revoke('jwt', minted.kid);
    const bundle = ca.localBundle();
    expect(bundle.jwtAuthorities.has(minted.kid)).toBe(false);
    expect((bundle.sequence ?? 0n) > before).toBe(true);
    expect(() =>
      validateJwtSvid(minted.token, bundle, { audience: 'a', now: clock.now() }),
    ).toThrow(expect.objectContaining({ code: 'ERR_SVID_JWT_KID_UNKNOWN' }));
    const fresh = await ca.issueJwtSvid({ spiffeId: ID, audience: ['a'] });
    expect(fresh.kid).toBe(next.id);
    expect(
      validateJwtSvid(fresh.token, bundle, { audience: 'a', now: clock.now() }).spiffeId.toString(),
    ).toBe(ID);
    await ca.close();
  });

  it('a revoked X.509 authority leaves the bundle (sequence + 1) and its SVIDs stop verifying', async () => {
    const clock = testClock();
    const ca = await openCa(clock);
    const svid = await ca.issueX509Svid({ spiffeId: ID, publicKey: newEcKey().publicKey });
    const at = Math.floor(clock.now().getTime() / 1000);
    expect(opensslVerify(ca.localBundle(), svid.chainDer, at).ok).toBe(true);
    const before = ca.localBundle().sequence ?? 0n;
    await ca.revoke('x509', svid.authorityId);
    const bundle = ca.localBundle();
    expect(bundle.sequence).toBe(before + 1n);
    expect(bundle.x509Authorities).toHaveLength(0);
    expect(() => verifyX509Svid(svid.chainDer, bundle, { now: clock.now() })).toThrow(
      expect.objectContaining({ code: 'ERR_SVID_NO_AUTHORITIES' }),
    );
    await expect(
      ca.issueX509Svid({ spiffeId: ID, publicKey: newEcKey().publicKey }),
    ).rejects.toMatchObject({ code: 'ERR_CA_NO_ACTIVE_AUTHORITY' });
    // The next rotation tick bootstraps a fresh authority: nothing of its kind is published any more.
    const plan = await ca.rotate();
    expect(plan.applied).toContainEqual(
      expect.objectContaining({ type: 'prepare', kind: 'x509', activate: true }),
    );
    const fresh = await ca.issueX509Svid({ spiffeId: ID, publicKey: newEcKey().publicKey });
    expect(new X509Certificate(fresh.chainDer[0] as Buffer).issuer).not.toBe('');
    expect(
      verifyX509Svid(fresh.chainDer, ca.localBundle(), { now: clock.now() }).spiffeId.toString(),
    ).toBe(ID);
    await ca.close();
  });
});
