// Shows that the size limits of issue 16 are enforced by `npm run lint`: a source file over 500
// lines (counted as `wc -l` counts) and a function over 120 lines are errors, in every room;
// tests are not checked.
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

// The size rules are syntactic, so the fixtures are linted without the type-aware parser (its
// project service takes half a minute to start on a busy machine); everything else is the
// project's own eslint.config.js, including which files the size rules cover.
const eslint = new ESLint({
  cwd: process.cwd(),
  overrideConfig: {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: false, project: null } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'off',
      '@typescript-eslint/no-misused-promises': 'off',
    },
  },
});

async function ruleIds(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return (result?.messages ?? []).map((m) => m.ruleId ?? m.message);
}

/** A file of exactly `lines` newline-terminated lines (what `wc -l` reports). */
function fileOf(lines: number): string {
  const body = Array.from({ length: lines - 1 }, (_, i) => `export const v${i} = ${i};`);
  return [...body, 'export const last = 0;'].join('\n') + '\n';
}

/** A file whose one function spans exactly `lines` lines, blank lines and comments included. */
function functionOf(lines: number): string {
  const inner = Array.from({ length: lines - 3 }, (_, i) =>
    i % 3 === 0 ? '' : i % 3 === 1 ? `  // step ${i}` : `  total += ${i};`,
  );
  return [
    'let total = 0;',
    'export function long(): number {',
    ...inner,
    '  return total;',
    '}',
    '',
  ].join('\n');
}

describe('size limits (issue 16: max-lines 500, max-lines-per-function 120)', () => {
  it.each([
    ['a 501-line file', 'src/bundle/fixture.ts', fileOf(501), 'max-lines'],
    ['a 501-line file in the cli', 'src/cli/fixture.ts', fileOf(501), 'max-lines'],
    ['a 121-line function', 'src/bundle/fixture.ts', functionOf(121), 'max-lines-per-function'],
    [
      'a 121-line function in the workload room',
      'src/workload/fixture.ts',
      functionOf(121),
      'max-lines-per-function',
    ],
  ])('refuses %s', async (_name, filePath, code, rule) => {
    expect(await ruleIds(filePath, code)).toContain(rule);
  });

  it.each([
    ['a 500-line file', 'src/bundle/fixture.ts', fileOf(500)],
    ['a 120-line function', 'src/bundle/fixture.ts', functionOf(120)],
    ['a long unit test beside the code', 'src/bundle/fixture.test.ts', fileOf(501)],
    ['a long function in a unit test', 'src/bundle/fixture.test.ts', functionOf(200)],
  ])('allows %s', async (_name, filePath, code) => {
    const ids = await ruleIds(filePath, code);
    expect(ids).not.toContain('max-lines');
    expect(ids).not.toContain('max-lines-per-function');
  });

  it('counts lines as wc -l does (the fixtures are what their names say)', () => {
    expect(fileOf(500).split('\n').length - 1).toBe(500);
    expect(functionOf(120).trimEnd().split('\n').length).toBe(121); // `let total` + 120
  });
});
