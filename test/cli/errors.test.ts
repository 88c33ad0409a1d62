// Issue 18 item 4: every error an operator meets in the first hour has a stable code, a message
// that names the fix (config key, flag or command), and the right exit status.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Broker } from '../../src/main.js';
import { ADMIN_TOKEN, startTestBroker } from '../helpers/broker.js';
import { cli } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'fedbroker-errors-'));
const env = { FEDBROKER_ADMIN_TOKEN: ADMIN_TOKEN };
let broker: Broker;
let config: string;
let blocker: Server;
let busyPort: number;

function write(name: string, lines: readonly string[]): string {
  const file = join(dir, name);
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

beforeAll(async () => {
  broker = await startTestBroker({ trustDomain: 'logistics.example' });
  const host = (url: string): string => new URL(url).host;
  config = write('broker.yaml', [
    'trustDomain: logistics.example',
    `dataDir: ${join(dir, 'cli-state')}`,
    `bundleEndpoint: { listen: "${host(broker.bundleEndpointUrl)}" }`,
    `adminApi: { listen: "${host(broker.adminUrl)}" }`,
  ]);
  blocker = createServer();
  busyPort = await new Promise<number>((done) =>
    blocker.listen(0, '127.0.0.1', () => done((blocker.address() as { port: number }).port)),
  );
}, 60_000);

afterAll(async () => {
  await broker?.stop();
  await new Promise((done) => blocker?.close(done));
});

const withConfig = (args: readonly string[]): Promise<Awaited<ReturnType<typeof cli>>> =>
  cli([...args, '--config', config], { env, cwd: dir });

describe('CLI usage errors name the fix (exit 2)', () => {
  it.each([
    {
      name: 'FED-1 https_spiffe without its flags',
      args: [
        'federation',
        'create',
        '--trust-domain',
        'shipping.example',
        '--url',
        'https://b.example/',
        '--profile',
        'https_spiffe',
      ],
      fix: /--endpoint-spiffe-id and --bundle/,
    },
    { name: 'localauthority without x509|jwt', args: ['localauthority'], fix: /say x509 or jwt/ },
    {
      name: 'localauthority with a bad kind',
      args: ['localauthority', 'x590', 'show'],
      fix: /"x590" .*x509 or jwt/,
    },
    {
      name: 'localauthority without an action',
      args: ['localauthority', 'jwt'],
      fix: /show, prepare, activate, taint or revoke/,
    },
    {
      name: 'audit list --since not a date',
      args: ['audit', 'list', '--since', 'yesterday'],
      fix: /date \(2026-12-01\).*date-time/,
    },
    {
      name: 'audit list --until not a date (issue 19)',
      args: ['audit', 'list', '--until', 'tomorrow'],
      fix: /^error ERR_CLI_USAGE: --until "tomorrow" is not a date \(2026-12-01\).*date-time/,
    },
    {
      name: 'audit list --limit 0',
      args: ['audit', 'list', '--limit', '0'],
      fix: /from 1 to 10000/,
    },
    {
      name: 'audit list --limit text',
      args: ['audit', 'list', '--limit', 'all'],
      fix: /whole number/,
    },
    {
      name: 'audit list --type unknown lists the valid ones',
      args: ['audit', 'list', '--type', 'relationship.approve'],
      fix: /relationship\.approved, .*invite\.accepted/,
    },
  ])('$name', async ({ args, fix }) => {
    const result = await withConfig(args);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^error ERR_CLI_USAGE: /);
    expect(result.stderr.split('\n')[0]).toMatch(fix);
  });

  it.each([
    '2026-12-01',
    '2026-12-01T10:00',
    '2026-12-01T10:00:00Z',
    '2026-12-01T10:00+02:00',
    '2h',
  ])('audit list --since accepts %s', async (since) => {
    const result = await withConfig(['audit', 'list', '--since', since, '--json']);
    expect(result.code, result.stderr).toBe(0);
  });

  it('audit list --until keeps only events before that time (API query until, issue 19)', async () => {
    const all = await withConfig(['audit', 'list', '--json']);
    expect(all.code, all.stderr).toBe(0);
    expect((JSON.parse(all.stdout) as { events: unknown[] }).events.length).toBeGreaterThan(0);
    const before = await withConfig(['audit', 'list', '--until', '2000-01-01', '--json']);
    expect(before.code, before.stderr).toBe(0);
    expect(JSON.parse(before.stdout)).toEqual({ events: [] });
    const window = await withConfig(['audit', 'list', '--since', '1d', '--until', '2099-01-01']);
    expect(window.code, window.stderr).toBe(0);
  });
});

