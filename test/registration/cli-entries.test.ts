// `fedbroker entry create/list/show` with node and workload entries, in process against a real
// broker's admin API: --node, --parent-id, --selector reach the broker, and bad selectors fail
// with the broker's code.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Broker } from '../../src/main.js';
import { ADMIN_TOKEN, startTestBroker } from '../helpers/broker.js';
import { cli } from '../helpers/cli.js';

const TD = 'cli-node.test';
let broker: Broker;
let dir: string;
let config: string;
const env = { FEDBROKER_ADMIN_TOKEN: ADMIN_TOKEN };

beforeAll(async () => {
  broker = await startTestBroker({ trustDomain: TD });
  dir = mkdtempSync(join(tmpdir(), 'fedbroker-cli-entries-'));
  config = join(dir, 'broker.yaml');
  const listen = new URL(broker.adminUrl).host;
  writeFileSync(
    config,
    `trustDomain: ${TD}\ndataDir: ${join(dir, 'state')}\nadminApi:\n  listen: ${listen}\n`,
  );
});

afterAll(async () => {
  await broker?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('fedbroker entry create with node and workload flags', () => {
  it('creates a node entry and a workload entry; list and show display role, parent and selectors', async () => {
    const node = await cli(
      [
        'entry',
        'create',
        '--spiffe-id',
        `spiffe://${TD}/nodes/{instance}`,
        '--node',
        '--json',
        '--config',
        config,
      ],
      { env },
    );
    expect(node.stderr).toBe('');
    expect(node.code).toBe(0);
    expect(JSON.parse(node.stdout)).toMatchObject({ entry: { node: true, parentId: null } });

    const workload = await cli(
      [
        'entry',
        'create',
        '--spiffe-id',
        `spiffe://${TD}/web/{instance}`,
        '--parent-id',
        `spiffe://${TD}/nodes/{instance}`,
        '--selector',
        'unix:uid:1000',
        '--selector',
        'unix:path:/usr/bin/node',
        '--config',
        config,
      ],
      { env },
    );
    expect(workload.code).toBe(0);
    expect(workload.stdout).toMatch(/role:\s+workload/);
    expect(workload.stdout).toContain(`spiffe://${TD}/nodes/{instance}`);
    expect(workload.stdout).toContain('unix:path:/usr/bin/node, unix:uid:1000');
    const id = /e_[A-Za-z0-9_-]{22}/.exec(workload.stdout)?.[0] ?? '';

    const shown = await cli(['entry', 'show', id, '--json', '--config', config], { env });
    expect(JSON.parse(shown.stdout)).toMatchObject({
      entry: {
        node: false,
        parentId: `spiffe://${TD}/nodes/{instance}`,
        selectors: ['unix:path:/usr/bin/node', 'unix:uid:1000'],
      },
    });
    const list = await cli(['entry', 'list', '--config', config], { env });
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/ROLE\s+PARENT ID\s+SELECTORS/);
    expect(list.stdout).toMatch(/\{instance\}\s+node\s/);
    expect(list.stdout).toContain('unix:path:/usr/bin/node,unix:uid:1000');
  });

  it('a bad selector fails with the broker code', async () => {
    const result = await cli(
      [
        'entry',
        'create',
        '--spiffe-id',
        `spiffe://${TD}/bad`,
        '--parent-id',
        `spiffe://${TD}/nodes/{instance}`,
        '--selector',
        'unix:uid:abc',
        '--config',
        config,
      ],
      { env },
    );
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/^error ERR_REGISTRATION_SELECTOR_INVALID/);
  });
});
