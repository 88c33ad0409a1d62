// The files start-up reads beside the config: the replica id and the admin token (created mode 0600
// once, then read back), and operator files named in broker.yaml; each refusal is ERR_CONFIG_FILE.
import { chmodSync, existsSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isBrokerError } from '../errors.js';
import { parseConfig, type LoadedConfig } from './load.js';
import { loadAdminToken, loadReplicaId, readConfiguredFile } from './startup-files.js';

function dataDir(): string {
  return mkdtempSync(join(tmpdir(), 'fedbroker-startup-files-'));
}

function loaded(dir: string, adminTokenFromEnv?: string): LoadedConfig {
  return {
    config: parseConfig({ trustDomain: 'home.test', dataDir: dir }),
    path: join(dir, 'broker.yaml'),
    dataDir: dir,
    adminTokenFromEnv,
  };
}

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    return isBrokerError(error) ? error.code : 'not a BrokerError';
  }
  return undefined;
}

describe('loadReplicaId', () => {
  it('creates a random id (mode 0600) once and reads the same one back', () => {
    const dir = dataDir();
    const id = loadReplicaId(dir);
    expect(id).toMatch(/^replica-[0-9a-f]{16}$/);
    expect(statSync(join(dir, 'replica-id')).mode & 0o777).toBe(0o600);
    expect(loadReplicaId(dir)).toBe(id);
  });

  it.each([['has spaces'], ['x'.repeat(129)], ['a/b']])(
    'ERR_CONFIG_FILE for a file holding %j',
    (text) => {
      const dir = dataDir();
      writeFileSync(join(dir, 'replica-id'), `${text}\n`, { mode: 0o600 });
      expect(codeOf(() => loadReplicaId(dir))).toBe('ERR_CONFIG_FILE');
    },
  );
});

describe('loadAdminToken', () => {
  const logger = (): { info: (m: string, f?: object) => void; lines: unknown[] } => {
    const lines: unknown[] = [];
    return { lines, info: (m, f) => lines.push([m, f]) };
  };

  it('the environment variable wins: no file is read or written', () => {
    const dir = dataDir();
    expect(loadAdminToken(loaded(dir, 'env-token-0123456789'), logger())).toEqual({
      token: 'env-token-0123456789',
      file: undefined,
    });
    expect(existsSync(join(dir, 'admin-token'))).toBe(false);
  });

  it('creates a token (mode 0600) on first start, says where, and reads it back after', () => {
    const dir = dataDir();
    const log = logger();
    const first = loadAdminToken(loaded(dir), log);
    const file = join(dir, 'admin-token');
    expect(first.file).toBe(file);
    expect(first.token).toMatch(/^fbat_[A-Za-z0-9_-]{43}$/);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(log.lines).toEqual([['generated admin token', { file }]]);
    expect(loadAdminToken(loaded(dir), log).token).toBe(first.token);
    expect(log.lines).toHaveLength(1);
  });

  it('narrows a token file others could read to 0600', () => {
    const dir = dataDir();
    const file = join(dir, 'admin-token');
    writeFileSync(file, 'operator-chosen-token-123\n');
    chmodSync(file, 0o644);
    expect(loadAdminToken(loaded(dir), logger()).token).toBe('operator-chosen-token-123');
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('ERR_CONFIG_FILE for a token shorter than 16 characters', () => {
    const dir = dataDir();
    writeFileSync(join(dir, 'admin-token'), 'short\n', { mode: 0o600 });
    expect(codeOf(() => loadAdminToken(loaded(dir), logger()))).toBe('ERR_CONFIG_FILE');
  });
});

describe('readConfiguredFile', () => {
  it('reads a file relative to the config folder', () => {
    const dir = dataDir();
    writeFileSync(join(dir, 'bundle.json'), '{}');
    expect(readConfiguredFile('bundle file', 'bundle.json', dir)).toBe('{}');
  });

  it('ERR_CONFIG_FILE naming what and which file when it cannot be read', () => {
    const dir = dataDir();
    expect(codeOf(() => readConfiguredFile('CA file', 'missing.pem', dir))).toBe('ERR_CONFIG_FILE');
    expect(() => readConfiguredFile('CA file', 'missing.pem', dir)).toThrow(
      'cannot read CA file "missing.pem"',
    );
  });
});
