// Node and workload entries (issue 17): selector syntax and bounds, parentId rules, the parent
// match of a node, and old stored records still readable.
import { describe, expect, it } from 'vitest';
import { isBrokerError } from '../errors.js';
import { parseSpiffeId, parseTrustDomain } from '../spiffeid/index.js';
import {
  buildEntry,
  decodeEntry,
  encodeEntry,
  entryView,
  isChildOfNode,
  type Entry,
  type EntryInput,
} from './entry.js';
import { MAX_SELECTORS, parseSelectors } from './selector.js';

const td = parseTrustDomain('td.example');
const SHA = 'ab'.repeat(32);
let counter = 0;

function build(input: EntryInput): Entry {
  counter += 1;
  return buildEntry(input, {
    ownTrustDomain: td,
    reserved: [],
    id: `e_${String(counter).padStart(22, '0')}`,
    nowMs: 1_000,
    actor: 'test',
  });
}

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return isBrokerError(error) ? error.code : `not a broker error: ${String(error)}`;
  }
  return undefined;
}

describe('selectors', () => {
  it.each([
    ['unix:uid:0', 'unix:uid:0'],
    ['unix:uid:1000', 'unix:uid:1000'],
    ['unix:gid:4294967294', 'unix:gid:4294967294'],
    ['unix:user:www-data', 'unix:user:www-data'],
    ['unix:group:docker', 'unix:group:docker'],
    ['unix:path:/usr/bin/python3.12', 'unix:path:/usr/bin/python3.12'],
    [`unix:sha256:${SHA.toUpperCase()}`, `unix:sha256:${SHA}`],
    ['container:id:' + 'F'.repeat(64), 'container:id:' + 'f'.repeat(64)],
  ])('accepts %s (canonical %s)', (text, canonical) => {
    expect(parseSelectors([text])).toEqual([canonical]);
  });

  it.each([
    ['unknown type', 'k8s:ns:default'],
    ['no value', 'unix:uid:'],
    ['uid not decimal', 'unix:uid:0x10'],
    ['uid leading zero', 'unix:uid:01'],
    ['uid too large', 'unix:uid:4294967295'],
    ['negative gid', 'unix:gid:-1'],
    ['user with space', 'unix:user:a b'],
    ['relative path', 'unix:path:bin/sh'],
    ['path with ..', 'unix:path:/usr/../bin/sh'],
    ['path with //', 'unix:path:/usr//bin/sh'],
    ['path with trailing /', 'unix:path:/usr/bin/'],
    ['path with NUL', 'unix:path:/bin/s\u0000h'],
    ['short sha256', 'unix:sha256:abcd'],
    ['container id with /', 'container:id:a/b'],
    ['container id not hex', 'container:id:my-container'],
    ['path with a space', 'unix:path:/opt/my app/bin'],
    ['overlong', `unix:path:/${'a'.repeat(1200)}`],
  ])('WAPI attestation selectors: refuses %s', (_name, text) => {
    expect(code(() => parseSelectors([text]))).toBe('ERR_REGISTRATION_SELECTOR_INVALID');
  });

  it('bounds the count, drops duplicates, sorts, and refuses two values of a single-valued type', () => {
    const many = Array.from({ length: MAX_SELECTORS + 1 }, (_, i) => `unix:gid:${i}`);
    expect(code(() => parseSelectors(many))).toBe('ERR_REGISTRATION_SELECTOR_INVALID');
    expect(parseSelectors(['unix:uid:1', 'unix:gid:2', 'unix:uid:1'])).toEqual([
      'unix:gid:2',
      'unix:uid:1',
    ]);
    expect(parseSelectors(['unix:gid:1', 'unix:gid:2'])).toHaveLength(2);
    expect(code(() => parseSelectors(['unix:uid:1', 'unix:uid:2']))).toBe(
      'ERR_REGISTRATION_SELECTOR_INVALID',
    );
    expect(code(() => parseSelectors([42]))).toBe('ERR_REGISTRATION_SELECTOR_INVALID');
  });
});

