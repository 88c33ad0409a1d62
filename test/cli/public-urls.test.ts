// Issue 18 item 1 with the built `fedbroker`: `init --public-host` writes public URLs apart from
// the listen addresses; the banner, `token generate` and an invitation carry the public names,
// while the broker binds 127.0.0.1 (`--listen-host`). No DNS is needed for the public name.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { buildCli, freePort, runBuilt, startServe, stopServe } from '../helpers/built-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'fedbroker-public-'));
const config = join(dir, 'broker.yaml');
const NAME = 'broker.logistics.invalid';
let served: Awaited<ReturnType<typeof startServe>> | undefined;
let ports: { bundle: number; agent: number; admin: number };

beforeAll(async () => {
  await buildCli();
  ports = { bundle: await freePort(), agent: await freePort(), admin: await freePort() };
  const init = await runBuilt([
    'init',
    '--trust-domain',
    'logistics.example',
    '--dir',
    dir,
    '--public-host',
    NAME,
    '--listen-host',
    '127.0.0.1',
    '--bundle-port',
    String(ports.bundle),
    '--agent-port',
    String(ports.agent),
    '--admin-port',
    String(ports.admin),
  ]);
  expect(init.code, init.stderr).toBe(0);
  served = await startServe(config);
}, 240_000);

afterAll(async () => {
  if (served !== undefined) await stopServe(served.child);
});

describe('public URLs apart from listen addresses', () => {
  it('init writes the public URLs and binds the listen host', () => {
    const { config: c } = loadConfig(config, {});
    expect(c.bundleEndpoint).toMatchObject({
      listen: `127.0.0.1:${ports.bundle}`,
      url: `https://${NAME}:${ports.bundle}/`,
    });
    expect(c.agentApi).toMatchObject({
      listen: `127.0.0.1:${ports.agent}`,
      url: `https://${NAME}:${ports.agent}`,
    });
  });

  it('the banner prints the public URLs beside the listen addresses', () => {
    const banner = served?.stdout() ?? '';
    expect(banner).toContain(
      `bundle endpoint: https://${NAME}:${ports.bundle}/ (https_spiffe; listening on 127.0.0.1:${ports.bundle})`,
    );
    expect(banner).toMatch(
      new RegExp(
        `agent API: +https://${NAME.replaceAll('.', '\\.')}:${ports.agent} \\(.*listening on 127\\.0\\.0\\.1:${ports.agent}\\)`,
      ),
    );
  });

  it('token generate tells agents the public agent API URL', async () => {
    const entry = await runBuilt([
      'entry',
      'create',
      '--spiffe-id',
      'spiffe://logistics.example/planner',
      '--config',
      config,
      '--json',
    ]);
    expect(entry.code, entry.stderr).toBe(0);
    const id = (JSON.parse(entry.stdout) as { entry: { id: string } }).entry.id;
    const token = await runBuilt(['token', 'generate', '--entry', id, '--config', config]);
    expect(token.code, token.stderr).toBe(0);
    expect(token.stdout).toMatch(
      new RegExp(`^agent api: +https://${NAME.replaceAll('.', '\\.')}:${ports.agent}$`, 'm'),
    );
  });

  it('an invitation carries the public bundle endpoint URL, without --allow-local-url', async () => {
    const file = join(dir, 'logistics.invite');
    const invited = await runBuilt(['federation', 'invite', '--out', file, '--config', config]);
    expect(invited.code, invited.stderr).toBe(0);
    expect(invited.stdout).toContain(`bundle endpoint https://${NAME}:${ports.bundle}/`);
    const token = (JSON.parse(readFileSync(file, 'utf8')) as { token: string }).token;
    const claims = JSON.parse(
      Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8'),
    ) as Record<string, { bundleEndpointUrl?: string }>;
    expect(Object.values(claims).map((v) => v?.bundleEndpointUrl)).toContain(
      `https://${NAME}:${ports.bundle}/`,
    );
  });
});
