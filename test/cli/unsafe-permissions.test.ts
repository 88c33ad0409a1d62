// Issue 15 finding 8: a broker refuses to start on a data directory, key, token, journal or state file
// that others can write (or read, for secrets) or another user owns, with ERR_CONFIG_UNSAFE_PERMISSIONS
// and the exact chmod/chown that fixes it; `fedbroker serve` and the CLI's token reading do the same.
// "Another user" is uid 65534 (nobody): the tests run as root, so chown works.
import {
  chmodSync,
  chownSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LoadedConfig } from '../../src/config/index.js';
import { silentLogger } from '../../src/log.js';
import { startBroker } from '../../src/main.js';
import { testConfig } from '../helpers/broker.js';
import {
  buildCli,
  freePort,
  loopbackInitArgs,
  runBuilt,
  startServe,
  stopServe,
} from '../helpers/built-cli.js';
import { createWebPki, type WebPki } from '../helpers/web-pki.js';

const OTHER_UID = 65534;
const isRoot = process.getuid?.() === 0;

async function rejectionOf(
  promise: Promise<{ stop(): Promise<void> }>,
): Promise<{ code?: unknown; message: string }> {
  let started: { stop(): Promise<void> };
  try {
    started = await promise;
  } catch (error) {
    return error as { code?: unknown; message: string };
  }
  await started.stop();
  throw new Error('expected the broker to refuse to start');
}

/** A broker config whose admin token lives in a file (not the environment), on the file store. */
function fileTokenConfig(extra: Parameters<typeof testConfig>[0]): LoadedConfig {
  return { ...testConfig(extra), adminTokenFromEnv: undefined };
}

async function startAndStop(loaded: LoadedConfig): Promise<void> {
  const broker = await startBroker(loaded, { logger: silentLogger });
  await broker.stop();
}

type Breakage = {
  readonly name: string;
  /** Makes the file unsafe; returns the path and the fix the message must name. */
  readonly apply: (dataDir: string) => { path: string; fix: string };
};

const caKeyOf = (dataDir: string): string => {
  const name = readdirSync(join(dataDir, 'ca')).find((n) => n.endsWith('.key.pem'));
  if (name === undefined) throw new Error('no ca key');
  return join(dataDir, 'ca', name);
};
const auditSegmentOf = (dataDir: string): string => {
  const dir = join(dataDir, 'store', 'audit');
  const name = readdirSync(dir).find((n) => n.endsWith('.log'));
  if (name === undefined) throw new Error('no audit segment');
  return join(dir, name);
};
const chmod = (path: string, mode: number, fix: string): { path: string; fix: string } => {
  chmodSync(path, mode);
  return { path, fix: `chmod ${fix} ${path}` };
};
const chownToOther = (path: string): { path: string; fix: string } => {
  chownSync(path, OTHER_UID, OTHER_UID);
  return { path, fix: `chown 0 ${path}` };
};

const BREAKAGES: readonly Breakage[] = [
  { name: 'data directory mode 0777', apply: (d) => chmod(d, 0o777, '700') },
  { name: 'data directory group-writable (0770)', apply: (d) => chmod(d, 0o770, '700') },
  { name: 'data directory owned by another user', apply: (d) => chownToOther(d) },
  { name: 'ca directory mode 0777', apply: (d) => chmod(join(d, 'ca'), 0o777, '700') },
  { name: 'ca key owned by another user', apply: (d) => chownToOther(caKeyOf(d)) },
  { name: 'ca key readable by others (0644)', apply: (d) => chmod(caKeyOf(d), 0o644, '600') },
  {
    name: 'ca state writable by others',
    apply: (d) => chmod(join(d, 'ca', 'state.json'), 0o666, '600'),
  },
  {
    name: 'admin token readable by group (0640)',
    apply: (d) => chmod(join(d, 'admin-token'), 0o640, '600'),
  },
  { name: 'admin token owned by another user', apply: (d) => chownToOther(join(d, 'admin-token')) },
  {
    name: 'replica id writable by others',
    apply: (d) => chmod(join(d, 'replica-id'), 0o666, '600'),
  },
  {
    name: 'store journal mode 0666',
    apply: (d) => chmod(join(d, 'store', 'journal.log'), 0o666, '600'),
  },
  { name: 'store directory owned by another user', apply: (d) => chownToOther(join(d, 'store')) },
  {
    name: 'audit segment writable by others',
    apply: (d) => chmod(auditSegmentOf(d), 0o646, '600'),
  },
];

