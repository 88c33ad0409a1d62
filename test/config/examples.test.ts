// Keeps config/*.example.yaml true: they load with the real loader, and every schema key has a line
// (set or commented out) with an explanation naming its default, so a new key cannot go undocumented.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { configSchema, loadConfig } from '../../src/config/index.js';

const CONFIG_DIR = fileURLToPath(new URL('../../config/', import.meta.url));

const EXAMPLES = [
  { file: 'logistics.example.yaml', trustDomain: 'logistics.example', partner: 'shipping.example' },
  { file: 'shipping.example.yaml', trustDomain: 'shipping.example', partner: 'logistics.example' },
] as const;

/** Zod types that hold no keys of their own. */
const LEAF_TYPES = new Set([
  'string',
  'number',
  'int',
  'boolean',
  'bigint',
  'enum',
  'literal',
  'null',
  'undefined',
  'date',
  'any',
  'unknown',
  'template_literal',
]);

/** Wrappers around one inner schema (`def.innerType`). */
const WRAPPER_TYPES = new Set([
  'optional',
  'default',
  'prefault',
  'nullable',
  'nonoptional',
  'readonly',
  'catch',
]);

/**
 * Every key path of a zod 4 schema, nested with dots; array elements add no segment
 * (`federation.relationships.url`). Throws on a zod type it does not know, so a new kind of
 * schema node cannot hide its keys from the test.
 */
function schemaKeyPaths(schema: z.ZodType, prefix: readonly string[] = []): string[] {
  const def = schema._zod.def as { type: string; innerType?: z.ZodType };
  if (schema instanceof z.ZodObject) {
    return Object.entries(schema.shape as Record<string, z.ZodType>).flatMap(([key, child]) => [
      [...prefix, key].join('.'),
      ...schemaKeyPaths(child, [...prefix, key]),
    ]);
  }
  if (schema instanceof z.ZodArray) return schemaKeyPaths(schema.element as z.ZodType, prefix);
  if (schema instanceof z.ZodUnion) {
    const options = schema.options as readonly z.ZodType[];
    return [...new Set(options.flatMap((option) => schemaKeyPaths(option, prefix)))];
  }
  // A transform pipe: the keys written in YAML are those of its input.
  if (schema instanceof z.ZodPipe) return schemaKeyPaths(schema.in as z.ZodType, prefix);
  if (WRAPPER_TYPES.has(def.type) && def.innerType !== undefined) {
    return schemaKeyPaths(def.innerType, prefix);
  }
  if (LEAF_TYPES.has(def.type)) return [];
  throw new Error(`unhandled zod type "${def.type}" at "${prefix.join('.') || '(root)'}"`);
}

interface ExampleKey {
  readonly path: string;
  readonly line: number;
  readonly commented: boolean;
  /** Inline comment, or the prose comment lines right above the key. */
  readonly explanation: string;
}

