// Private keys never leave the CA: authority metadata, the bundle, the state file, the JSON and
// inspection of the CA object, logs and error messages carry no private key material (BUNDLE-14).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { marshalBundle } from '../../src/bundle/index.js';
import { createCa } from '../../src/ca/index.js';
import { newEcKey, opensslCsr, removeTempDirs, tempDir, testClock, TD } from './support.js';

afterAll(removeTempDirs);

describe('no private key material outside the key files', () => {
  it.each(['ec-p256', 'rsa-2048'] as const)('with %s authorities', async (keyType) => {
    const dataDir = tempDir();
    const clock = testClock();
    const logs: string[] = [];
    const log = (message: string, fields?: Readonly<Record<string, unknown>>): void => {
      logs.push(message + JSON.stringify(fields ?? {}));
    };
    const ca = await createCa(
      { now: clock.nowMs, logger: { info: log, warn: log, error: log } },
      { trustDomain: TD, dataDir, keyType, refreshHintSeconds: 60 },
    );
    await ca.prepare('x509');
    await ca.prepare('jwt');
    clock.advance(300);
    await ca.activate('jwt');
    const minted = await ca.issueJwtSvid({ spiffeId: `spiffe://${TD}/w`, audience: ['a'] });
    await ca.taint('jwt', minted.kid);
    await ca.issueX509Svid({ spiffeId: `spiffe://${TD}/w`, csr: opensslCsr() });
    const errors: string[] = [];
    for (const attempt of [
      () =>
        ca.issueX509Svid({ spiffeId: 'spiffe://evil.example/w', publicKey: newEcKey().publicKey }),
      () => ca.issueX509Svid({ spiffeId: `spiffe://${TD}/w`, csr: Buffer.from('junk') }),
      () => ca.issueJwtSvid({ spiffeId: `spiffe://${TD}/w`, audience: ['a'] }),
      () => ca.activate('x509', 'unknown-id'),
    ]) {
      await attempt().catch((error: unknown) => errors.push(inspect(error, { depth: 5 })));
    }
    expect(errors).toHaveLength(4);

    const caDir = join(dataDir, 'ca');
    const keyFiles = readdirSync(caDir).filter((f) => f.endsWith('.key.pem'));
    expect(keyFiles.length).toBeGreaterThan(0);
    // The base64 body lines of every stored private key, and the private JWK members.
    const secrets: string[] = [];
    for (const file of keyFiles) {
      const pem = readFileSync(join(caDir, file), 'utf8');
      secrets.push(...pem.split('\n').filter((l) => l.length >= 40 && !l.startsWith('-----')));
    }

    const outputs = {
      metadata: JSON.stringify(ca.authorities()),
      inspectMetadata: inspect(ca.authorities(), { depth: 10 }),
      json: JSON.stringify(ca),
      inspectCa: inspect(ca, { depth: 10, showHidden: true }),
      bundle: marshalBundle(ca.localBundle()).toString('utf8'),
      inspectBundle: inspect(ca.localBundle(), { depth: 6 }),
      state: readFileSync(join(caDir, 'state.json'), 'utf8'),
      logs: logs.join('\n'),
      errors: errors.join('\n'),
    };
    for (const [name, text] of Object.entries(outputs)) {
      expect(text.length, name).toBeGreaterThan(0);
      expect(text, name).not.toMatch(/PRIVATE KEY/);
      expect(text, name).not.toMatch(/"(d|p|q|dp|dq|qi|k)"\s*:/);
      for (const secret of secrets) expect(text.includes(secret), name).toBe(false);
    }
    await ca.close();
  });
});
