// Restart on the same data directory: the same authorities (fingerprints, kids, states), a sequence
// that never goes backwards (BUNDLE-31), keys in PKCS#8 files of mode 0600, and damage refused loudly.
import { chmodSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createCa, type Ca } from '../../src/ca/index.js';
import { verifyX509Svid } from '../../src/svid/index.js';
import { newEcKey, openCa, removeTempDirs, tempDir, testClock, TD } from './support.js';

afterAll(removeTempDirs);

function summary(ca: Ca): unknown[] {
  return ca.authorities().map((a) => ({
    id: a.id,
    kind: a.kind,
    state: a.state,
    fingerprint: a.fingerprintSha256,
    jwk: a.publicJwk,
    notAfter: a.notAfter.getTime(),
  }));
}

describe('restart on the same data directory', () => {
  it('reloads the same authorities and keeps the sequence', async () => {
    const dataDir = tempDir();
    const clock = testClock();
    const options = { dataDir, refreshHintSeconds: 60, caTtlSeconds: 12 * 3600 };
    const first = await openCa(clock, options);
    const svid = await first.issueX509Svid({
      spiffeId: `spiffe://${TD}/w`,
      publicKey: newEcKey().publicKey,
    });
    // Rotate: prepare at half-life, activate after the lead time.
    clock.advance(6 * 3600);
    await first.rotate();
    // Material the old authorities signed is still valid at the restart below (FED-51).
    const longSvid = await first.issueX509Svid({
      spiffeId: `spiffe://${TD}/w`,
      publicKey: newEcKey().publicKey,
      ttlSeconds: 7200,
    });
    await first.issueJwtSvid({ spiffeId: `spiffe://${TD}/w`, audience: ['a'], ttlSeconds: 3600 });
    clock.advance(5 * 60);
    await first.rotate();
    expect(first.authorities().map((a) => a.state)).toEqual([
      'retired',
      'active',
      'retired',
      'active',
    ]);
    const before = summary(first);
    const sequence = first.localBundle().sequence ?? 0n;
    await first.close();
    await expect(
      first.issueJwtSvid({ spiffeId: `spiffe://${TD}/w`, audience: ['a'] }),
    ).rejects.toThrow(TypeError);

    const second = await openCa(clock, options);
    expect(summary(second)).toEqual(before);
    expect(second.localBundle().sequence).toBe(sequence);
    // An SVID of the retired authority still verifies against the reloaded bundle; a new one too.
    expect(svid.authorityId).toBe(longSvid.authorityId);
    expect(
      verifyX509Svid(longSvid.chainDer, second.localBundle(), {
        now: clock.now(),
      }).spiffeId.toString(),
    ).toBe(`spiffe://${TD}/w`);
    const fresh = await second.issueX509Svid({
      spiffeId: `spiffe://${TD}/w2`,
      publicKey: newEcKey().publicKey,
    });
    expect(fresh.authorityId).toBe(
      second.authorities('x509').find((a) => a.state === 'active')?.id,
    );
    await second.close();

    // Later, an old authority has been removed: the sequence moves on, never back.
    clock.advance(12 * 3600);
    const third = await openCa(clock, options);
    expect((third.localBundle().sequence ?? 0n) > sequence).toBe(true);
    await third.close();
    const fourth = await openCa(clock, options);
    expect(fourth.localBundle().sequence).toBe(third.localBundle().sequence);
    await fourth.close();
  });

  it('stores PKCS#8 keys with mode 0600 in a 0700 directory; only signing authorities keep a key', async () => {
    const dataDir = tempDir();
    const clock = testClock();
    const ca = await openCa(clock, { dataDir, refreshHintSeconds: 60 });
    await ca.prepare('jwt');
    const caDir = join(dataDir, 'ca');
    expect(statSync(caDir).mode & 0o777).toBe(0o700);
    const files = readdirSync(caDir).sort();
    expect(files.filter((f) => f.endsWith('.key.pem'))).toHaveLength(3);
    for (const file of files) {
      expect(statSync(join(caDir, file)).mode & 0o777).toBe(0o600);
      if (file.endsWith('.key.pem')) {
        expect(readFileSync(join(caDir, file), 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
      }
    }
    const [jwtOld] = ca.authorities('jwt');
    clock.advance(300);
    await ca.activate('jwt');
    // The retired key is deleted from disk: it can never sign again.
    expect(existsSync(join(caDir, `jwt-${jwtOld?.id}.key.pem`))).toBe(false);
    await ca.close();
  });

  it('survives a crash: FED-51 bookkeeping written before issuing returns is never below what was signed', async () => {
    const dataDir = tempDir();
    const clock = testClock();
    const first = await openCa(clock, { dataDir });
    const svid = await first.issueX509Svid({
      spiffeId: `spiffe://${TD}/w`,
      publicKey: newEcKey().publicKey,
      ttlSeconds: 7200,
    });
    const token = await first.issueJwtSvid({ spiffeId: `spiffe://${TD}/w`, audience: ['a'] });
    // No close(): the process "dies" here.
    const second = await openCa(clock, { dataDir });
    const byId = new Map(second.authorities().map((a) => [a.id, a]));
    expect(byId.get(svid.authorityId)?.signedUntil?.getTime()).toBeGreaterThanOrEqual(
      svid.notAfter.getTime(),
    );
    expect(byId.get(token.kid)?.signedUntil?.getTime()).toBeGreaterThanOrEqual(
      token.expiresAt.getTime(),
    );
    await second.close();
    await first.close();
  });

  it.each([
    [
      'a damaged state file',
      (dir: string) => writeFileSync(join(dir, 'ca', 'state.json'), '{"version":1,'),
      'ERR_CA_STATE',
    ],
    [
      'a state file of another version',
      (dir: string) => writeFileSync(join(dir, 'ca', 'state.json'), '{"version":2}'),
      'ERR_CA_STATE',
    ],
    [
      'a missing key file',
      (dir: string) => {
        const key = readdirSync(join(dir, 'ca')).find((f) => f.startsWith('x509-'));
        writeFileSync(join(dir, 'ca', key as string), '');
        chmodSync(join(dir, 'ca', key as string), 0o600);
      },
      'ERR_CA_KEY_LOAD',
    ],
    [
      'a key file readable by others',
      (dir: string) => {
        const key = readdirSync(join(dir, 'ca')).find((f) => f.startsWith('jwt-'));
        chmodSync(join(dir, 'ca', key as string), 0o644);
      },
      'ERR_CA_KEY_LOAD',
    ],
    [
      'a key swapped for another authority’s key',
      (dir: string) => {
        const files = readdirSync(join(dir, 'ca'));
        const x509 = files.find((f) => f.startsWith('x509-')) as string;
        const pem = newEcKey().privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
        writeFileSync(join(dir, 'ca', x509), pem, { mode: 0o600 });
      },
      'ERR_CA_KEY_LOAD',
    ],
  ])('refuses to start on %s', async (_name, damage, code) => {
    const dataDir = tempDir();
    const clock = testClock();
    const ca = await openCa(clock, { dataDir });
    await ca.close();
    damage(dataDir);
    await expect(openCa(clock, { dataDir })).rejects.toMatchObject({ code });
  });

  it('refuses a data directory of another trust domain, and deletes orphan key files', async () => {
    const dataDir = tempDir();
    const clock = testClock();
    await (await openCa(clock, { dataDir })).close();
    await expect(
      createCa({ now: clock.nowMs }, { trustDomain: 'other.example', dataDir }),
    ).rejects.toMatchObject({ code: 'ERR_CA_STATE' });
    const orphan = join(dataDir, 'ca', 'x509-deadbeef.key.pem');
    writeFileSync(orphan, newEcKey().privateKey.export({ type: 'pkcs8', format: 'pem' }), {
      mode: 0o600,
    });
    await (await openCa(clock, { dataDir })).close();
    expect(existsSync(orphan)).toBe(false);
  });

  it('refuses unsound configuration (ERR_CA_CONFIG)', async () => {
    const clock = testClock();
    for (const options of [
      { caTtlSeconds: 3600 },
      { keyType: 'ec-p521' as never },
      { x509SvidTtlSeconds: 7200, maxX509SvidTtlSeconds: 3600 },
      { refreshHintSeconds: 0 },
      { trustDomain: 'Not A TD' },
      { csrCheckWorkers: 0 },
      { csrCheckWorkers: 2.5 },
      { csrCheckWorkers: 65 },
    ]) {
      await expect(openCa(clock, options)).rejects.toMatchObject({ code: 'ERR_CA_CONFIG' });
    }
  });
});