describe.runIf(isRoot)('start-up refuses unsafe permissions (issue 15 finding 8)', () => {
  let loaded: LoadedConfig;

  beforeAll(async () => {
    loaded = fileTokenConfig({ trustDomain: 'perm.example' });
    // A safe data directory: ca keys and state, token, replica id, store journal and an audit segment.
    const broker = await startBroker(loaded, { logger: silentLogger });
    const created = await fetch(`${broker.adminUrl}/v1/admin/entries`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${readFileSync(join(loaded.dataDir, 'admin-token'), 'utf8').trim()}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ spiffeId: 'spiffe://perm.example/workload' }),
    });
    expect(created.status).toBe(201);
    await broker.stop();
  }, 60_000);

  it.each(BREAKAGES)('$name: ERR_CONFIG_UNSAFE_PERMISSIONS with the fix', async ({ apply }) => {
    const { path, fix } = apply(loaded.dataDir);
    try {
      const error = await rejectionOf(startBroker(loaded, { logger: silentLogger }));
      expect(error.code).toBe('ERR_CONFIG_UNSAFE_PERMISSIONS');
      expect(error.message).toContain(path);
      expect(error.message).toContain(`run: ${fix}`);
    } finally {
      // Apply the named fix (as the operator would), so the next case starts from a safe directory.
      if (fix.startsWith('chown')) chownSync(path, 0, 0);
      else chmodSync(path, Number.parseInt(fix.split(' ')[1] ?? '', 8));
    }
  });

  it('a token planted by another user in a 0777 data directory never becomes an admin token', async () => {
    const planted = fileTokenConfig({ trustDomain: 'planted.example' });
    await startAndStop(planted);
    chmodSync(planted.dataDir, 0o777);
    writeFileSync(join(planted.dataDir, 'admin-token'), 'fbat_planted-by-nobody-0123456789\n');
    chownSync(join(planted.dataDir, 'admin-token'), OTHER_UID, OTHER_UID);
    const error = await rejectionOf(startBroker(planted, { logger: silentLogger }));
    expect(error.code).toBe('ERR_CONFIG_UNSAFE_PERMISSIONS');
  });

  it('after the named fixes the broker starts again', async () => {
    await startAndStop(loaded);
  }, 60_000);
});

describe.runIf(isRoot)('configured TLS key files (issue 15 finding 8)', () => {
  let pki: WebPki;

  beforeAll(() => {
    pki = createWebPki();
  });

  it.each([
    { mode: 0o644, owner: 0, fix: 'chmod 640' },
    { mode: 0o600, owner: OTHER_UID, fix: 'chown 0' },
    { mode: 0o620, owner: 0, fix: 'chmod 600' },
  ])('https_web key mode $mode owner $owner: refused ($fix)', async ({ mode, owner, fix }) => {
    chmodSync(pki.keyFile, mode);
    chownSync(pki.keyFile, owner, owner);
    try {
      const loaded = testConfig({ trustDomain: 'web.example', profile: 'https_web', webPki: pki });
      const error = await rejectionOf(startBroker(loaded, { logger: silentLogger }));
      expect(error.code).toBe('ERR_CONFIG_UNSAFE_PERMISSIONS');
      expect(error.message).toContain(`run: ${fix} ${pki.keyFile}`);
    } finally {
      chownSync(pki.keyFile, 0, 0);
      chmodSync(pki.keyFile, 0o600);
    }
  });

  it('a root-owned key readable by its group only (0640) is accepted, as PostgreSQL allows', async () => {
    chmodSync(pki.keyFile, 0o640);
    try {
      await startAndStop(
        testConfig({ trustDomain: 'web.example', profile: 'https_web', webPki: pki }),
      );
    } finally {
      chmodSync(pki.keyFile, 0o600);
    }
  }, 60_000);
});