describe('node and workload entries', () => {
  const uid = ['unix:uid:1000'];
  it.each<[string, EntryInput, string]>([
    [
      'a node entry with a parentId',
      { spiffeId: 'spiffe://td.example/nodes/a', node: true, parentId: 'spiffe://td.example/x' },
      'ERR_REGISTRATION_PARENT_INVALID',
    ],
    [
      'ID-1: a parentId that is not a SPIFFE ID',
      { spiffeId: 'spiffe://td.example/w', parentId: 'https://td.example/n', selectors: uid },
      'ERR_REGISTRATION_PARENT_INVALID',
    ],
    [
      'a parentId in another trust domain',
      { spiffeId: 'spiffe://td.example/w', parentId: 'spiffe://other/n', selectors: uid },
      'ERR_REGISTRATION_PARENT_INVALID',
    ],
    [
      'ID-11: a parentId without a path',
      { spiffeId: 'spiffe://td.example/w', parentId: 'spiffe://td.example', selectors: uid },
      'ERR_REGISTRATION_PARENT_INVALID',
    ],
    [
      'ID-12: a parent template with a partial placeholder',
      {
        spiffeId: 'spiffe://td.example/w',
        parentId: 'spiffe://td.example/n-{instance}',
        selectors: uid,
      },
      'ERR_REGISTRATION_PARENT_INVALID',
    ],
    [
      'a workload entry without selectors',
      { spiffeId: 'spiffe://td.example/w', parentId: 'spiffe://td.example/n' },
      'ERR_REGISTRATION_SELECTOR_INVALID',
    ],
    [
      'selectors without parentId',
      { spiffeId: 'spiffe://td.example/w', selectors: uid },
      'ERR_REGISTRATION_SELECTOR_INVALID',
    ],
    [
      'a node entry with selectors',
      { spiffeId: 'spiffe://td.example/n', node: true, selectors: uid },
      'ERR_REGISTRATION_SELECTOR_INVALID',
    ],
  ])('refuses %s', (_name, input, expected) => {
    expect(code(() => build(input))).toBe(expected);
  });

  it('stores, reads back and shows node, parentId and selectors; old records stay readable', () => {
    const workload = build({
      spiffeId: 'spiffe://td.example/w/{instance}',
      parentId: 'spiffe://td.example/nodes/{instance}',
      selectors: ['unix:uid:1000', `unix:sha256:${SHA}`],
    });
    expect(workload.selectors).toEqual([`unix:sha256:${SHA}`, 'unix:uid:1000']);
    const stored = encodeEntry(workload);
    const back = decodeEntry(stored, td, []);
    expect(entryView(back)).toMatchObject({
      node: false,
      parentId: 'spiffe://td.example/nodes/{instance}',
      selectors: [`unix:sha256:${SHA}`, 'unix:uid:1000'],
    });
    const {
      node: _n,
      parentId: _p,
      selectors: _s,
      ...old
    } = encodeEntry(build({ spiffeId: 'spiffe://td.example/old' }));
    expect(entryView(decodeEntry(old, td, []))).toMatchObject({
      node: false,
      parentId: null,
      selectors: [],
    });
    expect(code(() => decodeEntry({ ...stored, selectors: 'unix:uid:1' }, td, []))).toBe(
      'ERR_REGISTRATION_ENTRY_INVALID',
    );
    expect(code(() => decodeEntry({ ...stored, selectors: [] }, td, []))).toBe(
      'ERR_REGISTRATION_SELECTOR_INVALID',
    );
  });

  it('a fixed parentId matches that node only; a template parentId matches nodes of that node entry', () => {
    const nodeTemplate = build({ spiffeId: 'spiffe://td.example/nodes/{instance}', node: true });
    const nodeFixed = build({ spiffeId: 'spiffe://td.example/hosts/h1', node: true });
    const plainAgent = build({ spiffeId: 'spiffe://td.example/hosts/h2' });
    const node1 = parseSpiffeId(`spiffe://td.example/nodes/${'a'.repeat(22)}`);
    const h1 = parseSpiffeId('spiffe://td.example/hosts/h1');
    const h2 = parseSpiffeId('spiffe://td.example/hosts/h2');
    const ofTemplate = build({
      spiffeId: 'spiffe://td.example/w1',
      parentId: 'spiffe://td.example/nodes/{instance}',
      selectors: ['unix:uid:1'],
    });
    const ofH1 = build({
      spiffeId: 'spiffe://td.example/w2',
      parentId: 'spiffe://td.example/hosts/h1',
      selectors: ['unix:uid:1'],
    });
    const ofH2 = build({
      spiffeId: 'spiffe://td.example/w3',
      parentId: 'spiffe://td.example/hosts/h2',
      selectors: ['unix:uid:1'],
    });
    expect(isChildOfNode(ofTemplate, node1, nodeTemplate)).toBe(true);
    expect(isChildOfNode(ofTemplate, h1, nodeFixed)).toBe(false);
    expect(isChildOfNode(ofH1, h1, nodeFixed)).toBe(true);
    expect(isChildOfNode(ofH1, node1, nodeTemplate)).toBe(false);
    // Not a node entry: no children, whatever the parentId says.
    expect(isChildOfNode(ofH2, h2, plainAgent)).toBe(false);
    // An entry without parentId is nobody's child.
    expect(isChildOfNode(nodeFixed, h1, nodeFixed)).toBe(false);
  });
});
