// The certificate encoder and the CSR reader, checked against node:crypto's own X.509 parser.
// (The DER reader and writer themselves are tested in src/encoding/der.test.ts.)
import { generateKeyPairSync, sign, X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createCsrCheckPool } from './csr-check-pool.js';
import { parseCsr, readVerifiedCsr } from './csr.js';
import {
  bitString,
  children,
  expectTlv,
  name,
  oid,
  sequence,
  smallInteger,
  tlv,
} from '../encoding/index.js';
import { signingProfileOf } from './key-type.js';
import { keyIdentifier, spkiKeyBits } from './subject-key.js';
import { caSubjectName, encodeCaTbs, randomSerial, signTbsSync } from './x509-encoder.js';

function csrFor(keyType: 'ec' | 'rsa', tamper = false): Buffer {
  const { privateKey, publicKey } =
    keyType === 'ec'
      ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
      : generateKeyPairSync('rsa', { modulusLength: 2048 });
  const info = sequence(
    smallInteger(0),
    name([['2.5.4.3', 'w']]),
    publicKey.export({ type: 'spki', format: 'der' }),
    tlv(0xa0),
  );
  const signature = sign(
    'sha256',
    tamper ? Buffer.concat([info, Buffer.from([0])]) : info,
    privateKey,
  );
  const algorithm =
    keyType === 'ec'
      ? sequence(oid('1.2.840.10045.4.3.2'))
      : sequence(oid('1.2.840.113549.1.1.11'), Buffer.from([5, 0]));
  return sequence(info, algorithm, bitString(signature));
}

describe('x509-encoder', () => {
  it('random serials are 16 positive octets', () => {
    for (let i = 0; i < 100; i++) {
      const serial = randomSerial();
      expect(serial).toHaveLength(16);
      expect(serial[0]).toBeGreaterThanOrEqual(0x40);
      expect(serial[0]).toBeLessThan(0x80);
    }
  });

  it('a CA certificate we encode is parsed by node and self-verifies', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    const spki = publicKey.export({ type: 'spki', format: 'der' });
    const ski = keyIdentifier(spkiKeyBits(spki));
    const subject = caSubjectName('acme.example', ski.toString('hex'));
    const profile = signingProfileOf(privateKey);
    if (profile === undefined) throw new Error('profile');
    const signer = { privateKey, profile, subjectNameDer: subject, keyIdentifier: ski };
    const der = signTbsSync(
      signer,
      encodeCaTbs(signer, {
        serial: randomSerial(),
        notBeforeMs: Date.parse('2030-01-01T00:00:00Z'),
        notAfterMs: Date.parse('2030-01-02T00:00:00Z'),
        subjectNameDer: subject,
        spkiDer: spki,
        subjectKeyId: ski,
        trustDomainUri: 'spiffe://acme.example',
      }),
    );
    const cert = new X509Certificate(der);
    expect(cert.ca).toBe(true);
    expect(cert.verify(publicKey)).toBe(true);
    expect(cert.subjectAltName).toBe('URI:spiffe://acme.example');
    expect(cert.validFrom).toBe('Jan  1 00:00:00 2030 GMT');
    const outer = expectTlv(der, 0, 0x30);
    expect(children(der, outer)).toHaveLength(3);
  });
});

describe('CSR reader', () => {
  it.each(['ec', 'rsa'] as const)(
    'accepts a well-formed %s CSR and returns its SPKI verbatim',
    async (kind) => {
      const csr = csrFor(kind);
      const parsed = parseCsr(csr);
      expect(csr.includes(parsed.subjectKey.spkiDer)).toBe(true);
      const key = await readVerifiedCsr(csr);
      expect(key.family).toBe(kind);
    },
  );

  it('refuses a CSR whose signature covers other bytes', async () => {
    await expect(readVerifiedCsr(csrFor('ec', true))).rejects.toMatchObject({
      code: 'ERR_CA_CSR_SIGNATURE',
    });
  });

  it('gives the same verdicts on worker threads, and inline when the pool is gone', async () => {
    const pool = createCsrCheckPool(2);
    const good = [...Array.from({ length: 6 }, () => csrFor('ec')), csrFor('rsa')];
    const bad = [...Array.from({ length: 6 }, () => csrFor('ec', true)), csrFor('rsa', true)];
    const results = await Promise.allSettled(
      [...good, ...bad].map((c) => readVerifiedCsr(c, { busy: true, pool })),
    );
    expect(results.slice(0, 7).map((r) => r.status)).toEqual(Array(7).fill('fulfilled'));
    for (const r of results.slice(7)) {
      expect(r).toMatchObject({ status: 'rejected', reason: { code: 'ERR_CA_CSR_SIGNATURE' } });
    }
    await pool.close();
    await expect(readVerifiedCsr(csrFor('ec'), { busy: true, pool })).resolves.toMatchObject({
      family: 'ec',
    });
    await expect(readVerifiedCsr(csrFor('ec', true), { busy: true, pool })).rejects.toMatchObject({
      code: 'ERR_CA_CSR_SIGNATURE',
    });
  });

  it('X509-20 / X.690: refuses a CSR whose lengths are BER (non-minimal), as the svid reader does', () => {
    const csr = csrFor('ec');
    // Re-encode the outer SEQUENCE length in one more byte than needed: 0x81 nn -> 0x82 00 nn.
    expect(csr[1]).toBe(0x81);
    const ber = Buffer.concat([Buffer.from([0x30, 0x82, 0x00]), csr.subarray(2)]);
    expect(() => parseCsr(ber)).toThrow(expect.objectContaining({ code: 'ERR_CA_CSR_INVALID' }));
  });

  it('refuses non-DER input with a TypeError only for the wrong type', () => {
    expect(() => parseCsr('x' as unknown as Uint8Array)).toThrow(TypeError);
    expect(() => parseCsr(Buffer.from([0x30, 0x80, 0, 0]))).toThrow(
      expect.objectContaining({ code: 'ERR_CA_CSR_INVALID' }),
    );
  });
});
