// A CSR whose EC point is compressed (review 16 F4; X509-8, BUNDLE-30's aim): the proof of
// possession is checked on the key as sent, and the leaf carries the point uncompressed, with its
// SKI over that, because Go's crypto/x509 (go-spiffe, SPIRE) cannot parse a compressed point.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createCa, type Ca } from '../../src/ca/index.js';
import { spkiKeyBits } from '../../src/ca/subject-key.js';
import { openssl, opensslVerify, removeTempDirs, TD, tempDir, testClock } from './support.js';

afterAll(removeTempDirs);

const CURVES = [
  ['P-256', 'prime256v1', 32],
  ['P-384', 'secp384r1', 48],
  ['P-521', 'secp521r1', 66],
] as const;

/** A CSR made by openssl from a key written with -conv_form compressed, and that key. */
function compressedCsr(opensslCurve: string): { csr: Buffer; keyPem: string } {
  const dir = tempDir('ca-ccsr-');
  const at = (name: string): string => join(dir, name);
  openssl(['ecparam', '-name', opensslCurve, '-genkey', '-noout', '-out', at('k.pem')]);
  openssl(['ec', '-in', at('k.pem'), '-conv_form', 'compressed', '-out', at('kc.pem')]);
  openssl(
    ['req', '-new', '-key', at('kc.pem'), '-subj', '/CN=w', '-outform', 'DER'].concat([
      '-out',
      at('csr.der'),
    ]),
  );
  return { csr: readFileSync(at('csr.der')), keyPem: readFileSync(at('k.pem'), 'utf8') };
}

/** The CSR's subjectPublicKey bits (its SPKI is the first SEQUENCE holding the EC OID). */
function csrPointPrefix(csr: Buffer, bytes: number): number | undefined {
  const at = csr.indexOf(Buffer.from([0x03, bytes + 2, 0x00]));
  return at < 0 ? undefined : csr[at + 3];
}

const GO_PARSE = `package main

import (
	"crypto/x509"
	"fmt"
	"os"
)

func main() {
	der, err := os.ReadFile(os.Args[1])
	if err != nil {
		panic(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		fmt.Println("refused:", err)
		os.Exit(1)
	}
	fmt.Println("parsed:", cert.URIs[0])
}
`;

/** `go run` of a program calling crypto/x509.ParseCertificate on `der`, as go-spiffe does. */
function goParse(der: Uint8Array): { ok: boolean; output: string } {
  const dir = tempDir('ca-go-');
  writeFileSync(join(dir, 'main.go'), GO_PARSE);
  writeFileSync(join(dir, 'leaf.der'), der);
  const run = spawnSync('go', ['run', join(dir, 'main.go'), join(dir, 'leaf.der')], {
    encoding: 'utf8',
    env: { ...process.env, GO111MODULE: 'off' },
  });
  return { ok: run.status === 0, output: `${run.stdout}${run.stderr}` };
}

async function openTestCa(inFlight: number): Promise<Ca> {
  return createCa(
    { now: testClock(new Date()).nowMs, requestsInFlight: () => inFlight },
    { trustDomain: TD, dataDir: tempDir(), csrCheckWorkers: 1 },
  );
}

describe('compressed EC points in CSRs (review 16 F4)', () => {
  it.each(CURVES)(
    '%s: the leaf carries the point uncompressed, its SKI over it, and openssl verifies it',
    async (_curve, opensslCurve, bytes) => {
      const { csr, keyPem } = compressedCsr(opensslCurve);
      expect([2, 3]).toContain(csrPointPrefix(csr, bytes));
      const ca = await openTestCa(0);
      try {
        const svid = await ca.issueX509Svid({ spiffeId: `spiffe://${TD}/w`, csr });
        const leaf = svid.chainDer[0] as Buffer;
        const spki = new X509Certificate(leaf).publicKey.export({ type: 'spki', format: 'der' });
        const point = spkiKeyBits(spki);
        expect([point[0], point.length]).toEqual([4, 1 + 2 * bytes]);
        // The same key as the CSR's private key, and the leaf holds exactly that SPKI.
        const expected = createPublicKey(createPrivateKey(keyPem)).export({
          type: 'spki',
          format: 'der',
        });
        expect(spki.equals(expected)).toBe(true);
        expect(leaf.includes(expected)).toBe(true);
        const ski = createHash('sha1').update(point).digest('hex').toUpperCase();
        const text = execFileSync('openssl', ['x509', '-inform', 'DER', '-noout', '-text'], {
          input: leaf,
          encoding: 'utf8',
        });
        expect(text.replaceAll(':', '')).toContain(ski);
        expect(opensslVerify(ca.localBundle(), svid.chainDer).ok).toBe(true);
      } finally {
        await ca.close();
      }
    },
  );

  // Go is installed by .ci/run (golang-go), as for the Go workload of the Workload API tests.
  it("Go's crypto/x509 parses the leaf (it refuses compressed points)", async () => {
    const ca = await openTestCa(0);
    try {
      const { csr } = compressedCsr('prime256v1');
      const svid = await ca.issueX509Svid({ spiffeId: `spiffe://${TD}/w`, csr });
      const parsed = goParse(svid.chainDer[0] as Buffer);
      expect(parsed.output).toContain(`parsed: spiffe://${TD}/w`);
      expect(parsed.ok).toBe(true);
    } finally {
      await ca.close();
    }
  }, 120_000);

  it.each([
    ['idle (checked, then signed)', 0],
    ['busy (checked and signed together on the pool)', 5],
  ])('keeps the proof of possession on the CSR as sent, %s', async (_name, inFlight) => {
    const ca = await openTestCa(inFlight);
    try {
      const { csr } = compressedCsr('prime256v1');
      const tampered = Buffer.from(csr);
      // The last byte is in the signature: it no longer verifies with the (compressed) key.
      tampered[tampered.length - 1] = (tampered[tampered.length - 1] as number) ^ 1;
      await expect(
        ca.issueX509Svid({ spiffeId: `spiffe://${TD}/w`, csr: tampered }),
      ).rejects.toMatchObject({ code: 'ERR_CA_CSR_SIGNATURE' });
      const handle = await ca.checkCsr(csr);
      const svid = await ca.issueX509Svid({ spiffeId: `spiffe://${TD}/w`, csr: handle });
      const spki = new X509Certificate(svid.chainDer[0] as Buffer).publicKey.export({
        type: 'spki',
        format: 'der',
      });
      expect(spkiKeyBits(spki)[0]).toBe(4);
    } finally {
      await ca.close();
    }
  });

  it('refuses a compressed x with no point on the curve as a bad key, idle and busy (ERR_CA_CSR_INVALID)', async () => {
    for (const inFlight of [0, 5]) {
      const ca = await openTestCa(inFlight);
      try {
        const { csr } = compressedCsr('prime256v1');
        const offCurve = Buffer.from(csr);
        const at = offCurve.indexOf(Buffer.from([0x03, 0x22, 0x00])) + 4;
        // Try x values until one has no y (about half do); the signature no longer matters.
        let refused: unknown;
        for (let i = 0; i < 16 && refused === undefined; i++) {
          offCurve[at] = (offCurve[at] as number) ^ (i + 1);
          refused = await ca
            .issueX509Svid({ spiffeId: `spiffe://${TD}/w`, csr: offCurve })
            .then(() => undefined)
            .catch((error: { code?: string }) =>
              error.code === 'ERR_CA_CSR_INVALID' ? error : undefined,
            );
        }
        expect(refused).toMatchObject({ code: 'ERR_CA_CSR_INVALID' });
      } finally {
        await ca.close();
      }
    }
  });
});
