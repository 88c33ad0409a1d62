// Node state parsing and entry matching: one malformed entry is left out without hiding the
// others, hex selectors compare in lower case, all selectors of an entry must match, and the
// binary's sha256 is wanted only when an entry could match on it.
import { describe, expect, it } from 'vitest';
import { marshalBundle, parseStrictJson, Bundle } from '../bundle/index.js';
import { parseTrustDomain } from '../spiffeid/index.js';
import { instanceOf, matchEntries, needsBinaryHash, parseNodeState } from './node-state.js';

const TD = parseTrustDomain('node.test');
const PIN = `unix:sha256:${'ab'.repeat(32)}`;
const BUNDLE = JSON.parse(
  marshalBundle(new Bundle({ trustDomain: TD })).toString('utf8'),
) as unknown;

function entry(id: string, selectors: string[]): Record<string, unknown> {
  return {
    id,
    spiffeId: `spiffe://node.test/${id}`,
    parentId: 'spiffe://node.test/nodes/a',
    selectors,
    federatesWith: [],
    ttlSeconds: null,
    dnsNames: [],
  };
}

describe('parseNodeState', () => {
  it('leaves out a malformed entry and keeps the others', () => {
    const state = parseNodeState(
      {
        revision: '1',
        entries: [entry('good', ['unix:uid:0']), entry('bad', ['unix:nope:1']), 42],
        bundles: { 'node.test': BUNDLE },
      },
      TD,
    );
    expect(state.entries.map((e) => e.id)).toEqual(['good']);
    expect(state.skippedEntries).toBe(2);
  });

  it('reads a TTL parsed losslessly (JsonNumber) as a number', () => {
    const state = parseNodeState(
      parseStrictJson(
        JSON.stringify({
          revision: '1',
          entries: [{ ...entry('e', ['unix:uid:0']), ttlSeconds: 60 }],
          bundles: { 'node.test': BUNDLE },
        }),
      ),
      TD,
    );
    expect(state.entries[0]?.ttlSeconds).toBe(60);
  });

  it('refuses a state without our own bundle (ERR_WORKLOAD_STATE_INVALID)', () => {
    expect(() => parseNodeState({ revision: '1', entries: [], bundles: {} }, TD)).toThrow(
      expect.objectContaining({ code: 'ERR_WORKLOAD_STATE_INVALID' }),
    );
  });

  it('compares hex selectors in lower case and needs every selector', () => {
    const sha = 'AB'.repeat(32);
    const state = parseNodeState(
      {
        revision: '1',
        entries: [entry('e', ['unix:uid:0', `unix:sha256:${sha}`])],
        bundles: { 'node.test': BUNDLE },
      },
      TD,
    );
    const lower = `unix:sha256:${sha.toLowerCase()}`;
    expect(matchEntries(state.entries, new Set(['unix:uid:0', lower]))).toHaveLength(1);
    expect(matchEntries(state.entries, new Set(['unix:uid:0']))).toHaveLength(0);
  });

  it('gives one process one instance id and another process (or a reused pid) another', () => {
    const a = instanceOf('spiffe://node.test/nodes/a', 'boot', 10, '100');
    expect(a).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(instanceOf('spiffe://node.test/nodes/a', 'boot', 10, '100')).toBe(a);
    expect(instanceOf('spiffe://node.test/nodes/a', 'boot', 10, '101')).not.toBe(a);
    expect(instanceOf('spiffe://node.test/nodes/a', 'boot2', 10, '100')).not.toBe(a);
  });

  it.each([
    ['no entry pins a hash', [['unix:uid:0']], ['unix:uid:0'], false],
    ['a pinned entry for another uid', [['unix:uid:1', PIN]], ['unix:uid:0'], false],
    ['a pinned entry whose other selectors fit', [['unix:uid:0', PIN]], ['unix:uid:0'], true],
    ['an entry of only a hash', [['unix:uid:0'], [PIN]], ['unix:uid:0'], true],
  ])('needsBinaryHash: %s', (_name, selectorLists, caller, expected) => {
    const entries = selectorLists.map((selectors, i) => ({
      id: `e${i}`,
      spiffeId: `spiffe://node.test/e${i}`,
      parentId: 'spiffe://node.test/nodes/a',
      selectors,
      federatesWith: [],
      ttlSeconds: null,
      dnsNames: [],
    }));
    expect(needsBinaryHash(entries, new Set(caller))).toBe(expected);
  });
});
