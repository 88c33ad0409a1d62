// X509-14: URI name constraints on our CA certificates, off by default (rules-x509.test.ts checks
// the default) and on with `ca.uriNameConstraints`: the extension as RFC 5280 has it, our SVIDs
// still verifying everywhere (our verifier, openssl, Go's crypto/x509), and a leaf of another
// trust domain signed with the same CA key refused by openssl and Go.
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Bundle } from '../../src/bundle/index.js';
import { parseConfig } from '../../src/config/index.js';
import { parseTrustDomain } from '../../src/spiffeid/index.js';
import { certificatePem } from '../../src/encoding/index.js';
import { verifyX509Svid } from '../../src/svid/index.js';
import {
  bundlePem,
  openCa,
  openssl,
  opensslCsr,
  opensslResult,
  opensslText,
  opensslVerify,
  removeTempDirs,
  tempDir,
  testClock,
  TD,
} from './support.js';

afterAll(removeTempDirs);

const GO_VERIFY = `package main

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
)

func load(path string) *x509.Certificate {
	raw, _ := os.ReadFile(path)
	block, _ := pem.Decode(raw)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		fmt.Println("parse:", err)
		os.Exit(2)
	}
	return cert
}

func main() {
	roots := x509.NewCertPool()
	roots.AddCert(load(os.Args[1]))
	_, err := load(os.Args[2]).Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		fmt.Println("refused:", err)
		os.Exit(1)
	}
	fmt.Println("verified")
}
`;

/** Go's crypto/x509 Verify of `leafPem` against `rootPem` alone (go-spiffe's verifier underneath). */
function goVerify(dir: string, rootPem: string, leafPem: string): string {
  writeFileSync(join(dir, 'main.go'), GO_VERIFY);
  writeFileSync(join(dir, 'root.pem'), rootPem);
  writeFileSync(join(dir, 'leaf.pem'), leafPem);
  const run = spawnSync(
    'go',
    ['run', join(dir, 'main.go'), join(dir, 'root.pem'), join(dir, 'leaf.pem')],
    { encoding: 'utf8', env: { ...process.env, GO111MODULE: 'off' } },
  );
  return `${run.stdout}${run.stderr}`.trim();
}

/**
 * What someone holding our CA key (not our CA) could sign: `dir/evil.pem`, a leaf for
 * spiffe://evil.example/w under the CA certificate `rootPem`, made with the openssl CLI.
 */
function forgeLeaf(dataDir: string, rootPem: string, dir: string): void {
  const caDir = join(dataDir, 'ca');
  const keyFile = readdirSync(caDir).find((f) => /^x509-.*\.key\.pem$/.test(f));
  if (keyFile === undefined) throw new Error('no CA key file');
  writeFileSync(join(dir, 'ca.pem'), rootPem);
  // Everything an X509-SVID needs (X509-4, X509-5), so that only the name can be what is refused.
  writeFileSync(
    join(dir, 'ext.cnf'),
    [
      'subjectAltName=critical,URI:spiffe://evil.example/w',
      'keyUsage=critical,digitalSignature',
      'basicConstraints=critical,CA:FALSE',
      '',
    ].join('\n'),
  );
  const [csr, key] = [join(dir, 'evil.csr'), join(dir, 'evil.key')];
  const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl(['req', '-new', ...newKey, '-keyout', key, '-subj', '/CN=evil', '-out', csr]);
  openssl([
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    join(dir, 'ca.pem'),
    '-CAkey',
    join(caDir, keyFile),
    '-CAcreateserial',
    '-days',
    '1',
    '-extfile',
    join(dir, 'ext.cnf'),
    '-out',
    join(dir, 'evil.pem'),
  ]);
}

describe('X509-14: URI name constraints on our CA certificates', () => {
  it('ca.uriNameConstraints is off unless set, and must be a boolean', () => {
    expect(parseConfig({ trustDomain: TD }).ca.uriNameConstraints).toBe(false);
    expect(
      parseConfig({ trustDomain: TD, ca: { uriNameConstraints: true } }).ca.uriNameConstraints,
    ).toBe(true);
    expect(() => parseConfig({ trustDomain: TD, ca: { uriNameConstraints: 'yes' } })).toThrow(
      expect.objectContaining({ code: 'ERR_CONFIG_INVALID' }),
    );
  });

  it('on: a critical nameConstraints permits URI names of our trust domain only; SVIDs verify with our verifier, openssl and Go', async () => {
    const clock = testClock(new Date());
    const dataDir = tempDir();
    const ca = await openCa(clock, { dataDir, uriNameConstraints: true });
    try {
      const [anchor] = ca.localBundle().x509Authorities;
      const text = opensslText(anchor!.der);
      expect(text).toMatch(/X509v3 Name Constraints: critical\s+Permitted:\s+URI:acme\.example\s/);

      const svid = await ca.issueX509Svid({ spiffeId: `spiffe://${TD}/w`, csr: opensslCsr() });
      const verified = verifyX509Svid(svid.chainDer, ca.localBundle(), { now: clock.now() });
      expect(verified.spiffeId.toString()).toBe(`spiffe://${TD}/w`);
      expect(opensslVerify(ca.localBundle(), svid.chainDer)).toMatchObject({ ok: true });
      const dir = tempDir('ca-nc-');
      const rootPem = bundlePem(ca.localBundle());
      expect(goVerify(dir, rootPem, certificatePem(svid.chainDer[0]!))).toBe('verified');

      // A leaf of another trust domain signed with the same CA key: refused below the constraint.
      forgeLeaf(dataDir, rootPem, dir);
      const evil = opensslResult(['verify', '-CAfile', join(dir, 'ca.pem'), join(dir, 'evil.pem')]);
      expect(evil.ok).toBe(false);
      expect(evil.output).toMatch(/permitted subtree violation/);
      expect(goVerify(dir, rootPem, readFileSync(join(dir, 'evil.pem'), 'utf8'))).toMatch(
        /^refused: .*(constraint|not permitted)/,
      );
      // Our verifier too, even given our CA as evil.example's bundle: the constraint is applied.
      const evilDer = new X509Certificate(readFileSync(join(dir, 'evil.pem'))).raw;
      const asEvil = new Bundle({
        trustDomain: parseTrustDomain('evil.example'),
        x509Authorities: ca.localBundle().x509Authorities,
      });
      expect(() => verifyX509Svid([evilDer], asEvil, { now: new Date() })).toThrow(
        expect.objectContaining({ code: 'ERR_SVID_NAME_CONSTRAINTS' }),
      );
    } finally {
      await ca.close();
    }
  }, 120_000);

  it('off (the default): the same forged leaf verifies with openssl, which is what the constraint prevents', async () => {
    const clock = testClock(new Date());
    const dataDir = tempDir();
    const ca = await openCa(clock, { dataDir });
    try {
      const [anchor] = ca.localBundle().x509Authorities;
      expect(opensslText(anchor!.der)).not.toMatch(/Name Constraints/);
      const dir = tempDir('ca-nc-off-');
      forgeLeaf(dataDir, bundlePem(ca.localBundle()), dir);
      expect(
        opensslResult(['verify', '-CAfile', join(dir, 'ca.pem'), join(dir, 'evil.pem')]).ok,
      ).toBe(true);
    } finally {
      await ca.close();
    }
  });
});
