// Shows that the ARCHITECTURE.md layering is enforced by `npm run lint`: forbidden imports are errors,
// in every room including api, cli and main.ts, and the type-aware promise rules fire (issue 16 item 4).
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

// Fixture files do not exist on disk, so the type-aware parser gives them the project's tsconfig.
const eslint = new ESLint({
  cwd: process.cwd(),
  overrideConfig: {
    files: ['**/fixture.ts'],
    languageOptions: {
      parserOptions: {
        projectService: {
          allowDefaultProject: ['src/*/fixture.ts', 'src/*/*/fixture.ts', 'test/*/fixture.ts'],
          defaultProject: 'tsconfig.json',
          maximumDefaultProjectFileMatchCount_THIS_WILL_SLOW_DOWN_LINTING: 16,
        },
      },
    },
  },
});

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
      'encoding (the lowest room) importing bundle',
      'src/encoding/fixture.ts',
      "import { Bundle } from '../bundle/index.js';\nexport const x = Bundle;\n",
    ],
    [
      'ca reaching past the encoding index.ts',
      'src/ca/fixture.ts',
      "import { tlv } from '../encoding/der-writer.js';\nexport const x = tlv;\n",
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
      'the file store importing ioredis',
      'src/store/file/fixture.ts',
      "import Redis from 'ioredis';\nexport const x = Redis;\n",
    ],
    [
      'store files outside src/store/redis/ importing ioredis',
      'src/store/fixture.ts',
      "import Redis from 'ioredis';\nexport const x = Redis;\n",
    ],
    [
      'a redis store file importing hono',
      'src/store/redis/fixture.ts',
      "import { Hono } from 'hono';\nexport const x = Hono;\n",
    ],
    [
      'a redis store file importing the federation room',
      'src/store/redis/fixture.ts',
      "import { x as y } from '../../federation/index.js';\nexport const x = y;\n",
    ],
    [
      'a redis store file reaching past bundle/index.ts',
      'src/store/redis/fixture.ts',
      "import { Bundle } from '../../bundle/bundle.js';\nexport const x = Bundle;\n",
    ],
    ...['node:https', 'node:http', 'node:net', 'node:tls', 'node:http2', 'https'].map((m) => [
      `a domain room importing ${m}`,
      'src/svid/fixture.ts',
      `import * as m from '${m}';\nexport const x = m;\n`,
    ]),
    [
      'federation files other than fetch-bundle importing node:tls',
      'src/federation/fixture.ts',
      "import { connect } from 'node:tls';\nexport const x = connect;\n",
    ],
    [
      'api importing the cli room',
      'src/api/fixture.ts',
      "import { x as y } from '../cli/index.js';\nexport const x = y;\n",
    ],
    [
      'api importing the composition root',
      'src/api/fixture.ts',
      "import { startBroker } from '../main.js';\nexport const x = startBroker;\n",
    ],
    [
      'api reaching past an index.ts',
      'src/api/fixture.ts',
      "import { x as y } from '../federation/service.js';\nexport const x = y;\n",
    ],
    [
      'cli reaching past agent/index.ts',
      'src/cli/fixture.ts',
      "import { peerChainOf } from '../agent/verify-peer.js';\nexport const x = peerChainOf;\n",
    ],
    [
      'a cli command other than serve importing the composition root',
      'src/cli/commands/fixture.ts',
      "import { startBroker } from '../../main.js';\nexport const x = startBroker;\n",
    ],
    [
      'cli importing a value from the api room',
      'src/cli/fixture.ts',
      "import { createAdminApp } from '../api/index.js';\nexport const x = createAdminApp;\n",
    ],
    [
      'cli importing the federation room',
      'src/cli/fixture.ts',
      "import { x as y } from '../federation/index.js';\nexport const x = y;\n",
    ],
    [
      'cli importing hono',
      'src/cli/fixture.ts',
      "import { Hono } from 'hono';\nexport const x = Hono;\n",
    ],
    [
      'main.ts reaching past api/index.ts',
      'src/main.ts',
      "import { createAdminApp } from './api/admin-app.js';\nexport const x = createAdminApp;\n",
    ],
    [
      'main.ts importing the cli room',
      'src/main.ts',
      "import { x as y } from './cli/run.js';\nexport const x = y;\n",
    ],
  ])('refuses %s', async (_name, filePath, code) => {
    expect(await ruleIds(filePath, code)).toContain('no-restricted-imports');
  });

  it.each([
    [
      'bundle importing encoding through its index',
      'src/bundle/fixture.ts',
      "import { sha256Hex } from '../encoding/index.js';\nexport const x = sha256Hex;\n",
    ],
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
      'src/store/redis/redis-store.ts',
      "import Redis from 'ioredis';\nexport const x = Redis;\n",
    ],
    [
      'any file of src/store/redis/ importing ioredis and the store room',
      'src/store/redis/fixture.ts',
      "import Redis from 'ioredis';\nimport type { Store } from '../store.js';\nexport const x = Redis;\nexport type X = Store;\n",
    ],
    [
      'federation/fetch-bundle.ts importing node:https (the partner fetch, FED-14, FED-15)',
      'src/federation/fetch-bundle.ts',
      "import { request } from 'node:https';\nexport const x = request;\n",
    ],
    [
      'the serve command importing the composition root',
      'src/cli/commands/serve.ts',
      "import { startBroker } from '../../main.js';\nexport const x = startBroker;\n",
    ],
    [
      'cli importing api types only',
      'src/cli/fixture.ts',
      "import type { AdminDeps } from '../api/index.js';\nexport type X = AdminDeps;\n",
    ],
    [
      'cli entering agent through its index',
      'src/cli/fixture.ts',
      "import { peerChainOf } from '../agent/index.js';\nexport const x = peerChainOf;\n",
    ],
    [
      'main.ts entering api through its index',
      'src/main.ts',
      "import { createAdminApp } from './api/index.js';\nexport const x = createAdminApp;\n",
    ],
    [
      'api importing hono and the domain rooms',
      'src/api/fixture.ts',
      "import { Hono } from 'hono';\nimport { x as y } from '../federation/index.js';\nexport const x = [Hono, y];\n",
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

describe('type-aware promise rules', () => {
  const floating = 'async function f(): Promise<void> {}\nexport function g(): void {\n  f();\n}\n';
  const misused =
    'async function f(): Promise<void> {}\nexport function g(): void {\n  setImmediate(f);\n}\n';
  const handled =
    'async function f(): Promise<void> {}\nexport async function g(): Promise<void> {\n' +
    '  await f();\n  void f();\n  f().catch(() => undefined);\n}\n';

  it.each(['src/federation/fixture.ts', 'src/api/fixture.ts', 'test/agent/fixture.ts'])(
    'refuses a floating promise in %s',
    async (filePath) => {
      expect(await ruleIds(filePath, floating)).toContain(
        '@typescript-eslint/no-floating-promises',
      );
    },
  );

  it.each(['src/ca/fixture.ts', 'test/store/fixture.ts'])(
    'refuses a promise-returning function where a void callback is expected in %s',
    async (filePath) => {
      expect(await ruleIds(filePath, misused)).toContain('@typescript-eslint/no-misused-promises');
    },
  );

  it('allows awaited, void-marked and caught promises', async () => {
    expect(await ruleIds('src/federation/fixture.ts', handled)).toEqual([]);
  });
});