describe('a broker that cannot be reached is ERR_CLI_UNREACHABLE, exit 1, no usage dump', () => {
  it('names the address and the command that starts it', async () => {
    const down = write('down.yaml', [
      'trustDomain: logistics.example',
      `dataDir: ${join(dir, 'down-state')}`,
      `adminApi: { listen: "127.0.0.1:${busyPort}" }`,
    ]);
    await new Promise((done) => blocker.close(done));
    const result = await cli(['federation', 'list', '--config', down], { env, cwd: dir });
    blocker = createServer().listen(busyPort, '127.0.0.1');
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /^error ERR_CLI_UNREACHABLE: .*127\.0\.0\.1:\d+.*fedbroker serve --config/,
    );
    expect(result.stderr).not.toContain('usage:');
  });
});

describe('public addresses (issue 18 item 1)', () => {
  it('federation invite refuses a loopback bundle endpoint URL without --allow-local-url', async () => {
    const refused = await withConfig(['federation', 'invite', '--out', join(dir, 'x.invite')]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      /^error ERR_CLI_LOCAL_URL: .*bundleEndpoint\.url.*--public-host.*--allow-local-url/,
    );
    const allowed = await withConfig([
      'federation',
      'invite',
      '--allow-local-url',
      '--out',
      join(dir, 'x.invite'),
    ]);
    expect(allowed.code, allowed.stderr).toBe(0);
  });

  it('federation accept warns about an invitation with a local URL', async () => {
    const partner = await startTestBroker({ trustDomain: 'shipping.example' });
    try {
      const host = (url: string): string => new URL(url).host;
      const partnerConfig = write('partner.yaml', [
        'trustDomain: shipping.example',
        `dataDir: ${join(dir, 'partner-state')}`,
        `bundleEndpoint: { listen: "${host(partner.bundleEndpointUrl)}" }`,
        `adminApi: { listen: "${host(partner.adminUrl)}" }`,
      ]);
      const invite = join(dir, 'shipping.invite');
      const made = await cli(
        ['federation', 'invite', '--allow-local-url', '--out', invite, '--config', partnerConfig],
        { env },
      );
      expect(made.code, made.stderr).toBe(0);
      const accepted = await withConfig(['federation', 'accept', invite]);
      expect(accepted.code, accepted.stderr).toBe(0);
      expect(accepted.stderr).toMatch(/^warning: .*127\.0\.0\.1.*local address/);
      // A rejected relationship blocks a new invitation: the message says to delete it first.
      expect((await withConfig(['federation', 'reject', 'shipping.example'])).code).toBe(0);
      const again = await withConfig(['federation', 'accept', invite]);
      expect(again.code).toBe(1);
      expect(again.stderr).toMatch(
        /^error ERR_FEDERATION_RELATIONSHIP_EXISTS: .*state rejected.*delete it first: fedbroker federation delete shipping\.example/m,
      );
    } finally {
      await partner.stop();
    }
  });
});

