// Independent checks with the openssl CLI: `openssl verify -x509_strict` accepts what the CA mints in
// self-signed and upstream modes, and `openssl x509 -text` shows exactly the X509-1..16 extensions.
import { createPublicKey, X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { connect, createServer } from 'node:tls';
import { afterAll, describe, expect, it } from 'vitest';
import { verifyX509Svid } from '../../src/svid/index.js';
import {
  newEcKey,
  openCa,
  opensslCsr,
  opensslText,
  opensslUpstreamRoot,
  opensslVerify,
  bundlePem,
  removeTempDirs,
  tempDir,
  testClock,
  TD,
} from './support.js';

afterAll(removeTempDirs);

/** The lines of the X509v3 extensions section, trimmed. */
function extensionLines(text: string): string[] {
  const start = text.indexOf('X509v3 extensions:');
  const end = text.indexOf('Signature Algorithm:', start);
  return text
    .slice(start, end)
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && l !== 'X509v3 extensions:');
}

function clockSeconds(date: Date): number {
  return Math.floor(date.getTime() / 1000);
}

describe('self-signed mode, verified by openssl (X509-1..16)', () => {
  it.each(['ec-p256', 'ec-p384', 'rsa-2048'] as const)(
    'openssl verify -x509_strict accepts a %s CA and its X509-SVID',
    async (keyType) => {
      const clock = testClock();
      const ca = await openCa(clock, { keyType });
      const svid = await ca.issueX509Svid({
        spiffeId: `spiffe://${TD}/workload`,
        csr: opensslCsr(),
      });
      expect(svid.chainDer).toHaveLength(1);
      const result = opensslVerify(ca.localBundle(), svid.chainDer, clockSeconds(clock.now()));
      expect(result.output).toContain('OK');
      expect(result.ok).toBe(true);
      await ca.close();
    },
  );

  it('X509-1..6: the leaf carries exactly the required extensions, as openssl prints them', async () => {
    const clock = testClock();
    const ca = await openCa(clock);
    const svid = await ca.issueX509Svid({
      spiffeId: `spiffe://${TD}/ns/prod/sa/api`,
      csr: opensslCsr(),
      dnsNames: ['api.acme.example'],
    });
    const text = opensslText(svid.chainDer[0] as Buffer);
    const lines = extensionLines(text);
    expect(lines).toEqual([
      'X509v3 Basic Constraints: critical',
      'CA:FALSE',
      'X509v3 Key Usage: critical',
      'Digital Signature',
      'X509v3 Extended Key Usage:',
      'TLS Web Server Authentication, TLS Web Client Authentication',
      'X509v3 Subject Key Identifier:',
      expect.stringMatching(/^([0-9A-F]{2}:){19}[0-9A-F]{2}$/),
      'X509v3 Authority Key Identifier:',
      expect.stringMatching(/^([0-9A-F]{2}:){19}[0-9A-F]{2}$/),
      'X509v3 Subject Alternative Name: critical',
      `URI:spiffe://${TD}/ns/prod/sa/api, DNS:api.acme.example`,
    ]);
    // X509-3: empty subject, so the SAN above is critical.
    expect(text).toMatch(/Subject: *\n/);
    expect(text).toContain('Version: 3 (0x2)');
    await ca.close();
  });

  it('X509-10..16: the CA certificate is a self-signed SVID of the trust domain, no EKU', async () => {
    const clock = testClock();
    const ca = await openCa(clock);
    const [authority] = ca.localBundle().x509Authorities;
    const text = opensslText(authority?.der as Buffer);
    expect(extensionLines(text)).toEqual([
      'X509v3 Basic Constraints: critical',
      'CA:TRUE',
      'X509v3 Key Usage: critical',
      'Certificate Sign, CRL Sign',
      'X509v3 Subject Key Identifier:',
      expect.stringMatching(/^([0-9A-F]{2}:){19}[0-9A-F]{2}$/),
      'X509v3 Authority Key Identifier:',
      expect.stringMatching(/^([0-9A-F]{2}:){19}[0-9A-F]{2}$/),
      'X509v3 Subject Alternative Name:',
      `URI:spiffe://${TD}`,
    ]);
    expect(text).toContain(`Subject: O = ${TD}, CN = SPIFFE CA `);
    const cert = new X509Certificate(authority?.der as Buffer);
    expect(cert.ca).toBe(true);
    expect(cert.checkIssued(cert)).toBe(true);
    await ca.close();
  });

  it('X509-8: random positive serials of at most 20 octets, notBefore back-dated 30 s, leaf within the CA', async () => {
    const clock = testClock();
    const ca = await openCa(clock, { caTtlSeconds: 86400 });
    const serials = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const svid = await ca.issueX509Svid({
        spiffeId: `spiffe://${TD}/w${i}`,
        publicKey: newEcKey().publicKey,
      });
      const cert = new X509Certificate(svid.chainDer[0] as Buffer);
      expect(cert.serialNumber.length).toBeLessThanOrEqual(40);
      expect(parseInt(cert.serialNumber.slice(0, 2), 16)).toBeLessThan(0x80);
      expect(cert.serialNumber.toLowerCase()).toBe(svid.serialHex);
      serials.add(svid.serialHex);
    }
    expect(serials.size).toBe(50);
    const svid = await ca.issueX509Svid({
      spiffeId: `spiffe://${TD}/w`,
      publicKey: newEcKey().publicKey,
    });
    expect(svid.notBefore.getTime()).toBe(clock.now().getTime() - 30_000);
    expect(svid.notAfter.getTime() - clock.now().getTime()).toBe(3600_000);
    // Near the CA's end, the leaf is cut at the CA's notAfter.
    const [x509] = ca.authorities('x509');
    clock.set(new Date((x509?.notAfter.getTime() ?? 0) - 600_000));
    const late = await ca.issueX509Svid({
      spiffeId: `spiffe://${TD}/w`,
      publicKey: newEcKey().publicKey,
    });
    expect(late.notAfter.getTime()).toBeLessThanOrEqual(x509?.notAfter.getTime() ?? 0);
    expect(new Date(new X509Certificate(late.chainDer[0] as Buffer).validTo).getTime()).toBe(
      x509?.notAfter.getTime(),
    );
    await ca.close();
  });

  it.each([
    ['an EC P-256 key', { newkey: 'ec', pkeyopt: ['ec_paramgen_curve:P-256'] }],
    [
      'an EC P-384 key (SHA-384)',
      { newkey: 'ec', pkeyopt: ['ec_paramgen_curve:P-384'], digest: 'sha384' },
    ],
    ['an RSA 2048 key', { newkey: 'rsa:2048', pkeyopt: [] }],
    ['an Ed25519 key', { newkey: 'ed25519', pkeyopt: [] }],
  ])('accepts an `openssl req -new` CSR with %s', async (_name, csrOptions) => {
    const clock = testClock();
    const ca = await openCa(clock);
    const csr = opensslCsr(csrOptions);
    const svid = await ca.issueX509Svid({ spiffeId: `spiffe://${TD}/w`, csr });
    expect(opensslVerify(ca.localBundle(), svid.chainDer, clockSeconds(clock.now())).ok).toBe(true);
    const verified = verifyX509Svid(svid.chainDer, ca.localBundle(), { now: clock.now() });
    expect(verified.spiffeId.toString()).toBe(`spiffe://${TD}/w`);
    await ca.close();
  });
});

