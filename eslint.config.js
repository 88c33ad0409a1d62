// ESLint flat config: TypeScript rules plus the room layering of ARCHITECTURE.md, made mechanical.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * Which rooms each room may import (through their index.ts). `<room>-types` = `import type` only from
 * that room. Every folder under src/ is listed, plus src/main.ts (the composition root) below.
 */
const ROOMS = {
  // encoding: DER, PEM, OIDs, sha256 (the mechanics); it imports only errors.ts.
  encoding: [],
  spiffeid: [],
  bundle: ['spiffeid', 'encoding'],
  svid: ['bundle', 'spiffeid', 'encoding'],
  ca: ['svid', 'bundle', 'spiffeid', 'encoding', 'store-types'],
  registration: ['spiffeid', 'store-types'],
  federation: ['svid', 'bundle', 'spiffeid', 'encoding', 'store-types'],
  audit: ['spiffeid', 'store-types'],
  access: ['spiffeid', 'store-types'],
  store: ['bundle', 'spiffeid'],
  agent: ['svid', 'bundle', 'spiffeid', 'encoding'],
  workload: ['agent', 'svid', 'bundle', 'spiffeid'],
  config: ['spiffeid'],
  // api serves the domain: every domain room, the store and the config it is given; never the CLI.
  api: [
    'encoding',
    'spiffeid',
    'bundle',
    'svid',
    'ca',
    'registration',
    'federation',
    'audit',
    'access',
    'store',
    'config',
  ],
  // cli: config, agent (the SDK), workload, the api's response types, and the values it prints;
  // ca for the local CA state file `fedbroker admin` reads to trust the admin listener (admin-tls.ts);
  // audit for the event type list `audit list --help` shows and `--type` is checked against.
  cli: ['config', 'agent', 'workload', 'api-types', 'ca', 'bundle', 'spiffeid', 'svid', 'audit'],
};
const DOMAIN_ROOMS = [
  'encoding',
  'spiffeid',
  'bundle',
  'svid',
  'ca',
  'registration',
  'federation',
  'audit',
  'access',
];
const ALL_ROOMS = Object.keys(ROOMS);
const FRAMEWORKS = ['hono', 'hono/*', '@hono/*', 'ioredis'];
/** Listeners and sockets belong to api/, agent/ and main.ts; domain rooms take them as parameters. */
const NETWORK_MODULES = ['http', 'https', 'net', 'tls', 'http2'].flatMap((m) => [m, `node:${m}`]);
/** Only src/cli/commands/serve.ts starts the broker; everything else is started by it. */
const COMPOSITION_ROOT = {
  regex: '^(\\.\\./)+main\\.js$',
  message: 'only src/cli/commands/serve.ts may import the composition root (src/main.ts)',
};

function layeringRule(
  room,
  allowed,
  { mayImportRoot = false, mayUseNetwork = false, mayUseRedis = false } = {},
) {
  const rooms = allowed.filter((r) => !r.endsWith('-types'));
  const typeOnly = allowed.filter((r) => r.endsWith('-types')).map((r) => r.slice(0, -6));
  const forbiddenRooms = ALL_ROOMS.filter((r) => r !== room && !rooms.includes(r));
  const patterns = [
    ...forbiddenRooms.map((r) => ({
      regex: `^(\\.\\./)+${r}(/|$)`,
      message: `room "${room}" may not import room "${r}" (ARCHITECTURE.md)`,
      ...(typeOnly.includes(r) ? { allowTypeImports: true } : {}),
    })),
    ...[...rooms, ...typeOnly].map((r) => ({
      regex: `^(\\.\\./)+${r}/(?!index\\.js$)`,
      message: `enter room "${r}" through its index.ts`,
    })),
  ];
  if (!mayImportRoot) patterns.push(COMPOSITION_ROOT);
  const paths = [];
  if (room === 'store') {
    // ioredis only in src/store/redis/ (allowed by a folder-level override below).
    patterns.push({ group: ['hono', 'hono/*', '@hono/*'], message: 'store does not use hono' });
    if (!mayUseRedis) {
      patterns.push({ group: ['ioredis'], message: 'only src/store/redis/ imports ioredis' });
    }
  } else if (room !== 'api') {
    patterns.push({
      group: FRAMEWORKS,
      message: `room "${room}" must not import hono or ioredis; take dependencies as parameters`,
    });
  }
  if (DOMAIN_ROOMS.includes(room) && !mayUseNetwork) {
    paths.push(
      ...NETWORK_MODULES.map((name) => ({
        name,
        message: `domain room "${room}" must not open listeners or sockets; take them as parameters`,
      })),
    );
  }
  if (room !== 'federation') {
    paths.push({ name: 'node-cron', message: 'only federation/scheduler.ts uses node-cron' });
  }
  return ['error', { patterns, paths }];
}

