// Issue 18 item 8: the docs stand on their own. Every rule id the code cites is in docs/rules.md
// (with an anchor error messages link to); the README links the docs and cites nothing outside the
// project; every file docs/architecture.md names exists.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ruleLinks } from '../../src/cli/run.js';

const root = resolve(import.meta.dirname, '..', '..');
const read = (path: string): string => readFileSync(join(root, path), 'utf8');
const RULE_ID = /\b(?:ID|X509|JWT|BUNDLE|FED)-\d+\b/g;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : path.endsWith('.ts') ? [path] : [];
  });
}

describe('docs/rules.md', () => {
  const rules = read('docs/rules.md');

  it('lists every rule id cited in src/, each with an anchor and an upstream document', () => {
    const cited = new Set(
      sourceFiles(join(root, 'src')).flatMap(
        (file) => readFileSync(file, 'utf8').match(RULE_ID) ?? [],
      ),
    );
    expect(cited.size).toBeGreaterThan(50);
    const missing = [...cited].filter((id) => !rules.includes(`<a id="${id}"></a>`));
    expect(missing).toEqual([]);
    for (const line of rules.split('\n').filter((l) => l.startsWith('| <a id='))) {
      expect(line).toMatch(/\| (spec|ref|policy)[^|]*\| [A-Za-z0-9_-]+\.md §/);
    }
  });

  it('an error message that cites a rule id points the reader at its line', () => {
    expect(ruleLinks('https_spiffe needs the endpoint SPIFFE ID (FED-1)')).toBe(
      '  rules: docs/rules.md#FED-1\n',
    );
    expect(ruleLinks('no rule here')).toBe('');
  });
});

describe('README and docs/architecture.md', () => {
  const readme = read('README.md');

  it('the README links the docs and cites nothing a clone does not have', () => {
    expect(readme).not.toContain('../shared');
    expect(readme).toContain('(docs/rules.md)');
    expect(readme).toContain('(docs/architecture.md)');
    expect(existsSync(join(root, 'LICENSE'))).toBe(true);
    expect(read('LICENSE')).toContain('Apache License');
  });

  it('every src/ file docs/architecture.md names exists', () => {
    const named = [...read('docs/architecture.md').matchAll(/`(src\/[\w/.-]+\.ts)`/g)].map(
      (m) => m[1] ?? '',
    );
    expect(named.length).toBeGreaterThan(10);
    expect(named.filter((file) => !existsSync(join(root, file)))).toEqual([]);
  });
});
