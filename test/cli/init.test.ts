// CLI dispatcher and `fedbroker init`: exit codes, error lines, and a config that loads.
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { cli } from '../helpers/cli.js';

describe('fedbroker dispatcher', () => {
  it('prints usage and exits 2 without a command', async () => {
    const result = await cli([]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('usage: fedbroker');
  });

  it('refuses an unknown command with ERR_CLI_USAGE and exit 2', async () => {
    const result = await cli(['frobnicate']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^error ERR_CLI_USAGE: /);
  });

  it('refuses an unknown option with exit 2', async () => {
    const result = await cli(['init', '--bogus']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^error ERR_CLI_USAGE: /);
  });
});

describe('fedbroker init', () => {
  it('writes a broker.yaml that loads, with a private data directory', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'fedbroker-init-')), 'org');
    const result = await cli([
      'init',
      '--trust-domain',
      'logistics.example',
      '--dir',
      dir,
      '--admin-port',
      '9445',
      '--json',
    ]);
    expect(result.code).toBe(0);
    const { configFile, dataDir } = JSON.parse(result.stdout) as {
      configFile: string;
      dataDir: string;
    };
    const loaded = loadConfig(configFile, {});
    expect(loaded.config.trustDomain).toBe('logistics.example');
    expect(loaded.config.adminApi.listen).toBe('127.0.0.1:9445');
    expect(loaded.config.bundleEndpoint.spiffeId).toBe(
      'spiffe://logistics.example/spiffe/bundle-endpoint',
    );
    expect(loaded.dataDir).toBe(dataDir);
    expect(statSync(dataDir).mode & 0o777).toBe(0o700);
    expect(statSync(configFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(configFile, 'utf8')).toContain('# Our SPIFFE trust domain');
  });

  it('refuses to overwrite an existing config (ERR_CLI_FILE)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedbroker-init-'));
    expect((await cli(['init', '--trust-domain', 'a.example', '--dir', dir])).code).toBe(0);
    const again = await cli(['init', '--trust-domain', 'a.example', '--dir', dir]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^error ERR_CLI_FILE: /);
  });

  it('ID-4 refuses an invalid trust domain with its SPIFFE ID code', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedbroker-init-'));
    const result = await cli(['init', '--trust-domain', 'Bad.Example', '--dir', dir]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^error ERR_SPIFFEID_TRUST_DOMAIN_CHAR: /);
  });
});
