// Shows that the ARCHITECTURE.md layering is enforced by `npm run lint`: forbidden imports are errors.
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const eslint = new ESLint({ cwd: process.cwd() });

async function ruleIds(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return (result?.messages ?? []).map((m) => m.ruleId ?? m.message);
}

describe('room layering (ARCHITECTURE.md)', () => {
  it.each([
    [
      'a domain room importing hono',
      'src/bundle/fixture.ts',
      "import { Hono } from 'hono';\nexport const x = Hono;\n",
    ],
    [
      'a domain room importing ioredis',
      'src/federation/fixture.ts',
      "import Redis from 'ioredis';\nexport const x = Redis;\n",
    ],
    [
      'spiffeid importing bundle',
      'src/spiffeid/fixture.ts',
      "import { Bundle } from '../bundle/index.js';\nexport const x = Bundle;\n",
    ],
    [
      'svid reaching past an index.ts',
      'src/svid/fixture.ts',
      "import { Bundle } from '../bundle/bundle.js';\nexport const x = Bundle;\n",
    ],
    [
      'ca importing the api room',
      'src/ca/fixture.ts',
      "import { x as y } from '../api/index.js';\nexport const x = y;\n",
    ],
    [
      'store files other than redis-store importing ioredis',
      'src/store/file-store.ts',
      "import Redis from 'ioredis';\nexport const x = Redis;\n",
    ],
  ])('refuses %s', async (_name, filePath, code) => {
    expect(await ruleIds(filePath, code)).toContain('no-restricted-imports');
  });

  it.each([
    [
      'svid importing bundle through its index',
      'src/svid/fixture.ts',
      "import { Bundle } from '../bundle/index.js';\nexport const x = Bundle;\n",
    ],
    [
      'ca importing store types only',
      'src/ca/fixture.ts',
      "import type { Store } from '../store/index.js';\nexport type X = Store;\n",
    ],
    [
      'redis-store importing ioredis',
      'src/store/redis-store.ts',
      "import Redis from 'ioredis';\nexport const x = Redis;\n",
    ],
  ])('allows %s', async (_name, filePath, code) => {
    expect(await ruleIds(filePath, code)).not.toContain('no-restricted-imports');
  });

  it('refuses process.env outside src/config', async () => {
    expect(
      await ruleIds('src/federation/fixture.ts', 'export const x = process.env.X;\n'),
    ).toContain('no-restricted-properties');
  });
});