// `  key: value # note`, `  # key: value`, `  #   - key: value`: a commented-out key keeps its
// YAML indentation after the "# ".
const KEY_LINE =
  /^(?<lead> *)(?<hash># ?)?(?<inner> *)(?<dash>- +)?(?<key>[a-z][A-Za-z0-9]*):(?<rest>(?: .*)?)$/;

/**
 * The key paths of an example file, counting commented-out keys. A commented line is a key only
 * when its path is one of `known` (the schema's); otherwise it is prose.
 */
function exampleKeys(text: string, known: ReadonlySet<string>): ExampleKey[] {
  const keys: ExampleKey[] = [];
  const stack: { indent: number; key: string }[] = [];
  let prose: string[] = [];
  text.split('\n').forEach((line, index) => {
    const match = KEY_LINE.exec(line);
    const groups = match?.groups;
    if (groups !== undefined) {
      const indent =
        (groups['lead'] ?? '').length +
        (groups['inner'] ?? '').length +
        (groups['dash'] ?? '').length;
      const key = groups['key'] ?? '';
      const commented = groups['hash'] !== undefined;
      const parents = stack.filter((entry) => entry.indent < indent);
      const path = [...parents.map((entry) => entry.key), key].join('.');
      if (!commented || known.has(path)) {
        stack.splice(0, stack.length, ...parents, { indent, key });
        const inline = /(?:^|\s)#\s*(.*)$/.exec(groups['rest'] ?? '')?.[1] ?? '';
        keys.push({
          path,
          line: index + 1,
          commented,
          explanation: [inline, ...prose].join(' ').trim(),
        });
        prose = [];
        return;
      }
    }
    const comment = /^\s*#\s?(.*)$/.exec(line);
    prose = comment === null ? [] : [...prose, comment[1] ?? ''];
  });
  return keys;
}

const SCHEMA_PATHS = schemaKeyPaths(configSchema as unknown as z.ZodType);
const KNOWN = new Set(SCHEMA_PATHS);

describe('schema key walk', () => {
  it('reaches nested objects, union options and array elements', () => {
    expect(SCHEMA_PATHS).toEqual(
      expect.arrayContaining([
        'trustDomain',
        'store.kind',
        'store.sentinel.nodes',
        'store.cluster.nodes',
        'store.commandTimeout',
        'ca.upstream.keyFile',
        'bundleEndpoint.refreshHint',
        'adminApi.adminIds',
        'federation.relationships.caFile',
      ]),
    );
    expect(new Set(SCHEMA_PATHS).size).toBe(SCHEMA_PATHS.length);
  });

  it('reads set, commented-out and list-item keys with their explanations', () => {
    const text = [
      '# Required, no default.',
      'trustDomain: a.example',
      'store:',
      '  # redis = shared, file = local. Default file.',
      '  kind: redis',
      '  # sentinel:',
      '  #   name: x # group (required)',
      '# Prose: not a key.',
      'federation:',
      '  # relationships:',
      '  #   - trustDomain: b.example # partner (required)',
      '  #     url: https://b/',
    ].join('\n');
    const keys = exampleKeys(text, KNOWN);
    expect(keys.map((k) => [k.path, k.commented])).toEqual([
      ['trustDomain', false],
      ['store', false],
      ['store.kind', false],
      ['store.sentinel', true],
      ['store.sentinel.name', true],
      ['federation', false],
      ['federation.relationships', true],
      ['federation.relationships.trustDomain', true],
      ['federation.relationships.url', true],
    ]);
    expect(keys.find((k) => k.path === 'store.kind')?.explanation).toContain('Default file');
    expect(keys.find((k) => k.path === 'store.sentinel.name')?.explanation).toBe(
      'group (required)',
    );
    expect(keys.find((k) => k.path === 'federation.relationships.url')?.explanation).toBe('');
  });
});

describe.each(EXAMPLES)('config/$file', ({ file, trustDomain, partner }) => {
  const path = CONFIG_DIR + file;
  const text = readFileSync(path, 'utf8');
  const keys = exampleKeys(text, KNOWN);

  it('loads with the real loader: trust domain, https_spiffe endpoint, Redis store', () => {
    const { config, dataDir, adminTokenFromEnv } = loadConfig(path, {});
    expect(config.trustDomain).toBe(trustDomain);
    expect(config.store.kind).toBe('redis');
    expect(config.bundleEndpoint).toMatchObject({
      listen: '0.0.0.0:8443',
      profile: 'https_spiffe',
      url: `https://broker.${trustDomain}:8443/`,
      spiffeId: `spiffe://${trustDomain}/spiffe/bundle-endpoint`,
    });
    expect(config.agentApi.listen).toBe('0.0.0.0:8444');
    expect(config.adminApi.listen).toBe('0.0.0.0:8445');
    expect(config.adminApi.tokenFile).toBeUndefined();
    expect(config.federation.relationships).toEqual([]);
    expect(dataDir).toBe('/var/lib/fedbroker');
    expect(adminTokenFromEnv).toBeUndefined();
  });

  it('takes the Redis URL and the admin token from the environment, keeping store settings', () => {
    const loaded = loadConfig(path, {
      FEDBROKER_REDIS_URL: 'redis://redis.test:6379/0',
      FEDBROKER_ADMIN_TOKEN: 'test-token-0123456789abcdef',
    });
    expect(loaded.config.store).toEqual({
      kind: 'redis',
      url: 'redis://redis.test:6379/0',
      keyPrefix: 'fedbroker:',
      commandTimeout: 2,
    });
    expect(loaded.adminTokenFromEnv).toBe('test-token-0123456789abcdef');
  });

  it('has a line for every schema key, set or commented out', () => {
    const present = new Set(keys.map((k) => k.path));
    expect(SCHEMA_PATHS.filter((p) => !present.has(p))).toEqual([]);
  });

  it('explains every schema key with its default (or says it is required)', () => {
    const unexplained = SCHEMA_PATHS.filter(
      (p) => !keys.some((k) => k.path === p && /\bdefault\b|\brequired\b/i.test(k.explanation)),
    );
    expect(unexplained).toEqual([]);
  });

  it('shows the file store as the alternative and a static relationship per profile', () => {
    expect(keys).toContainEqual(expect.objectContaining({ path: 'store', commented: true }));
    expect(text).toMatch(/^# {3}kind: file\b/m);
    expect(text).toContain(`#   - trustDomain: ${partner}`);
    expect(text).toMatch(/^ {2}# {5}profile: https_spiffe\b/m);
    expect(text).toMatch(/^ {2}# {5}profile: https_web\b/m);
  });

  it('holds no secrets', () => {
    // A password in a Redis URL (the `[:password@]` placeholder is fine).
    expect(text).not.toMatch(/rediss?:\/\/[\w.~%-]*:[^\s/@[\]]+@/);
    expect(text).not.toMatch(/fbat_/);
    expect(text).not.toMatch(/^\s*(tokenFile|password|token)\s*:/m);
  });
});
