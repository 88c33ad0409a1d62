// Config loading tests: defaults, durations, env overrides, readable errors (ID-15, FED-1, FED-4).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  defaultCsrCheckWorkers,
  formatDuration,
  loadConfig,
  parseConfig,
  parseDurationSeconds,
} from './index.js';

function writeConfig(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'fedbroker-config-'));
  const file = join(dir, 'broker.yaml');
  writeFileSync(file, text);
  return file;
}

describe('durations', () => {
  it.each([
    ['30s', 30],
    ['5m', 300],
    ['1h', 3600],
    ['1h30m', 5400],
    ['2d', 172800],
    ['45', 45],
    [90, 90],
  ])('parses %s', (input, seconds) => {
    expect(parseDurationSeconds(input)).toBe(seconds);
  });

  it.each(['', '5x', 'm5', '1.5h', '-3', '1h 30m', -1, 1.5])('refuses %s', (input) => {
    expect(parseDurationSeconds(input)).toBeUndefined();
  });

  it('formats with the largest exact unit', () => {
    expect(formatDuration(3600)).toBe('1h');
    expect(formatDuration(90)).toBe('90s');
    expect(formatDuration(300)).toBe('5m');
  });
});

describe('parseConfig', () => {
  it('fills safe defaults from a minimal config', () => {
    const config = parseConfig({ trustDomain: 'acme.example' });
    expect(config.store).toEqual({ kind: 'file' });
    expect(config.adminApi.listen).toBe('127.0.0.1:8445');
    expect(config.bundleEndpoint.refreshHint).toBe(300);
    expect(config.ca.x509SvidTtl).toBe(3600);
    expect(config.ca.jwtSvidTtl).toBe(300);
    expect(config.ca.caTtl).toBe(86400);
    // Left to the broker, which picks it from the machine (defaultCsrCheckWorkers).
    expect(config.ca.csrCheckWorkers).toBeUndefined();
  });

  it('takes ca.csrCheckWorkers from 1 to 64', () => {
    for (const n of [1, 3, 64]) {
      expect(parseConfig({ trustDomain: 'acme.example', ca: { csrCheckWorkers: n } }).ca).toEqual(
        expect.objectContaining({ csrCheckWorkers: n }),
      );
    }
  });

  it('defaults ca.csrCheckWorkers to one fewer than the cores, at least 1', () => {
    expect([1, 2, 4, 16].map((cores) => defaultCsrCheckWorkers(cores))).toEqual([1, 1, 3, 15]);
    expect(defaultCsrCheckWorkers()).toBe(Math.max(1, availableParallelism() - 1));
  });

  it.each([
    ['ID-4 invalid trust domain', { trustDomain: 'Acme.example' }],
    ['unknown key (typo protection)', { trustDomain: 'acme.example', trustdomain: 'x' }],
    ['duration out of range', { trustDomain: 'acme.example', ca: { jwtSvidTtl: '2d' } }],
    ['bad listen address', { trustDomain: 'acme.example', adminApi: { listen: '8445' } }],
    [
      'FED-4 http bundle URL',
      {
        trustDomain: 'acme.example',
        federation: {
          relationships: [{ trustDomain: 'b.example', url: 'http://b/', profile: 'https_web' }],
        },
      },
    ],
    [
      'FED-4 userinfo in bundle URL',
      {
        trustDomain: 'acme.example',
        federation: {
          relationships: [
            { trustDomain: 'b.example', url: 'https://u:p@b/', profile: 'https_web' },
          ],
        },
      },
    ],
    [
      'FED-1 https_spiffe without endpoint id',
      {
        trustDomain: 'acme.example',
        federation: {
          relationships: [{ trustDomain: 'b.example', url: 'https://b/', profile: 'https_spiffe' }],
        },
      },
    ],
    [
      'ID-15 relationship for our own trust domain',
      {
        trustDomain: 'acme.example',
        federation: {
          relationships: [{ trustDomain: 'acme.example', url: 'https://a/', profile: 'https_web' }],
        },
      },
    ],
    [
      'ID-15 duplicate relationship',
      {
        trustDomain: 'acme.example',
        federation: {
          relationships: [
            { trustDomain: 'b.example', url: 'https://b/', profile: 'https_web' },
            { trustDomain: 'b.example', url: 'https://b2/', profile: 'https_web' },
          ],
        },
      },
    ],
    [
      'FED-1 X509-2 an endpoint id without a path',
      {
        trustDomain: 'acme.example',
        federation: {
          relationships: [
            {
              trustDomain: 'b.example',
              url: 'https://b/',
              profile: 'https_spiffe',
              endpointSpiffeId: 'spiffe://b.example',
              bundleFile: 'b.json',
            },
          ],
        },
      },
    ],
    [
      'X509-2 our bundle endpoint id without a path',
      { trustDomain: 'acme.example', bundleEndpoint: { spiffeId: 'spiffe://acme.example' } },
    ],
    ['no CSR check worker', { trustDomain: 'acme.example', ca: { csrCheckWorkers: 0 } }],
    ['65 CSR check workers', { trustDomain: 'acme.example', ca: { csrCheckWorkers: 65 } }],
    ['1.5 CSR check workers', { trustDomain: 'acme.example', ca: { csrCheckWorkers: 1.5 } }],
    ['CSR check workers as text', { trustDomain: 'acme.example', ca: { csrCheckWorkers: '2' } }],
    [
      'https_web endpoint without cert files',
      { trustDomain: 'acme.example', bundleEndpoint: { profile: 'https_web' } },
    ],
  ])('refuses %s with ERR_CONFIG_INVALID', (_name, raw) => {
    expect(() => parseConfig(raw)).toThrow(expect.objectContaining({ code: 'ERR_CONFIG_INVALID' }));
  });

  it('names the offending field in the message', () => {
    try {
      parseConfig({ trustDomain: 'acme.example', adminApi: { listen: 'nope' } });
      expect.unreachable();
    } catch (error) {
      expect((error as Error).message).toContain('adminApi.listen');
    }
  });
});

describe('loadConfig', () => {
  it('resolves dataDir against the config file and applies env overrides', () => {
    const file = writeConfig('trustDomain: acme.example\ndataDir: ./state\n');
    const loaded = loadConfig(file, {
      FEDBROKER_REDIS_URL: 'redis://127.0.0.1:6390',
      FEDBROKER_ADMIN_TOKEN: 'secret-token',
    });
    expect(loaded.dataDir).toBe(join(file, '..', 'state'));
    expect(loaded.config.store).toMatchObject({ kind: 'redis', url: 'redis://127.0.0.1:6390' });
    expect(loaded.adminTokenFromEnv).toBe('secret-token');
  });

  it.each([
    ['missing file', null, 'ERR_CONFIG_FILE'],
    ['invalid YAML', 'trustDomain: [unclosed\n', 'ERR_CONFIG_FILE'],
    ['duplicate YAML keys', 'trustDomain: a.example\ntrustDomain: b.example\n', 'ERR_CONFIG_FILE'],
    ['a YAML list instead of a mapping', '- a\n- b\n', 'ERR_CONFIG_INVALID'],
  ])('refuses %s', (_name, text, code) => {
    const file = text === null ? join(tmpdir(), 'fedbroker-no-such-file.yaml') : writeConfig(text);
    expect(() => loadConfig(file, {})).toThrow(expect.objectContaining({ code }));
  });
});
