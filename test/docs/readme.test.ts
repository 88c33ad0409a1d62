// Keeps the README's error-code table true: every public code is documented, nothing else is.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ALL_ERROR_CODES } from '../../src/errors.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const documented = new Set([...readme.matchAll(/^\| `(ERR_[A-Z0-9_]+)`\s*\|/gm)].map((m) => m[1]));

describe('README error codes', () => {
  it('documents every error code of src/errors.ts', () => {
    expect(ALL_ERROR_CODES.filter((code) => !documented.has(code))).toEqual([]);
  });

  it('documents no code that does not exist', () => {
    expect(
      [...documented].filter(
        (code) => !(ALL_ERROR_CODES as readonly string[]).includes(code ?? ''),
      ),
    ).toEqual([]);
  });
});
