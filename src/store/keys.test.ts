// Unit tests of the key builder: prefix, hash tags, SCAN patterns and id extraction.
import { describe, expect, it } from 'vitest';
import { createStoreKeys, DEFAULT_KEY_PREFIX } from './keys.js';

describe('createStoreKeys', () => {
  const keys = createStoreKeys();

  it('puts every key under the default prefix', () => {
    expect(DEFAULT_KEY_PREFIX).toBe('fedbroker:');
    expect([
      keys.bundleCurrent('a.example'),
      keys.bundleHistory('a.example'),
      keys.relationship('a.example'),
      keys.localBundle,
      keys.entry('e-1'),
      keys.token('abc'),
      keys.audit,
      keys.refreshStatus('a.example'),
      keys.lock('refresh:a.example'),
      keys.channel('bundle-changed:a.example'),
    ]).toEqual([
      'fedbroker:bundle:{a.example}:current',
      'fedbroker:bundle:{a.example}:history',
      'fedbroker:relationship:a.example',
      'fedbroker:local-bundle',
      'fedbroker:entry:e-1',
      'fedbroker:token:abc',
      'fedbroker:audit',
      'fedbroker:refresh-status:a.example',
      'fedbroker:lock:refresh:a.example',
      'fedbroker:channel:bundle-changed:a.example',
    ]);
  });

  it('uses a configured prefix', () => {
    expect(createStoreKeys('acme/prod:').entry('x')).toBe('acme/prod:entry:x');
    expect(createStoreKeys('').audit).toBe('audit');
  });

  it('FED-30: keeps a bundle and its history in one cluster slot via the trust domain hash tag', () => {
    const tag = (key: string): string | undefined => /\{([^}]+)\}/.exec(key)?.[1];
    expect(tag(keys.bundleCurrent('b.example'))).toBe('b.example');
    expect(tag(keys.bundleHistory('b.example'))).toBe('b.example');
  });

  it.each([['a{b'], ['a}b'], ['a*'], ['a?'], ['a[b]'], ['a b'], [''], ['a\\b'], ['x'.repeat(513)]])(
    'refuses the key component %j',
    (bad) => {
      expect(() => keys.entry(bad)).toThrow(TypeError);
      expect(() => keys.bundleCurrent(bad)).toThrow(TypeError);
    },
  );

  it.each([['a{'], ['*'], ['p ']])('refuses the prefix %j with ERR_STORE_CONFIG', (bad) => {
    expect(() => createStoreKeys(bad)).toThrow(
      expect.objectContaining({ code: 'ERR_STORE_CONFIG' }),
    );
  });

  it('builds SCAN patterns and reads ids back from matched keys', () => {
    expect(keys.scanPattern('bundle')).toBe('fedbroker:bundle:{*}:current');
    expect(keys.scanPattern('entry')).toBe('fedbroker:entry:*');
    expect(keys.idFromKey('bundle', keys.bundleCurrent('c.example'))).toBe('c.example');
    expect(keys.idFromKey('bundle', keys.bundleHistory('c.example'))).toBeUndefined();
    expect(keys.idFromKey('relationship', keys.relationship('c.example'))).toBe('c.example');
    expect(keys.idFromKey('refreshStatus', keys.refreshStatus('c.example'))).toBe('c.example');
    expect(keys.idFromKey('entry', 'other:entry:x')).toBeUndefined();
  });
});
