// The lean DER writer/reader and the CSR reader, checked against node:crypto's own X.509 parser.
import { generateKeyPairSync, sign, X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createCsrCheckPool } from './csr-check-pool.js';
import { parseCsr, readVerifiedCsr } from './csr.js';
import { children, content, expectTlv, oidText } from './der-reader.js';
import {
  bitString,
  name,
  oid,
  sequence,
  smallInteger,
  time,
  tlv,
  unsignedInteger,
} from './der-writer.js';
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

describe('der-writer', () => {
  it.each([
    ['2030-01-02T03:04:05Z', '170d3330303130323033303430355a'],
    ['1950-01-01T00:00:00Z', '170d3530303130313030303030305a'],
    ['2049-12-31T23:59:59.999Z', '170d3439313233313233353935395a'],
    ['2050-01-01T00:00:00Z', '180f32303530303130313030303030305a'],
  ])('RFC 5280 time for %s', (iso, hex) => {
    expect(time(Date.parse(iso)).toString('hex')).toBe(hex);
  });

  it.each([
    ['00', '020100'],
    ['0000ff', '020200ff'],
    ['7f', '02017f'],
    ['80', '02020080'],
  ])('minimal INTEGER for %s', (input, hex) => {
    expect(unsignedInteger(Buffer.from(input, 'hex')).toString('hex')).toBe(hex);
  });

  it('encodes lengths in long form and OIDs that the reader decodes back', () => {
    const long = tlv(0x04, Buffer.alloc(300));
    expect(long.subarray(0, 4).toString('hex')).toBe('0482012c');
    const id = oid('1.2.840.113549.1.1.11');
    expect(oidText(content(id, expectTlv(id, 0, 0x06)))).toBe('1.2.840.113549.1.1.11');
  });

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

  it('refuses non-DER input with a TypeError only for the wrong type', () => {
    expect(() => parseCsr('x' as unknown as Uint8Array)).toThrow(TypeError);
    expect(() => parseCsr(Buffer.from([0x30, 0x80, 0, 0]))).toThrow(
      expect.objectContaining({ code: 'ERR_CA_CSR_INVALID' }),
    );
  });
});