describe('upstream mode (intermediate under an operator CA)', () => {
  it('publishes the upstream root, chains the intermediate, and passes openssl verify -x509_strict', async () => {
    const dir = tempDir();
    const upstream = opensslUpstreamRoot(dir);
    const clock = testClock(new Date());
    const ca = await openCa(clock, { upstream });
    const bundle = ca.localBundle();
    expect(bundle.x509Authorities).toHaveLength(1);
    const root = new X509Certificate(bundle.x509Authorities[0]?.der as Buffer);
    expect(root.subject).toContain('CN=Operator Root CA');

    const svid = await ca.issueX509Svid({ spiffeId: `spiffe://${TD}/w`, csr: opensslCsr() });
    expect(svid.chainDer).toHaveLength(2);
    const intermediate = new X509Certificate(svid.chainDer[1] as Buffer);
    expect(intermediate.ca).toBe(true);
    expect(new X509Certificate(svid.chainDer[0] as Buffer).checkIssued(intermediate)).toBe(true);
    expect(intermediate.verify(root.publicKey)).toBe(true);
    expect(new Date(intermediate.validTo).getTime()).toBeLessThanOrEqual(
      new Date(root.validTo).getTime(),
    );
    const result = opensslVerify(bundle, svid.chainDer, clockSeconds(clock.now()));
    expect(result.output).toContain('OK');
    expect(result.ok).toBe(true);
    expect(extensionLines(opensslText(svid.chainDer[1] as Buffer))).toEqual([
      'X509v3 Basic Constraints: critical',
      'CA:TRUE',
      'X509v3 Key Usage: critical',
      'Certificate Sign, CRL Sign',
      'X509v3 Subject Key Identifier:',
      expect.any(String),
      'X509v3 Authority Key Identifier:',
      expect.any(String),
      'X509v3 Subject Alternative Name:',
      `URI:spiffe://${TD}`,
    ]);
    const verified = verifyX509Svid(svid.chainDer, bundle, { now: clock.now() });
    expect(verified.spiffeId.toString()).toBe(`spiffe://${TD}/w`);
    await ca.close();
  });

  it('works with an upstream intermediate whose root is the last certificate of the file', async () => {
    const dir = tempDir();
    const root = opensslUpstreamRoot(dir);
    const { openssl } = await import('./support.js');
    const midKey = `${dir}/mid.key`;
    const midCsr = `${dir}/mid.csr`;
    const midCrt = `${dir}/mid.crt`;
    openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', midKey]);
    openssl([
      'req',
      '-new',
      '-key',
      midKey,
      '-subj',
      '/O=Operator/CN=Operator Issuing CA',
      '-out',
      midCsr,
    ]);
    const ext = `${dir}/ext.cnf`;
    const { writeFileSync, readFileSync } = await import('node:fs');
    writeFileSync(
      ext,
      'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n',
    );
    openssl([
      'x509',
      '-req',
      '-in',
      midCsr,
      '-CA',
      root.certFile,
      '-CAkey',
      root.keyFile,
      '-CAcreateserial',
      '-days',
      '365',
      '-extfile',
      ext,
      '-out',
      midCrt,
    ]);
    const chainFile = `${dir}/chain.crt`;
    writeFileSync(chainFile, readFileSync(midCrt, 'utf8') + readFileSync(root.certFile, 'utf8'));
    const clock = testClock(new Date());
    const ca = await openCa(clock, { upstream: { certFile: chainFile, keyFile: midKey } });
    const svid = await ca.issueX509Svid({ spiffeId: `spiffe://${TD}/w`, csr: opensslCsr() });
    expect(svid.chainDer).toHaveLength(3);
    const bundle = ca.localBundle();
    expect(new X509Certificate(bundle.x509Authorities[0]?.der as Buffer).subject).toContain(
      'CN=Operator Root CA',
    );
    expect(opensslVerify(bundle, svid.chainDer, clockSeconds(clock.now())).ok).toBe(true);
    expect(verifyX509Svid(svid.chainDer, bundle, { now: clock.now() }).spiffeId.toString()).toBe(
      `spiffe://${TD}/w`,
    );
    await ca.close();
  });

  it.each([
    ['a key that does not match the certificate', 'mismatch'],
    ['a certificate that is not a CA', 'not-ca'],
    ['a CA with pathLenConstraint 0', 'pathlen0'],
  ])('refuses %s (ERR_CA_UPSTREAM)', async (_name, variant) => {
    const dir = tempDir();
    let files: { certFile: string; keyFile: string };
    if (variant === 'mismatch') {
      const a = opensslUpstreamRoot(dir);
      const other = opensslUpstreamRoot(tempDir());
      files = { certFile: a.certFile, keyFile: other.keyFile };
    } else {
      const { openssl } = await import('./support.js');
      const certFile = `${dir}/u.crt`;
      const keyFile = `${dir}/u.key`;
      openssl([
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        keyFile,
        '-out',
        certFile,
        '-days',
        '30',
        '-subj',
        '/CN=bad',
        '-addext',
        variant === 'not-ca'
          ? 'basicConstraints=critical,CA:FALSE'
          : 'basicConstraints=critical,CA:TRUE,pathlen:0',
      ]);
      files = { certFile, keyFile };
    }
    await expect(openCa(testClock(new Date()), { upstream: files })).rejects.toMatchObject({
      code: 'ERR_CA_UPSTREAM',
    });
  });
});