/** The composition root may enter every room, through its index.ts, but never the CLI. */
function compositionRootRule() {
  return [
    'error',
    {
      patterns: [
        { regex: '^\\./cli(/|$)', message: 'the composition root does not import the CLI' },
        {
          regex: `^\\./(${ALL_ROOMS.join('|')})/(?!index\\.js$)`,
          message: 'the composition root enters every room through its index.ts',
        },
      ],
    },
  ];
}

/**
 * Type-aware rules (src, tests, the demo, the benches): a promise nobody awaits hides its rejection
 * (and an unhandled one ends the process).
 */
const PROMISE_RULES = {
  '@typescript-eslint/no-floating-promises': 'error',
  '@typescript-eslint/no-misused-promises': 'error',
};

/**
 * Issue 16: a unit does one job, so no source file over 500 lines (every line counts, as `wc -l`
 * does) and no function over 120. Declarative tables (the CLI command table, the error-code
 * table) may carry an eslint-disable comment that gives the reason.
 */
const SIZE_RULES = {
  'max-lines': ['error', { max: 500, skipBlankLines: false, skipComments: false }],
  'max-lines-per-function': [
    'error',
    { max: 120, skipBlankLines: false, skipComments: false, IIFEs: true },
  ],
};

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
  {
    files: ['src/**/*.ts', 'test/**/*.ts', 'demo/**/*.ts', 'bench/**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: PROMISE_RULES,
  },
  ...Object.entries(ROOMS).map(([room, allowed]) => ({
    files: [`src/${room}/**/*.ts`],
    ignores: [`src/${room}/**/*.test.ts`],
    rules: { 'no-restricted-imports': layeringRule(room, allowed) },
  })),
  {
    files: ['src/main.ts'],
    rules: { 'no-restricted-imports': compositionRootRule() },
  },
  {
    // `fedbroker serve` is the one command that starts the broker.
    files: ['src/cli/commands/serve.ts'],
    rules: { 'no-restricted-imports': layeringRule('cli', ROOMS.cli, { mayImportRoot: true }) },
  },
  {
    // Fetching a partner's bundle endpoint over TLS and authenticating it (FED-13..FED-16, https_web
    // and https_spiffe) is the federation room's own job, as go-spiffe's federation.FetchBundle is;
    // the socket stays inside this one file and is driven by the fetch options it is given.
    files: ['src/federation/fetch-bundle.ts'],
    rules: {
      'no-restricted-imports': layeringRule('federation', ROOMS.federation, {
        mayUseNetwork: true,
      }),
    },
  },
  {
    // The Redis store's files are the only ones that import ioredis; otherwise the store room's rule.
    files: ['src/store/redis/**/*.ts'],
    ignores: ['src/store/redis/**/*.test.ts'],
    rules: {
      'no-restricted-imports': layeringRule('store', ROOMS.store, { mayUseRedis: true }),
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
  {
    // Size limits (issue 16): source files and the demo; tests may be long tables of cases.
    files: ['src/**/*.ts', 'src/**/*.tsx', 'demo/**/*.ts'],
    ignores: ['src/**/*.test.ts', 'src/**/*.test.tsx'],
    rules: SIZE_RULES,
  },
);
