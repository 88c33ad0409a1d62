// FED-53 in upstream mode (review 16 F1): every upstream-signed X.509 authority publishes the same
// anchor, so a revoke there could not change the bundle; it is refused with ERR_CA_REVOKE_UPSTREAM
// (CA, admin API and CLI alike), and "removed from the bundle" is logged only when it was removed.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { marshalBundle } from '../../src/bundle/index.js';
import { createCa, type Ca } from '../../src/ca/index.js';
import { silentLogger } from '../../src/log.js';
import { startBroker, type Broker } from '../../src/main.js';
import { ADMIN_TOKEN, admin, testConfig } from '../helpers/broker.js';
import { cli } from '../helpers/cli.js';
import {
  newEcKey,
  opensslUpstreamRoot,
  removeTempDirs,
  TD,
  tempDir,
  testClock,
  type TestClock,
} from './support.js';

afterAll(removeTempDirs);

/** A CA logging into `logs`; the upstream root is made first, so the clock is not before it. */
function recordingCa(
  upstream: boolean,
  clockOf: (start: Date) => TestClock = (start) => testClock(start),
): Promise<{ ca: Ca; logs: string[] }> {
  const files = upstream ? opensslUpstreamRoot(tempDir()) : undefined;
  const clock = clockOf(new Date());
  const logs: string[] = [];
  const record = (message: string): void => {
    logs.push(message);
  };
  return createCa(
    { now: clock.nowMs, ecdsa: null, logger: { info: record, warn: record, error: record } },
    {
      trustDomain: TD,
      dataDir: tempDir(),
      ...(files === undefined ? {} : { upstream: files }),
    },
  ).then((ca) => ({ ca, logs }));
}

/** The active authority retired by a forced successor: a revoke then has a successor to sign. */
async function retireActive(ca: Ca): Promise<string> {
  const old = ca.authorities('x509').find((a) => a.state === 'active')?.id ?? '';
  const next = await ca.prepare('x509');
  await ca.activate('x509', next.id, { force: true });
  return old;
}

describe('revoke in upstream mode (FED-53, review 16 F1)', () => {
  it('refuses an x509 revoke with ERR_CA_REVOKE_UPSTREAM and changes nothing', async () => {
    const { ca, logs } = await recordingCa(true);
    await ca.issueX509Svid({ spiffeId: `spiffe://${TD}/w`, publicKey: newEcKey().publicKey });
    const old = await retireActive(ca);
    const before = marshalBundle(ca.localBundle()).toString();
    await expect(ca.revoke('x509', old)).rejects.toMatchObject({
      code: 'ERR_CA_REVOKE_UPSTREAM',
      message: expect.stringContaining('revoke it at the upstream ca'),
    });
    expect(ca.authorities('x509').find((a) => a.id === old)?.state).toBe('retired');
    expect(marshalBundle(ca.localBundle()).toString()).toBe(before);
    expect(logs.filter((line) => line.includes('removed from the bundle'))).toEqual([]);
    await ca.close();
  });

  it('still revokes a JWT key (our own, in the bundle) and says it was removed', async () => {
    const { ca, logs } = await recordingCa(true);
    const old = ca.authorities('jwt').find((a) => a.state === 'active')?.id ?? '';
    const next = await ca.prepare('jwt');
    await ca.activate('jwt', next.id, { force: true });
    const sequence = ca.localBundle().sequence ?? 0n;
    expect((await ca.revoke('jwt', old)).state).toBe('revoked');
    expect(ca.localBundle().jwtAuthorities.has(old)).toBe(false);
    expect(ca.localBundle().sequence).toBe(sequence + 1n);
    expect(logs).toContain('ca: revoked jwt authority; removed from the bundle');
    await ca.close();
  });

  it('taints an upstream x509 authority: it signs nothing more, the bundle is unchanged', async () => {
    const { ca } = await recordingCa(true);
    const active = ca.authorities('x509').find((a) => a.state === 'active')?.id ?? '';
    const before = marshalBundle(ca.localBundle()).toString();
    expect((await ca.taint('x509', active)).state).toBe('tainted');
    expect(marshalBundle(ca.localBundle()).toString()).toBe(before);
    await expect(
      ca.issueX509Svid({ spiffeId: `spiffe://${TD}/w`, publicKey: newEcKey().publicKey }),
    ).rejects.toMatchObject({ code: 'ERR_CA_NO_ACTIVE_AUTHORITY' });
    await ca.close();
  });
});

describe('the revoke log says "removed from the bundle" only when it was (FED-53)', () => {
  it('self-signed: an authority whose certificate expired was no longer published', async () => {
    const clock = testClock(new Date());
    const { ca, logs } = await recordingCa(false, () => clock);
    clock.advance(600); // the successor outlives it
    const old = await retireActive(ca);
    const notAfter = ca.authorities('x509').find((a) => a.id === old)?.notAfter ?? new Date();
    clock.set(notAfter.getTime() + 1000);
    expect(ca.localBundle().x509Authorities.length).toBe(1);
    const sequence = ca.localBundle().sequence;
    expect((await ca.revoke('x509', old)).state).toBe('revoked');
    expect(ca.localBundle().sequence).toBe(sequence);
    expect(logs).toContain('ca: revoked x509 authority; it was not in the bundle');
    expect(logs).not.toContain('ca: revoked x509 authority; removed from the bundle');
    await ca.close();
  });
});

describe('localauthority x509 revoke against an upstream-mode broker', () => {
  let broker: Broker | undefined;
  afterAll(async () => {
    await broker?.stop();
  });

  it('answers 409 ERR_CA_REVOKE_UPSTREAM, and the CLI prints that code and message', async () => {
    const loaded = testConfig({
      trustDomain: TD,
      extra: {
        ca: { caTtl: '2h', x509SvidTtl: '10m', upstream: opensslUpstreamRoot(tempDir()) },
      },
    });
    broker = await startBroker(loaded, { logger: silentLogger });
    const configFile = join(loaded.dataDir, '..', 'cli.yaml');
    writeFileSync(
      configFile,
      `trustDomain: ${TD}\ndataDir: ${loaded.dataDir}\nadminApi:\n  listen: 127.0.0.1:${new URL(broker.adminUrl).port}\n`,
    );
    const run = (argv: string[]) =>
      cli([...argv, '--config', configFile], { env: { FEDBROKER_ADMIN_TOKEN: ADMIN_TOKEN } });
    const shown = await run(['localauthority', 'x509', 'show', '--json']);
    const { authorities } = JSON.parse(shown.stdout) as { authorities: { id: string }[] };
    const id = authorities[0]?.id ?? '';

    const answer = await admin<{ error: { code: string } }>(
      broker,
      'POST',
      `/v1/admin/authorities/x509/${id}/revoke`,
      {},
    );
    expect([answer.status, answer.body.error.code]).toEqual([409, 'ERR_CA_REVOKE_UPSTREAM']);

    const revoked = await run(['localauthority', 'x509', 'revoke', '--authority-id', id]);
    expect(revoked.code).toBe(1);
    expect(revoked.stderr).toMatch(
      /^error ERR_CA_REVOKE_UPSTREAM: x509 authority "[0-9a-f]+" is signed by the upstream ca.*revoke it at the upstream ca/,
    );
    const after = await run(['localauthority', 'x509', 'show', '--json']);
    expect(JSON.parse(after.stdout)).toEqual(JSON.parse(shown.stdout));
  });
});
