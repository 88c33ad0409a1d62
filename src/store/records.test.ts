// Unit tests of the shared record rules: lossless sequence order, the FED-32 decision table, input checks.
import { describe, expect, it } from 'vitest';
import {
  auditRecordFromDraft,
  bundleRecordFromInput,
  compareSequences,
  decideBundlePut,
  decideLocalBundlePut,
  decodeBundle,
  digestOf,
  isCanonicalSequence,
  matchesAuditQuery,
  putBundleResult,
} from './records.js';

const MAX = '18446744073709551615';

describe('sequences (BUNDLE-4)', () => {
  it.each([
    ['0', '1', -1],
    ['9', '10', -1],
    ['10', '9', 1],
    ['9007199254740992', '9007199254740993', -1],
    [MAX, '18446744073709551614', 1],
    ['42', '42', 0],
  ] as const)('compareSequences(%s, %s) = %i', (a, b, expected) => {
    expect(compareSequences(a, b)).toBe(expected);
  });

  it.each([['0'], ['1'], [MAX], ['9007199254740993']])('accepts %s', (s) => {
    expect(isCanonicalSequence(s)).toBe(true);
  });

  it.each([[''], ['-1'], ['01'], ['1.0'], ['1e3'], [' 1'], ['18446744073709551616'], ['+1']])(
    'refuses %j',
    (s) => {
      expect(isCanonicalSequence(s)).toBe(false);
    },
  );
});

describe('decideBundlePut (FED-32)', () => {
  const at = (sequence: string | null, digest = 'd1') => ({ sequence, digest });
  it.each([
    ['nothing stored', undefined, at('1'), false, 'created'],
    ['higher sequence', at('5'), at('6', 'd2'), false, 'replaced'],
    ['lower sequence', at('6'), at('5', 'd2'), false, 'stale'],
    ['lower sequence forced', at('6'), at('5', 'd2'), true, 'replaced'],
    ['equal sequence, same bytes', at('6'), at('6'), false, 'unchanged'],
    ['equal sequence, same bytes, forced', at('6'), at('6'), true, 'unchanged'],
    ['equal sequence, other bytes', at('6'), at('6', 'd2'), false, 'replaced'],
    ['no sequence stored', at(null), at('1', 'd2'), false, 'replaced'],
    ['no sequence fetched', at('9'), at(null, 'd2'), false, 'replaced'],
    ['neither has one, same bytes', at(null), at(null), false, 'unchanged'],
  ] as const)('%s → %s', (_name, stored, next, force, expected) => {
    expect(decideBundlePut(stored, next, force)).toBe(expected);
  });

  it('flags an equal sequence with other content as an anomaly', () => {
    const previous = bundleRecordFromInput({
      trustDomain: 'a.example',
      raw: '{"keys":[]}',
      sequence: '3',
      fetchedAt: 1,
      sourceUrl: null,
      refreshHintSeconds: null,
    });
    const next = bundleRecordFromInput({ ...previous, raw: '{"keys":[1]}' });
    expect(putBundleResult('replaced', next, previous).sameSequenceChanged).toBe(true);
    expect(putBundleResult('unchanged', next, previous).current).toBe(previous);
  });
});

describe('decideLocalBundlePut (FED-50)', () => {
  it.each([
    [undefined, '1', 'd', 'written'],
    [{ sequence: '1', digest: 'd' }, '2', 'e', 'written'],
    [{ sequence: '2', digest: 'd' }, '2', 'd', 'unchanged'],
    [{ sequence: '2', digest: 'd' }, '2', 'e', 'stale'],
    [{ sequence: '2', digest: 'd' }, '1', 'e', 'stale'],
  ] as const)('stored %j, next %s → %s', (stored, sequence, digest, expected) => {
    expect(decideLocalBundlePut(stored, { sequence, digest })).toBe(expected);
  });
});

describe('records', () => {
  it('digests the raw bytes with SHA-256', () => {
    expect(digestOf('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });

  it('refuses caller mistakes in bundle input as TypeError', () => {
    const good = {
      trustDomain: 'a.example',
      raw: '{}',
      sequence: '1',
      fetchedAt: 1,
      sourceUrl: null,
      refreshHintSeconds: null,
    };
    expect(() => bundleRecordFromInput({ ...good, fetchedAt: -1 })).toThrow(TypeError);
    expect(() => bundleRecordFromInput({ ...good, refreshHintSeconds: 0 })).toThrow(TypeError);
    expect(() => bundleRecordFromInput({ ...good, sequence: '1.5' })).toThrow(TypeError);
  });

  it('reports stored garbage as ERR_STORE_CORRUPT', () => {
    expect(() => decodeBundle('not json')).toThrow(
      expect.objectContaining({ code: 'ERR_STORE_CORRUPT' }),
    );
    expect(() => decodeBundle('{"raw":1}')).toThrow(
      expect.objectContaining({ code: 'ERR_STORE_CORRUPT' }),
    );
  });

  it('matches audit filters (since inclusive, until exclusive)', () => {
    const record = auditRecordFromDraft(7, {
      time: 100,
      type: 't',
      actor: 'alice',
      trustDomain: 'a.example',
      data: {},
      previousHash: null,
      hash: 'h',
    });
    expect(matchesAuditQuery(record, { limit: 1, sinceMs: 100, untilMs: 101 })).toBe(true);
    expect(matchesAuditQuery(record, { limit: 1, untilMs: 100 })).toBe(false);
    expect(matchesAuditQuery(record, { limit: 1, actor: 'bob' })).toBe(false);
    expect(matchesAuditQuery(record, { limit: 1, trustDomain: 'a.example', type: 't' })).toBe(true);
  });
});