describe.runIf(isRoot)('the config file and the files it names (issue 15 finding 8)', () => {
  it('a config file writable by others is refused (chmod o-w); one owned by another user is not (read-only mounts)', async () => {
    const loaded = testConfig({ trustDomain: 'cfg.example' });
    writeFileSync(loaded.path, 'trustDomain: cfg.example\n', { mode: 0o666 });
    chmodSync(loaded.path, 0o666);
    const error = await rejectionOf(startBroker(loaded, { logger: silentLogger }));
    expect(error.code).toBe('ERR_CONFIG_UNSAFE_PERMISSIONS');
    expect(error.message).toContain(`run: chmod o-w ${loaded.path}`);

    chmodSync(loaded.path, 0o644);
    chownSync(loaded.path, OTHER_UID, OTHER_UID);
    await startAndStop(loaded);
  }, 60_000);
});

describe.runIf(isRoot)('the built fedbroker refuses too (issue 15 finding 8)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedbroker-perm-cli-'));
  const config = join(dir, 'broker.yaml');
  const dataDir = join(dir, 'state');

  beforeAll(async () => {
    await buildCli();
    const init = await runBuilt(loopbackInitArgs('permcli.example', dir, await freePort()));
    expect(init.code, init.stderr).toBe(0);
    const served = await startServe(config);
    const adminUrl = /admin API:\s+(\S+)/.exec(served.stdout())?.[1];
    expect((await fetch(`${String(adminUrl)}/healthz`)).status).toBe(200);
    expect(await stopServe(served.child)).toBe(0);
  }, 240_000);

  afterAll(() => {
    chmodSync(dataDir, 0o700);
  });

  it('serve on a 0777 data directory exits non-zero with the code and the chmod', async () => {
    chmodSync(dataDir, 0o777);
    try {
      const served = await runBuilt(['serve', '--config', config]);
      expect(served.code).not.toBe(0);
      expect(served.stderr).toContain('ERR_CONFIG_UNSAFE_PERMISSIONS');
      expect(served.stderr).toContain(`run: chmod 700 ${dataDir}`);
    } finally {
      chmodSync(dataDir, 0o700);
    }
  }, 60_000);

  it("the CLI (as root) trusts a token owned by the data directory's owner (the broker's user), not one planted by another", async () => {
    const token = join(dataDir, 'admin-token');
    chownSync(dataDir, OTHER_UID, OTHER_UID);
    chownSync(token, OTHER_UID, OTHER_UID);
    try {
      // No broker runs now: getting as far as "cannot reach it" means the token was accepted.
      const accepted = await runBuilt(['entry', 'list', '--config', config]);
      expect(accepted.code).not.toBe(0);
      expect(accepted.stderr).not.toContain('ERR_CONFIG_UNSAFE_PERMISSIONS');
      // Issue 18: an unreachable broker has its own code (exit 1), no longer a usage error.
      expect(accepted.stderr).toMatch(/^error ERR_CLI_UNREACHABLE: /);

      chownSync(dataDir, 0, 0);
      const planted = await runBuilt(['entry', 'list', '--config', config]);
      expect(planted.stderr).toMatch(/^error ERR_CONFIG_UNSAFE_PERMISSIONS: /);
      expect(planted.stderr).toContain(`run: chown 0 ${token}`);
    } finally {
      chownSync(dataDir, 0, 0);
      chownSync(token, 0, 0);
    }
  }, 60_000);

  it('a CLI command refuses an admin token file others can read before sending it', async () => {
    const token = join(dataDir, 'admin-token');
    chmodSync(token, 0o644);
    try {
      const listed = await runBuilt(['entry', 'list', '--config', config]);
      expect(listed.code).not.toBe(0);
      expect(listed.stderr).toMatch(/^error ERR_CONFIG_UNSAFE_PERMISSIONS: /);
      expect(listed.stderr).toContain(`run: chmod 600 ${token}`);
    } finally {
      chmodSync(token, 0o600);
    }
  }, 60_000);
});
