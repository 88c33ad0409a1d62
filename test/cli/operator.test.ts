// Issue 18 operator commands against two real in-process brokers on 127.0.0.1 (real TLS): status,
// federation update (bundle kept, next fetch uses the new URL), list --state, show transitions,
// bundle set, delete --reason with confirmation, and the first authorities in the audit log.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/run.js';
import type { Broker } from '../../src/main.js';
import { ADMIN_TOKEN, startTestBroker } from '../helpers/broker.js';
import { cli, type CliResult } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'fedbroker-operator-'));
const env = { FEDBROKER_ADMIN_TOKEN: ADMIN_TOKEN };
let ours: Broker;
let theirs: Broker;
let oursConfig: string;
let theirsConfig: string;

const hostPort = (url: string): string => new URL(url).host;

/** A broker.yaml the CLI reads for an in-process broker (its real admin and bundle addresses). */
function writeConfig(name: string, trustDomain: string, broker: Broker): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    [
      `trustDomain: ${trustDomain}`,
      `dataDir: ${join(dir, `${name}-cli-state`)}`,
      `bundleEndpoint: { listen: "${hostPort(broker.bundleEndpointUrl)}" }`,
      `agentApi: { listen: "${hostPort(broker.agentApiUrl)}" }`,
      `adminApi: { listen: "${hostPort(broker.adminUrl)}" }`,
      '',
    ].join('\n'),
  );
  return file;
}

const run = (args: readonly string[], config = oursConfig): Promise<CliResult> =>
  cli([...args, '--config', config], { env, cwd: dir });

async function json<T>(args: readonly string[], config = oursConfig): Promise<T> {
  const result = await run([...args, '--json'], config);
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as T;
}

beforeAll(async () => {
  ours = await startTestBroker({ trustDomain: 'logistics.example' });
  theirs = await startTestBroker({ trustDomain: 'shipping.example' });
  oursConfig = writeConfig('ours', 'logistics.example', ours);
  theirsConfig = writeConfig('theirs', 'shipping.example', theirs);
  const invite = join(dir, 'shipping.invite');
  const invited = await run(
    ['federation', 'invite', '--allow-local-url', '--out', invite],
    theirsConfig,
  );
  expect(invited.code, invited.stderr).toBe(0);
  const accepted = await run(['federation', 'accept', invite]);
  expect(accepted.code, accepted.stderr).toBe(0);
}, 60_000);

afterAll(async () => {
  await ours?.stop();
  await theirs?.stop();
});

describe('first start is audited (issue 18 item 7)', () => {
  it('audit verify right after the first start counts the authorities the CA created', async () => {
    const { events } = await json<{
      events: { type: string; actor: string; data: { kind: string } }[];
    }>(['audit', 'list', '--type', 'authority.prepared'], theirsConfig);
    expect(
      events
        .filter((e) => e.actor === 'broker')
        .map((e) => e.data.kind)
        .sort(),
    ).toEqual(['jwt', 'x509']);
    const verified = await json<{ ok: boolean; checked: number }>(
      ['audit', 'verify'],
      theirsConfig,
    );
    expect(verified.ok).toBe(true);
    expect(verified.checked).toBeGreaterThanOrEqual(2);
  });
});

describe('federation list --state, show, status', () => {
  it('lists by state with stale and failure columns; refuses an unknown state naming the valid ones', async () => {
    const pending = await run(['federation', 'list', '--state', 'pending']);
    expect(pending.code).toBe(0);
    expect(pending.stdout.split('\n')[0]).toMatch(/TRUST DOMAIN\s+STATE\s+STALE\s+FAILURES/);
    expect(pending.stdout).toContain('shipping.example');
    const active = await json<{ relationships: unknown[] }>([
      'federation',
      'list',
      '--state',
      'active',
    ]);
    expect(active.relationships).toEqual([]);
    const bad = await run(['federation', 'list', '--state', 'approved']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^error ERR_CLI_USAGE: .*pending, active, suspended, rejected/);
  });

  it('status shows the pending approval, the authorities, readiness and the newest events', async () => {
    const report = await json<{
      trustDomain: string;
      pending: string[];
      partners: Record<string, number>;
      ready: { status: number };
      authorities: { kind: string; state: string }[];
      newestEvents: { type: string }[];
      listeners: { adminApi: string };
    }>(['status']);
    expect(report.trustDomain).toBe('logistics.example');
    expect(report.pending).toEqual(['shipping.example']);
    expect(report.partners).toEqual({ pending: 1 });
    expect(report.ready.status).toBe(200);
    expect(
      report.authorities
        .filter((a) => a.state === 'active')
        .map((a) => a.kind)
        .sort(),
    ).toEqual(['jwt', 'x509']);
    expect(report.newestEvents[0]?.type).toBe('invite.accepted');
    const text = await run(['status']);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/pending approval:\s+shipping\.example/);
    expect(text.stdout).toMatch(/ready:\s+yes/);
  });

  it('approve, then show prints the transitions with who, when and why', async () => {
    const approved = await run([
      'federation',
      'approve',
      'shipping.example',
      '--reason',
      'contract 2026-114',
    ]);
    expect(approved.code, approved.stderr).toBe(0);
    const shown = await run(['federation', 'show', 'shipping.example']);
    expect(shown.stdout).toMatch(/transitions:/);
    expect(shown.stdout).toMatch(/approve\s+pending\s+active\s+admin\S*\s+contract 2026-114/);
  });
});

