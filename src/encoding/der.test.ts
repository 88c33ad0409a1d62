// The encoding room's DER reader and writer: strict DER lengths (X.690 §10.1, X509-20), the one OID
// printer, small INTEGERs, and RFC 5280 times, INTEGERs and long-form lengths from the writer.
import { describe, expect, it } from 'vitest';
import {
  content,
  DerError,
  describeOid,
  expectTlv,
  oid,
  checkDerTree,
  checkOid,
  oidText,
  readTlv,
  smallUint,
  time,
  tlv,
  unsignedInteger,
} from './index.js';

const hex = (h: string): Buffer => Buffer.from(h.replace(/\s+/g, ''), 'hex');

describe('der-reader', () => {
  it.each([
    ['X509-20: truncated header', '30'],
    ['X509-20: high tag number', '1f0100'],
    ['X509-20: indefinite length', '308000 00'],
    ['X509-20: length of more than four octets', '3085 0000000001 00'],
    ['X509-20: truncated length octets', '3082 01'],
    ['X.690 §10.1: non-minimal long form (leading zero octet)', '3082 0001 00'],
    ['X.690 §10.1: long form for a length under 128', '3081 01 00'],
    ['X509-20: content runs past its container', '3003 0000'],
  ])('%s is refused with ERR_ENCODING_DER', (_name, input) => {
    const bytes = hex(input);
    let thrown: unknown;
    try {
      readTlv(bytes, 0);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(DerError);
    expect(thrown).toMatchObject({ code: 'ERR_ENCODING_DER' });
  });

  it('reads short and minimal long-form lengths', () => {
    expect(readTlv(hex('0403 010203'), 0)).toEqual({ tag: 4, start: 0, contentStart: 2, end: 5 });
    const long = Buffer.concat([hex('0481 80'), Buffer.alloc(128)]);
    expect(readTlv(long, 0)).toEqual({ tag: 4, start: 0, contentStart: 3, end: 131 });
  });

  it('names the field that has the wrong tag when told what it is', () => {
    expect(() => expectTlv(hex('0400'), 0, 0x30, undefined, 'certificate')).toThrow(
      'expected certificate',
    );
    expect(() => expectTlv(hex('0400'), 0, 0x30)).toThrow('expected tag 0x30, found 0x4');
  });

  it.each([
    ['00', 0],
    ['7f', 127],
    ['0080', 128],
    ['7fffffff', 0x7fffffff],
    ['0100000000', 0x7fffffff],
  ])('small INTEGER %s reads as %d (capped at 2^31-1)', (body, value) => {
    const der = tlv(0x02, hex(body));
    expect(smallUint(der, readTlv(der, 0))).toBe(value);
  });

  it.each([
    ['empty', ''],
    ['negative', '80'],
    ['non-minimal', '0001'],
  ])('a %s INTEGER is refused where a count is expected', (_name, body) => {
    const der = tlv(0x02, hex(body));
    expect(() => smallUint(der, readTlv(der, 0))).toThrow(DerError);
  });

  it('prints OIDs dotted, and malformed ones as hex for messages only', () => {
    expect(oidText(hex('2a864886f70d01010b'))).toBe('1.2.840.113549.1.1.11');
    expect(oidText(hex('551d13'))).toBe('2.5.29.19');
    expect(oidText(hex('8837'))).toBe('2.999');
    expect(() => oidText(hex('2a80'))).toThrow(DerError);
    expect(() => oidText(hex('2a86'))).toThrow(DerError);
    expect(describeOid(hex('551d13'))).toBe('2.5.29.19');
    expect(describeOid(hex('2a86'))).toBe('hex:2a86');
  });

  it.each([
    '2a864886f70d01010b',
    '551d13',
    '8837',
    '',
    '2a80',
    '2a86',
    '80',
    '8080',
    '0f8fffffffffffff7f',
    '0f90808080808080807f',
  ])('checkOid agrees with oidText on %s', (body) => {
    const der = tlv(0x06, hex(body));
    const printed = (() => {
      try {
        oidText(hex(body));
        return 'ok';
      } catch (error) {
        return (error as Error).message;
      }
    })();
    if (printed === 'ok') expect(() => checkOid(der, readTlv(der, 0))).not.toThrow();
    else expect(() => checkOid(der, readTlv(der, 0))).toThrow(printed);
  });

  it.each([
    ['a SEQUENCE in primitive form', '1003020101'],
    ['a SET in primitive form', '1100'],
    ['an INTEGER in constructed form', '2203020101'],
    ['a BOOLEAN of two octets', '30040102ffff'],
    ['an empty INTEGER', '30020200'],
    ['a NULL with content', '3003050100'],
    ['a BIT STRING without its unused-bits octet', '30020300'],
    ['a BIT STRING claiming 8 unused bits', '3003030108'],
    ['a truncated OBJECT IDENTIFIER', '300406022a86'],
    ['a child that overruns its parent', '3003020201'],
  ])('checkDerTree refuses %s', (_name, body) => {
    const der = hex(body);
    expect(() => checkDerTree(der, readTlv(der, 0))).toThrow(DerError);
  });

  it('checkDerTree accepts nested strict DER with context tags', () => {
    const der = hex('3012 0101ff 020100 0500 0603551d13 a103 020101'.replace(/ /g, ''));
    expect(() => checkDerTree(der, readTlv(der, 0))).not.toThrow();
  });
});

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
});
