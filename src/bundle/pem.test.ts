// Tests of PEM certificate parsing and output, and of parseBundleOrPem for bootstrap bundles (FED-1).
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { createCa, createLeaf, pemOf, type TestCert } from '../../test/helpers/pki.js';
import { codeOf } from '../../test/helpers/bundle-code.js';
import { parseTrustDomain } from '../spiffeid/index.js';
import {
  isPem,
  marshalPem,
  parseBundleOrPem,
  parsePemAuthorities,
  parsePemCertificates,
} from './index.js';

const EXAMPLE_TEXT = readFileSync(new URL('./spec-example-bundle.json', import.meta.url), 'utf8');
const ACME = parseTrustDomain('acme.example');

let caA: TestCert;
let caB: TestCert;
let leaf: TestCert;

beforeAll(async () => {
  [caA, caB] = await Promise.all([
    createCa({ trustDomain: 'acme.example' }),
    createCa({ keyAlg: 'rsa-2048' }),
  ]);
  leaf = await createLeaf(caA);
});

describe('parsePemCertificates', () => {
  it('reads every CERTIFICATE block in order', () => {
    const ders = parsePemCertificates(pemOf([caA, caB]));
    expect(ders).toHaveLength(2);
    expect(ders[0]?.equals(caA.der)).toBe(true);
    expect(ders[1]?.equals(caB.der)).toBe(true);
  });

  it.each([
    ['CRLF line endings', () => pemOf([caA, caB]).replace(/\n/g, '\r\n')],
    [
      'blank lines and indentation around blocks',
      () => `\n\n  ${pemOf(caA)}\n\t\n${pemOf(caB)}\n\n`,
    ],
    ['trailing spaces on lines', () => pemOf([caA, caB]).replace(/\n/g, '  \n')],
    ['bytes input', () => Buffer.from(pemOf([caA, caB]))],
    ['the output of marshalPem', () => marshalPem([caA.der, caB.der])],
  ])('accepts %s', (_name, input) => {
    expect(parsePemCertificates(input())).toHaveLength(2);
  });

  it.each([
    ['empty input', () => ''],
    ['only whitespace', () => '\n  \n'],
    ['garbage', () => 'hello world'],
    ['a SPIFFE JSON bundle', () => EXAMPLE_TEXT],
    ['explanatory text before a block', () => `subject=CN=x\n${pemOf(caA)}`],
    ['text between blocks', () => `${pemOf(caA)}# next\n${pemOf(caB)}`],
    [
      'a private key block',
      () =>
        generateKeyPairSync('ec', { namedCurve: 'P-256' })
          .privateKey.export({ type: 'pkcs8', format: 'pem' })
          .toString(),
    ],
    [
      'a public key block',
      () =>
        generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    ],
    [
      'a TRUSTED CERTIFICATE block',
      () => pemOf(caA).replace(/CERTIFICATE/g, 'TRUSTED CERTIFICATE'),
    ],
    [
      'a certificate then a private key',
      () =>
        pemOf(caA) +
        generateKeyPairSync('ec', { namedCurve: 'P-256' })
          .privateKey.export({ type: 'pkcs8', format: 'pem' })
          .toString(),
    ],
    ['a missing END line', () => pemOf(caA).replace('-----END CERTIFICATE-----\n', '')],
    ['a mismatched END label', () => pemOf(caA).replace('END CERTIFICATE', 'END X509 CRL')],
    ['an END without BEGIN', () => '-----END CERTIFICATE-----\n'],
    [
      'a nested BEGIN',
      () => pemOf(caA).replace(/\n(?=[^\n]+\n-----END)/, '\n-----BEGIN CERTIFICATE-----\n'),
    ],
    [
      'an encapsulated header',
      () => pemOf(caA).replace('-----\n', '-----\nProc-Type: 4,ENCRYPTED\n'),
    ],
    ['base64 with an invalid character', () => pemOf(caA).replace(/\n(.)/, '\n*')],
    ['truncated base64', () => pemOf(caA).replace(/.\n-----END/, '\n-----END')],
    ['a blank line inside the block', () => pemOf(caA).replace('-----\n', '-----\n\n')],
    ['an empty block', () => '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n'],
    ['a block that is not a certificate', () => marshalPem([Buffer.from('definitely not der')])],
    [
      'a certificate with trailing bytes',
      () => marshalPem([Buffer.concat([caA.der, Buffer.from([0])])]),
    ],
    ['invalid UTF-8 bytes', () => Buffer.concat([Buffer.from(pemOf(caA)), Buffer.from([0xff])])],
  ])('rejects %s with ERR_BUNDLE_PEM', (_name, input) => {
    expect(codeOf(() => parsePemCertificates(input()))).toBe('ERR_BUNDLE_PEM');
  });

  it('does not echo private key material in the error', () => {
    const keyPem = generateKeyPairSync('ec', { namedCurve: 'P-256' })
      .privateKey.export({ type: 'pkcs8', format: 'pem' })
      .toString();
    const line = keyPem.split('\n')[1] ?? '';
    try {
      parsePemCertificates(keyPem);
      expect.unreachable();
    } catch (error) {
      expect((error as Error).message).not.toContain(line.slice(0, 20));
    }
  });

  it('rejects input over 1 MiB with ERR_BUNDLE_TOO_LARGE', () => {
    expect(codeOf(() => parsePemCertificates(' '.repeat(1024 * 1024 + 1)))).toBe(
      'ERR_BUNDLE_TOO_LARGE',
    );
  });

  it('stays fast on a long run of spaces (no quadratic trimming)', () => {
    expect(codeOf(() => parsePemCertificates(' '.repeat(1_000_000) + 'x'))).toBe('ERR_BUNDLE_PEM');
  });

  it('a leaf certificate is still a certificate', () => {
    expect(parsePemCertificates(pemOf(leaf))).toHaveLength(1);
  });
});

