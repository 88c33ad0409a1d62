// The whole upstream chain is checked (review 16 F3; X509-7, X509-26, GS-6): pathLen of every
// certificate counting our CA, the links, each one's validity, and our CA's notAfter capped at the
// earliest in the chain; what we sign then verifies with openssl and with our own verifier.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { verifyX509Svid } from '../../src/svid/index.js';
import {
  openCa,
  openssl,
  opensslCsr,
  opensslVerify,
  removeTempDirs,
  TD,
  tempDir,
  testClock,
} from './support.js';

afterAll(removeTempDirs);

interface ChainOptions {
  /** The root's basicConstraints value (after `critical,`). */
  readonly rootConstraints?: string;
  readonly rootDays?: number;
  readonly midDays?: number;
  /** Extra lines of the intermediate's extensions. */
  readonly midExtensions?: string;
}

/** openssl req arguments: a new P-256 key, unencrypted, written to `keyFile`. */
const newEcKey = (keyFile: string): string[] => [
  '-newkey',
  'ec',
  '-pkeyopt',
  'ec_paramgen_curve:P-256',
  '-nodes',
  '-keyout',
  keyFile,
];

/** An operator root and an issuing CA under it, made by openssl; the file holds [issuing, root]. */
function opensslChain(options: ChainOptions = {}): {
  files: { certFile: string; keyFile: string };
  root: X509Certificate;
  mid: X509Certificate;
} {
  const dir = tempDir('ca-chain-');
  const at = (name: string): string => join(dir, name);
  writeFileSync(
    at('ext.cnf'),
    [
      '[mid]',
      'basicConstraints=critical,CA:TRUE',
      'keyUsage=critical,keyCertSign,cRLSign',
      'subjectKeyIdentifier=hash',
      'authorityKeyIdentifier=keyid',
      ...(options.midExtensions === undefined ? [] : [options.midExtensions]),
      '',
    ].join('\n'),
  );
  openssl([
    'req',
    '-x509',
    ...newEcKey(at('root.key')),
    '-out',
    at('root.pem'),
    '-days',
    String(options.rootDays ?? 3650),
    '-subj',
    '/O=Operator/CN=Operator Root CA',
    '-addext',
    `basicConstraints=critical,${options.rootConstraints ?? 'CA:TRUE'}`,
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  return finishChain(dir, options);
}

/** Signs the issuing CA under the root and writes the [issuing, root] file. */
function finishChain(dir: string, options: ChainOptions): ReturnType<typeof opensslChain> {
  const at = (name: string): string => join(dir, name);
  openssl([
    'req',
    '-new',
    ...newEcKey(at('mid.key')),
    '-subj',
    '/O=Operator/CN=Operator Issuing CA',
    '-out',
    at('mid.csr'),
  ]);
  openssl([
    'x509',
    '-req',
    '-in',
    at('mid.csr'),
    '-CA',
    at('root.pem'),
    '-CAkey',
    at('root.key'),
    '-CAcreateserial',
    '-days',
    String(options.midDays ?? 365),
    '-extfile',
    at('ext.cnf'),
    '-extensions',
    'mid',
    '-out',
    at('mid.pem'),
  ]);
  const mid = readFileSync(at('mid.pem'), 'utf8');
  const root = readFileSync(at('root.pem'), 'utf8');
  writeFileSync(at('chain.pem'), mid + root);
  return {
    files: { certFile: at('chain.pem'), keyFile: at('mid.key') },
    root: new X509Certificate(root),
    mid: new X509Certificate(mid),
  };
}

describe('upstream chain checks (X509-7, X509-26; review 16 F3)', () => {
  it('refuses [issuing CA, root pathlen:1]: the path to an SVID has 2 CAs below the root', async () => {
    const { files } = opensslChain({ rootConstraints: 'CA:TRUE,pathlen:1' });
    await expect(openCa(testClock(new Date()), { upstream: files })).rejects.toMatchObject({
      code: 'ERR_CA_UPSTREAM',
      message: expect.stringContaining(
        'certificate 2 of the upstream file has pathLenConstraint 1',
      ),
    });
  });

  it('accepts [issuing CA, root pathlen:2]; its SVIDs pass openssl -x509_strict and our verifier', async () => {
    const { files } = opensslChain({ rootConstraints: 'CA:TRUE,pathlen:2' });
    const clock = testClock(new Date());
    const ca = await openCa(clock, { upstream: files });
    const svid = await ca.issueX509Svid({ spiffeId: `spiffe://${TD}/w`, csr: opensslCsr() });
    const at = Math.floor(clock.now().getTime() / 1000);
    expect(opensslVerify(ca.localBundle(), svid.chainDer, at).ok).toBe(true);
    expect(
      verifyX509Svid(svid.chainDer, ca.localBundle(), { now: clock.now() }).spiffeId.path,
    ).toBe('/w');
    await ca.close();
  });

  it('refuses a file whose certificates do not chain (issuing CA, then a root that did not sign it)', async () => {
    const { files } = opensslChain();
    const other = opensslChain();
    const mid = readFileSync(files.certFile, 'utf8').split(/(?<=-----END CERTIFICATE-----\n)/)[0];
    writeFileSync(files.certFile, `${mid ?? ''}${other.root.toString()}`);
    await expect(openCa(testClock(new Date()), { upstream: files })).rejects.toMatchObject({
      code: 'ERR_CA_UPSTREAM',
      message: expect.stringContaining(
        'certificate 1 of the upstream file is not issued by certificate 2',
      ),
    });
  });

  it("caps our CA at the root's notAfter when the root expires before the issuing CA", async () => {
    const { files, root, mid } = opensslChain({ rootDays: 2, midDays: 365 });
    expect(Date.parse(mid.validTo)).toBeGreaterThan(Date.parse(root.validTo));
    const clock = testClock(new Date());
    const ca = await openCa(clock, { upstream: files, caTtlSeconds: 30 * 86_400 });
    const authority = ca.authorities('x509').find((a) => a.state === 'active');
    expect(authority?.notAfter.getTime()).toBeLessThanOrEqual(Date.parse(root.validTo));
    const svid = await ca.issueX509Svid({ spiffeId: `spiffe://${TD}/w`, csr: opensslCsr() });
    expect(Date.parse(new X509Certificate(svid.chainDer[0] as Buffer).validTo)).toBeLessThanOrEqual(
      Date.parse(root.validTo),
    );
    // Past the root's expiry no new CA is made under it (the issuing CA is still valid).
    clock.set(Date.parse(root.validTo) + 1000);
    await expect(ca.prepare('x509')).rejects.toMatchObject({ code: 'ERR_CA_UPSTREAM' });
    await ca.close();
  });

  it('refuses an upstream whose root has expired although the issuing CA has not', async () => {
    const { files, root } = opensslChain({ rootDays: 1, midDays: 365 });
    const clock = testClock(Date.parse(root.validTo) + 60_000);
    await expect(openCa(clock, { upstream: files })).rejects.toMatchObject({
      code: 'ERR_CA_UPSTREAM',
      message: expect.stringContaining('certificate 2 of the upstream file is not valid now'),
    });
  });

  it('refuses an issuing CA whose name constraints exclude our trust domain (the probe SVID)', async () => {
    const { files } = opensslChain({
      midExtensions: 'nameConstraints=critical,permitted;URI:other.example',
    });
    await expect(openCa(testClock(new Date()), { upstream: files })).rejects.toMatchObject({
      code: 'ERR_CA_UPSTREAM',
      message: expect.stringContaining('would not verify against the anchor we publish'),
    });
  });
});