describe('federation update (FED-2): bundle kept, the next fetch uses the new URL', () => {
  it('moves the partner URL, keeps the stored bundle, and fetches from the new URL', async () => {
    const first = await json<{ ok: boolean; sequence: string | null }>([
      'federation',
      'refresh',
      'shipping.example',
    ]);
    expect(first.ok).toBe(true);
    const before = (await run(['bundle', 'show', '--trust-domain', 'shipping.example'])).stdout;
    // A closed port stands for the partner's old address after it moved.
    const closed = await new Promise<number>((done) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const { port } = server.address() as { port: number };
        server.close(() => done(port));
      });
    });
    const moved = `https://127.0.0.1:${closed}/`;
    const updated = await json<{ relationship: { url: string; state: string } }>([
      'federation',
      'update',
      'shipping.example',
      '--url',
      moved,
      '--reason',
      'partner moved',
    ]);
    expect(updated.relationship).toMatchObject({ url: moved, state: 'active' });
    expect((await run(['bundle', 'show', '--trust-domain', 'shipping.example'])).stdout).toBe(
      before,
    );
    const refused = await run(['federation', 'refresh', 'shipping.example', '--json']);
    expect(refused.code).toBe(1);
    const failed = JSON.parse(refused.stdout) as { ok: boolean; error: { code: string } };
    expect(failed.ok).toBe(false);
    expect(failed.error.code).toBe('ERR_FEDERATION_FETCH_NETWORK');
    const back = `${theirs.bundleEndpointUrl}/`;
    expect((await run(['federation', 'update', 'shipping.example', '--url', back])).code).toBe(0);
    const ok = await json<{ ok: boolean; fetch: { url: string } }>([
      'federation',
      'refresh',
      'shipping.example',
    ]);
    expect(ok.ok).toBe(true);
    expect(ok.fetch.url).toBe(back);
    const { events } = await json<{ events: { data: { reason: string } }[] }>([
      'audit',
      'list',
      '--type',
      'relationship.updated',
    ]);
    expect(events.map((e) => e.data.reason)).toContain('partner moved');
  });

  it('refuses an update with nothing to change (exit 2)', async () => {
    const result = await run(['federation', 'update', 'shipping.example']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^error ERR_CLI_USAGE: nothing to change/);
  });
});

describe('bundle set (FED-33)', () => {
  it('replaces the partner bundle from a file; history records it as the operator', async () => {
    const file = join(dir, 'shipping-bundle.json');
    writeFileSync(file, (await run(['bundle', 'show'], theirsConfig)).stdout);
    const set = await json<{ outcome: string; digest: string }>([
      'bundle',
      'set',
      'shipping.example',
      file,
      '--reason',
      'partner re-keyed',
    ]);
    expect(typeof set.digest).toBe('string');
    const history = await json<{ history: { sourceUrl: string | null }[] }>([
      'bundle',
      'history',
      'shipping.example',
    ]);
    expect(history.history[0]?.sourceUrl).toBeNull();
    const missing = await run(['bundle', 'set', 'shipping.example', join(dir, 'nope.json')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^error ERR_CLI_FILE: /);
  });
});

describe('federation delete --reason, confirmation on a terminal', () => {
  const withAnswer = async (args: readonly string[], answer: boolean): Promise<CliResult> => {
    let stdout = '';
    let stderr = '';
    const questions: string[] = [];
    const code = await runCli([...args, '--config', oursConfig], {
      stdout: (t) => void (stdout += t),
      stderr: (t) => void (stderr += t),
      env,
      cwd: dir,
      confirm: (question) => {
        questions.push(question);
        return Promise.resolve(answer);
      },
    });
    expect(questions.length).toBe(args.includes('--yes') ? 0 : 1);
    return { code, stdout, stderr };
  };

  it('a "no" on the terminal keeps the relationship (ERR_CLI_NOT_CONFIRMED)', async () => {
    const refused = await withAnswer(['federation', 'delete', 'shipping.example'], false);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^error ERR_CLI_NOT_CONFIRMED: .*--yes/);
    expect((await run(['federation', 'show', 'shipping.example'])).code).toBe(0);
  });

  it('--yes deletes without asking and the reason reaches the audit log (FED-60)', async () => {
    const deleted = await withAnswer(
      ['federation', 'delete', 'shipping.example', '--reason', 'contract ended', '--yes'],
      false,
    );
    expect(deleted.code, deleted.stderr).toBe(0);
    const { events } = await json<{ events: { data: { reason: string } }[] }>([
      'audit',
      'list',
      '--type',
      'relationship.deleted',
    ]);
    expect(events.at(-1)?.data.reason).toBe('contract ended');
    expect(readFileSync(oursConfig, 'utf8')).toContain('logistics.example');
  });
});