describe('start-up failures name the listener, the config key and the flag', () => {
  it.each([
    {
      listener: 'bundle endpoint',
      key: 'bundleEndpoint.listen',
      flag: 'init --bundle-port',
      at: (p: number) => ({ bundle: p, agent: 0, admin: 0 }),
    },
    {
      listener: 'agent API',
      key: 'agentApi.listen',
      flag: 'init --agent-port',
      at: (p: number) => ({ bundle: 0, agent: p, admin: 0 }),
    },
    {
      listener: 'admin API',
      key: 'adminApi.listen',
      flag: 'init --admin-port',
      at: (p: number) => ({ bundle: 0, agent: 0, admin: p }),
    },
  ])('ERR_CONFIG_LISTEN: $listener address in use', async ({ listener, key, flag, at }) => {
    const ports = at(busyPort);
    const file = write(`busy-${ports.bundle}-${ports.agent}-${ports.admin}.yaml`, [
      'trustDomain: logistics.example',
      `dataDir: ${mkdtempSync(join(dir, 'busy-'))}`,
      `bundleEndpoint: { listen: "127.0.0.1:${ports.bundle}" }`,
      `agentApi: { listen: "127.0.0.1:${ports.agent}" }`,
      `adminApi: { listen: "127.0.0.1:${ports.admin}" }`,
    ]);
    const result = await cli(['serve', '--config', file], { env, cwd: dir });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      `error ERR_CONFIG_LISTEN: ${listener} cannot listen on 127.0.0.1:${busyPort}: address in use (${key}, ${flag})`,
    );
  });

  it('ERR_CONFIG_LISTEN: a public name in listen says to use --listen-host and the url key', async () => {
    const file = write('name.yaml', [
      'trustDomain: logistics.example',
      `dataDir: ${mkdtempSync(join(dir, 'name-'))}`,
      'bundleEndpoint: { listen: "broker.logistics.invalid:0" }',
      'agentApi: { listen: "127.0.0.1:0" }',
      'adminApi: { listen: "127.0.0.1:0" }',
    ]);
    const result = await cli(['serve', '--config', file], { env, cwd: dir });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /error ERR_CONFIG_LISTEN: bundle endpoint cannot listen on broker\.logistics\.invalid:0: host name does not resolve .*url key.*bundleEndpoint\.listen, init --listen-host/,
    );
  });

  it.each([
    {
      name: 'a missing trustDomain',
      lines: ['dataDir: ./s'],
      fix: /trustDomain: missing: .*fedbroker init --trust-domain/,
    },
    {
      name: 'caTtl too short, in config names and durations',
      lines: ['trustDomain: a.example', 'ca: { caTtl: 1h }'],
      fix: /ca\.caTtl: 1h is too short: .*bundleEndpoint\.refreshHint.*ca\.x509SvidTtl.*= 170m; raise ca\.caTtl to 170m/,
    },
    {
      name: 'a duration out of range, in durations',
      lines: ['trustDomain: a.example', 'ca: { jwtSvidTtl: 10s }'],
      fix: /ca\.jwtSvidTtl: 10s is outside the allowed range 30s\.\.1d/,
    },
  ])('ERR_CONFIG_INVALID: $name', async ({ lines, fix }) => {
    const file = write(`invalid-${lines.length}-${lines[0]?.length ?? 0}.yaml`, lines);
    const result = await cli(['serve', '--config', file], { env, cwd: dir });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^error ERR_CONFIG_INVALID: /);
    expect(result.stderr).toMatch(fix);
    expect(result.stderr).not.toMatch(/caTtlSeconds|\d{4,} s\b/);
  });

  it('start --trust-domain on a directory of another trust domain is ERR_CONFIG_TRUST_DOMAIN_MISMATCH', async () => {
    const home = mkdtempSync(join(dir, 'start-'));
    const init = await cli(['init', '--trust-domain', 'a.example', '--dir', join(home, 'data')], {
      cwd: home,
    });
    expect(init.code, init.stderr).toBe(0);
    const result = await cli(['start', '--trust-domain', 'b.example'], { cwd: home, env });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /^error ERR_CONFIG_TRUST_DOMAIN_MISMATCH: .* is for trust domain a\.example, not b\.example: drop --trust-domain, or use another --dir/,
    );
  });
});