describe('issueOwnSvid (the broker’s own TLS identity, https_spiffe)', () => {
  it('returns a chain and an in-process key that a TLS peer trusting our bundle accepts', async () => {
    const clock = testClock(new Date());
    const ca = await openCa(clock);
    const own = await ca.issueOwnSvid(`spiffe://${TD}/spiffe/bundle-endpoint`, 600);
    const leaf = new X509Certificate(own.chainDer[0] as Buffer);
    expect(leaf.publicKey.export({ format: 'jwk' })).toEqual(
      createPublicKey(own.privateKey).export({ format: 'jwk' }),
    );
    expect(leaf.subjectAltName).toBe(`URI:spiffe://${TD}/spiffe/bundle-endpoint`);
    expect(own.notAfter.getTime() - clock.now().getTime()).toBeLessThanOrEqual(600_000);
    const server = createServer(
      { key: own.privateKey.export({ type: 'pkcs8', format: 'pem' }), cert: own.chainPem },
      (socket) => {
        socket.end('ok');
      },
    );
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    const client = connect({
      host: '127.0.0.1',
      port,
      ca: bundlePem(ca.localBundle()),
      checkServerIdentity: () => undefined,
    });
    await once(client, 'secureConnect');
    expect(client.authorized).toBe(true);
    const peer = client.getPeerX509Certificate();
    expect(peer?.subjectAltName).toBe(`URI:spiffe://${TD}/spiffe/bundle-endpoint`);
    client.destroy();
    server.close();
    await ca.close();
  });
});