describe('parsePemAuthorities', () => {
  it('BUNDLE-23 gives X.509 authorities, deduplicated by DER', () => {
    const authorities = parsePemAuthorities(pemOf([caA, caB, caA]));
    expect(authorities.map((a) => a.der)).toEqual([caA.der, caB.der]);
  });

  it('BUNDLE-21 refuses a certificate that is not a CA with ERR_BUNDLE_PEM', () => {
    expect(codeOf(() => parsePemAuthorities(pemOf([caA, leaf])))).toBe('ERR_BUNDLE_PEM');
  });
});

describe('marshalPem', () => {
  it('writes 64-character lines and round-trips', () => {
    const pem = marshalPem([caA.der, caB.der]);
    const bodyLines = pem.split('\n').filter((l) => l !== '' && !l.startsWith('-----'));
    expect(bodyLines.slice(0, -1).every((l) => l.length <= 64)).toBe(true);
    expect(pem.match(/-----BEGIN CERTIFICATE-----\n/g)).toHaveLength(2);
    expect(pem.endsWith('-----END CERTIFICATE-----\n')).toBe(true);
    expect(parsePemCertificates(pem)).toEqual([caA.der, caB.der]);
  });

  it('accepts Uint8Array views at an offset', () => {
    const padded = Buffer.concat([Buffer.from([1, 2, 3]), caA.der]);
    const view = new Uint8Array(padded.buffer, padded.byteOffset + 3, caA.der.length);
    expect(parsePemCertificates(marshalPem([view]))[0]?.equals(caA.der)).toBe(true);
  });

  it('gives an empty string for no certificates', () => {
    expect(marshalPem([])).toBe('');
  });
});

describe('FED-1 parseBundleOrPem', () => {
  it('FED-1 PEM gives a bundle with X.509 authorities only', () => {
    const bundle = parseBundleOrPem(pemOf([caA, caB]), ACME);
    expect(bundle.trustDomain.name).toBe('acme.example');
    expect(bundle.x509Authorities.map((a) => a.der)).toEqual([caA.der, caB.der]);
    expect(bundle.jwtAuthorities.size).toBe(0);
    expect(bundle.sequence).toBeUndefined();
    expect(bundle.refreshHintSeconds).toBeUndefined();
  });

  it('FED-1 PEM after leading whitespace, as bytes', () => {
    expect(parseBundleOrPem(Buffer.from(`\r\n  ${pemOf(caA)}`), ACME).x509Authorities).toHaveLength(
      1,
    );
  });

  it('FED-1 SPIFFE bundle JSON goes through parseBundle', () => {
    const bundle = parseBundleOrPem(EXAMPLE_TEXT, ACME);
    expect(bundle.sequence).toBe(7n);
    expect(bundle.jwtAuthorities.size).toBe(1);
  });

  it.each([
    ['broken PEM', () => '-----BEGIN CERTIFICATE-----\nAAAA\n', 'ERR_BUNDLE_PEM'],
    [
      'a PEM private key',
      () =>
        generateKeyPairSync('ed25519')
          .privateKey.export({ type: 'pkcs8', format: 'pem' })
          .toString(),
      'ERR_BUNDLE_PEM',
    ],
    ['PEM of a leaf', () => pemOf(leaf), 'ERR_BUNDLE_PEM'],
    ['JSON that is not a bundle', () => '{}', 'ERR_BUNDLE_KEYS_MISSING'],
    ['neither', () => 'hello', 'ERR_BUNDLE_JSON'],
  ])('FED-1 rejects %s', (_name, input, code) => {
    expect(codeOf(() => parseBundleOrPem(input(), ACME))).toBe(code);
  });

  it.each([
    ['-----BEGIN CERTIFICATE-----', true],
    [' \n\t-----BEGIN X', true],
    [Buffer.from('\n-----BEGIN'), true],
    ['----BEGIN', false],
    ['{"keys":[]}', false],
    ['x-----BEGIN', false],
    ['', false],
    [new Uint8Array(0), false],
  ])('isPem(%j) is %s', (input, expected) => {
    expect(isPem(input)).toBe(expected);
  });

  it('throws TypeError for caller mistakes', () => {
    expect(() => parseBundleOrPem(null as unknown as string, ACME)).toThrow(TypeError);
    expect(() => parseBundleOrPem('{}', {} as typeof ACME)).toThrow(TypeError);
  });
});
