// `fedbroker admin add|list|remove|rotate` and the approvals line of `federation show` against a real
// broker on 127.0.0.1 (issue 19): a named admin's token works from the CLI through FEDBROKER_ADMIN_TOKEN.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { startBroker, type Broker } from '../../src/main.js';
import { ADMIN_TOKEN, admin, testConfig } from '../helpers/broker.js';
import { cli } from '../helpers/cli.js';

let broker: Broker;
let configFile = '';

beforeAll(async () => {
  const loaded = testConfig({
    trustDomain: 'admins.test',
    extra: { federation: { requiredApprovals: 2 } },
  });
  broker = await startBroker(loaded, { logger: silentLogger });
  configFile = join(loaded.dataDir, '..', 'cli.yaml');
  writeFileSync(
    configFile,
    `trustDomain: admins.test\ndataDir: ${loaded.dataDir}\nadminApi:\n  listen: 127.0.0.1:${new URL(broker.adminUrl).port}\n`,
  );
});

afterAll(async () => {
  await broker?.stop();
});

const as = (token: string) => (argv: string[]) =>
  cli([...argv, '--config', configFile], { env: { FEDBROKER_ADMIN_TOKEN: token } });

describe('fedbroker admin (issue 19)', () => {
  it('add prints the token once; list never shows it; rotate and remove stop the old token', async () => {
    const root = as(ADMIN_TOKEN);
    const added = await root(['admin', 'add', 'carol', '--role', 'viewer']);
    expect(added.code).toBe(0);
    const token = /^(fba\.carol\.\S+)$/m.exec(added.stdout)?.[1] ?? '';
    expect(token).not.toBe('');
    const listed = await root(['admin', 'list']);
    expect(listed.stdout).toMatch(/carol\s+viewer/);
    expect(listed.stdout).not.toContain(token);

    // A viewer's token reads, and is refused on a change with the API's code.
    expect((await as(token)(['federation', 'list'])).code).toBe(0);
    const refused = await as(token)(['admin', 'add', 'dave']);
    expect([refused.code, refused.stderr]).toEqual([
      1,
      expect.stringContaining('ERR_API_FORBIDDEN'),
    ]);

    const rotated = await root(['admin', 'rotate', 'carol', '--json']);
    const next = (JSON.parse(rotated.stdout) as { token: string }).token;
    expect((await as(token)(['admin', 'list'])).stderr).toContain('ERR_API_UNAUTHENTICATED');
    expect((await as(next)(['admin', 'list'])).code).toBe(0);
    expect((await root(['admin', 'remove', 'carol'])).stdout).toContain('carol removed');
    expect((await as(next)(['admin', 'list'])).stderr).toContain('ERR_API_UNAUTHENTICATED');
    const missing = await root(['admin', 'remove', 'carol']);
    expect(missing.stderr).toContain('ERR_ACCESS_ADMIN_NOT_FOUND');
    const bad = await root(['admin', 'add', 'eve', '--role', 'owner']);
    expect(bad.code).toBe(2);
  });

  it('federation show tells the approvals so far under the two-person rule', async () => {
    const root = as(ADMIN_TOKEN);
    const created = await admin(broker, 'POST', '/v1/admin/relationships', {
      trustDomain: 'partner.test',
      url: 'https://127.0.0.1:9/bundle',
      profile: 'https_web',
    });
    expect(created.status).toBe(201);
    await root(['federation', 'approve', 'partner.test', '--reason', 'digest checked by phone']);
    const shown = await root(['federation', 'show', 'partner.test']);
    expect(shown.stdout).toMatch(/state:\s+pending/);
    expect(shown.stdout).toContain('1 of 2 (admin:root: "digest checked by phone")');
    const again = await root(['federation', 'approve', 'partner.test']);
    expect(again.stderr).toContain('ERR_FEDERATION_APPROVAL_REPEATED');
  });
});
