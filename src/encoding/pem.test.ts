// PEM encoding (RFC 7468: 64-character base64 lines, LF) for certificates and CSRs, the lenient
// certificate block reader for operator files, and sha256Hex over bytes and UTF-8 text.
import { createHash, X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createCa } from '../../test/helpers/pki.js';
import {
  certificatePem,
  certificatesFromPem,
  csrPem,
  pemBlock,
  PemError,
  readPemBlocks,
  sha256Hex,
} from './index.js';

const ca = await createCa({ trustDomain: 'pem.example' });

describe('pem', () => {
  it('writes a certificate block that node:crypto reads back, 64 characters per line', () => {
    const pem = certificatePem(ca.der);
    expect(new X509Certificate(pem).raw.equals(ca.der)).toBe(true);
    const lines = pem.split('\n');
    expect(lines[0]).toBe('-----BEGIN CERTIFICATE-----');
    expect(lines.at(-2)).toBe('-----END CERTIFICATE-----');
    expect(lines.at(-1)).toBe('');
    expect(lines.slice(1, -2).every((l) => l.length > 0 && l.length <= 64)).toBe(true);
    expect(lines.slice(1, -3).every((l) => l.length === 64)).toBe(true);
  });

  it('labels CSRs CERTIFICATE REQUEST', () => {
    expect(csrPem(Buffer.from([0x30, 0]))).toBe(
      '-----BEGIN CERTIFICATE REQUEST-----\nMAA=\n-----END CERTIFICATE REQUEST-----\n',
    );
  });

  it('reads certificate blocks back in order, skipping text around them', () => {
    const other = Buffer.from([0x30, 0x03, 0x02, 0x01, 0x07]);
    const text = `Bag Attributes\n${certificatePem(ca.der)}subject=x\n${pemBlock('CERTIFICATE', other)}`;
    const ders = certificatesFromPem(text + pemBlock('PRIVATE KEY', Buffer.from([1])));
    expect(ders.map((d) => d.toString('hex'))).toEqual([
      ca.der.toString('hex'),
      other.toString('hex'),
    ]);
  });

  it.each([
    [
      'text before a block',
      'hello\n-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----',
      1,
    ],
    [
      'another label (RFC 7468 §2)',
      '\n-----BEGIN PRIVATE KEY-----\nMAA=\n-----END PRIVATE KEY-----',
      2,
    ],
    [
      'an encapsulated header',
      '-----BEGIN CERTIFICATE-----\nProc-Type: 4\n-----END CERTIFICATE-----',
      2,
    ],
    ['a mismatched END', '-----BEGIN CERTIFICATE-----\nMAA=\n-----END X-----', 1],
    ['no END', '-----BEGIN CERTIFICATE-----\nMAA=', 1],
  ])('strict reading refuses %s with ERR_ENCODING_PEM naming the line', (_name, text, line) => {
    let thrown: unknown;
    try {
      readPemBlocks(text, { label: 'CERTIFICATE', noun: 'certificate' });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(PemError);
    expect(thrown).toMatchObject({ code: 'ERR_ENCODING_PEM', line, context: { line } });
  });

  it('strict reading accepts CRLF and surrounding spaces, and gives each BEGIN line', () => {
    const text = ' \r\n-----BEGIN CERTIFICATE-----\r\n  MAA=\t\r\n-----END CERTIFICATE-----\r\n';
    expect(readPemBlocks(text, { label: 'CERTIFICATE', noun: 'certificate' })).toEqual([
      { base64: 'MAA=', line: 2 },
    ]);
  });

  it('lenient reading drops an unterminated block instead of failing', () => {
    const text = `${certificatePem(ca.der)}-----BEGIN CERTIFICATE-----\nMAA=\n`;
    expect(certificatesFromPem(text)).toHaveLength(1);
  });

  it('sha256Hex hashes bytes, and strings as UTF-8', () => {
    const expected = createHash('sha256').update(Buffer.from('ü', 'utf8')).digest('hex');
    expect(sha256Hex('ü')).toBe(expected);
    expect(sha256Hex(Buffer.from('ü', 'utf8'))).toBe(expected);
  });
});
