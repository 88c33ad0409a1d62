// ESLint flat config: TypeScript rules plus the room layering of ARCHITECTURE.md, made mechanical.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Which rooms each room may import (through their index.ts). `store-types` = `import type` from store. */
const ROOMS = {
  spiffeid: [],
  bundle: ['spiffeid'],
  svid: ['bundle', 'spiffeid'],
  ca: ['svid', 'bundle', 'spiffeid', 'store-types'],
  registration: ['spiffeid', 'store-types'],
  federation: ['svid', 'bundle', 'spiffeid', 'store-types'],
  audit: ['spiffeid', 'store-types'],
  access: ['spiffeid', 'store-types'],
  store: ['bundle', 'spiffeid'],
  agent: ['svid', 'bundle', 'spiffeid'],
  config: ['spiffeid'],
};
const DOMAIN_ROOMS = [
  'spiffeid',
  'bundle',
  'svid',
  'ca',
  'registration',
  'federation',
  'audit',
  'access',
];
const ALL_ROOMS = [...Object.keys(ROOMS), 'api', 'cli'];
const FRAMEWORKS = ['hono', 'hono/*', '@hono/*', 'ioredis'];

function layeringRule(room, allowed) {
  const rooms = allowed.filter((r) => r !== 'store-types');
  const forbiddenRooms = ALL_ROOMS.filter((r) => r !== room && !rooms.includes(r));
  const patterns = [
    ...forbiddenRooms.map((r) => ({
      regex: `^\\.\\./${r}(/|$)`,
      message: `room "${room}" may not import room "${r}" (ARCHITECTURE.md)`,
      ...(allowed.includes('store-types') && r === 'store' ? { allowTypeImports: true } : {}),
    })),
    ...rooms.map((r) => ({
      regex: `^\\.\\./${r}/(?!index\\.js$)`,
      message: `enter room "${r}" through its index.ts`,
    })),
  ];
  const paths = [];
  if (room === 'store') {
    // ioredis only in redis-store.ts (allowed by a file-level override below).
    patterns.push({ group: ['hono', 'hono/*', '@hono/*'], message: 'store does not use hono' });
    patterns.push({ group: ['ioredis'], message: 'only store/redis-store.ts imports ioredis' });
  } else if (DOMAIN_ROOMS.includes(room) || room === 'agent' || room === 'config') {
    patterns.push({
      group: FRAMEWORKS,
      message: `room "${room}" must not import hono or ioredis; take dependencies as parameters`,
    });
  }
  if (room !== 'federation') {
    paths.push({ name: 'node-cron', message: 'only federation/scheduler.ts uses node-cron' });
  }
  return ['error', { patterns, paths }];
}

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.test-output/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly' },
    },
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      'no-restricted-syntax': [
        'error',
        { selector: 'ExportAllDeclaration', message: 'name every export by hand (no export *)' },
        { selector: 'ExportDefaultDeclaration', message: 'named exports only' },
      ],
    },
  },
  ...Object.entries(ROOMS).map(([room, allowed]) => ({
    files: [`src/${room}/**/*.ts`],
    ignores: [`src/${room}/**/*.test.ts`],
    rules: { 'no-restricted-imports': layeringRule(room, allowed) },
  })),
  {
    files: ['src/store/redis-store.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^\\.\\./(?!(bundle|spiffeid)/index\\.js$|errors\\.js$)',
              message: 'store imports bundle and spiffeid only',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src/**/*.ts'],
    ignores: ['src/config/**', 'src/**/*.test.ts', 'src/cli/main.ts'],
    rules: {
      'no-restricted-properties': [
        'error',
        { object: 'process', property: 'env', message: 'read the environment in src/config only' },
      ],
    },
  },
  {
    files: ['eslint.config.js', 'vitest.config.ts'],
    rules: { 'no-restricted-syntax': 'off' },
  },
);
