// `fedbroker entry update` (issue 18 #6) run as the built CLI against a real broker on 127.0.0.1:
// an agent enrolled over real TLS keeps its bundles watch open while the CLI changes the entry's
// federatesWith, and the stream sends the partner's bundle (and drops it again) without reconnecting.
import type { ClientRequest, IncomingMessage } from 'node:http';
import { request } from 'node:https';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { marshalBundle } from '../../src/bundle/index.js';
import type { Broker } from '../../src/main.js';
import { anchorsOf, attest, type AgentTls, type IssuedSvid } from '../helpers/agent-api.js';
import { ADMIN_TOKEN, startTestBroker } from '../helpers/broker.js';
import { buildCli, runBuilt, type RunResult } from '../helpers/built-cli.js';
import { bundleOf, createCa } from '../helpers/pki.js';

const TD = 'update.test';
const PARTNER = 'partner.test';
const env = { FEDBROKER_ADMIN_TOKEN: ADMIN_TOKEN };
let broker: Broker;
let dir: string;
let config: string;
let refusedCount = 0;

const fedbroker = (args: readonly string[]): Promise<RunResult> =>
  runBuilt([...args, '--config', config], { env, cwd: dir });

async function json<T>(args: readonly string[]): Promise<T> {
  const result = await fedbroker([...args, '--json']);
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as T;
}

/** The `bundles` events of GET /v1/agent/bundles/watch over mTLS, one trust-domain list each. */
function watchBundles(tls: AgentTls, svid: IssuedSvid) {
  const queue: string[][] = [];
  let waiting: ((value: string[]) => void) | undefined;
  let failed: Error | undefined;
  let buffer = '';
  const req: ClientRequest = request(new URL('/v1/agent/bundles/watch', broker.agentApiUrl), {
    agent: false,
    ca: tls.anchorsPem,
    cert: svid.certPem,
    key: svid.keyPem,
    checkServerIdentity: () => undefined, // the anchors are the broker's own CA
    headers: { accept: 'text/event-stream' },
  });
  req.on('response', (res: IncomingMessage) => {
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      buffer += chunk;
      for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const lines = block.split('\n');
        if (!lines.includes('event: bundles')) continue;
        const data = lines.find((l) => l.startsWith('data: '))?.slice(6) ?? '{}';
        const domains = Object.keys((JSON.parse(data) as { bundles: object }).bundles).sort();
        if (waiting !== undefined) {
          const done = waiting;
          waiting = undefined;
          done(domains);
        } else queue.push(domains);
      }
    });
  });
  req.on('error', (error: Error) => {
    failed = error;
  });
  req.end();
  return {
    next(): Promise<string[]> {
      if (failed !== undefined) return Promise.reject(failed);
      const queued = queue.shift();
      if (queued !== undefined) return Promise.resolve(queued);
      return new Promise((resolve) => (waiting = resolve));
    },
    close: () => req.destroy(),
  };
}

beforeAll(async () => {
  await buildCli();
  broker = await startTestBroker({ trustDomain: TD });
  dir = mkdtempSync(join(tmpdir(), 'fedbroker-entry-update-'));
  config = join(dir, 'broker.yaml');
  writeFileSync(
    config,
    `trustDomain: ${TD}\ndataDir: ${join(dir, 'state')}\nadminApi:\n  listen: ${new URL(broker.adminUrl).host}\n`,
  );
  // An approved partner with a bundle (forced in: no network fetch).
  await broker.federation.create(
    { trustDomain: PARTNER, url: 'https://127.0.0.1:9/bundle', profile: 'https_web' },
    { actor: 'test' },
  );
  await broker.federation.transition(PARTNER, 'approve', { actor: 'test' });
  const partnerCa = await createCa({ trustDomain: PARTNER });
  await broker.federation.forceBundle(
    PARTNER,
    marshalBundle(bundleOf(PARTNER, [partnerCa])).toString('utf8'),
    { actor: 'test' },
  );
}, 120_000);

afterAll(async () => {
  await broker?.stop();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

describe('fedbroker entry update (built CLI, real broker)', () => {
  it('an open agent bundles watch sees the new federatesWith, then its removal', async () => {
    const { entry } = await json<{ entry: { id: string } }>([
      'entry',
      'create',
      '--spiffe-id',
      `spiffe://${TD}/agents/watcher`,
    ]);
    const { token } = await json<{ token: string }>(['token', 'generate', '--entry', entry.id]);
    const tls: AgentTls = {
      anchorsPem: anchorsOf(broker.ca.localBundle()),
      serverSpiffeId: broker.agentApiSpiffeId,
    };
    const svid = await attest(broker.agentApiUrl, tls, token);
    const watch = watchBundles(tls, svid);
    try {
      expect(await watch.next()).toEqual([TD]);

      const updated = await json<{ entry: { federatesWith: string[] }; changed: string[] }>([
        'entry',
        'update',
        entry.id,
        '--federates-with',
        PARTNER,
        '--description',
        'now federated',
      ]);
      expect(updated.changed).toEqual(['federatesWith', 'description']);
      expect(updated.entry.federatesWith).toEqual([PARTNER]);
      expect(await watch.next()).toEqual([PARTNER, TD]);

      const text = await fedbroker(['entry', 'update', entry.id, '--clear-federates-with']);
      expect(text.code, text.stderr).toBe(0);
      expect(text.stdout).toMatch(/changed:\s+federatesWith/);
      expect(await watch.next()).toEqual([TD]);
    } finally {
      watch.close();
    }
    const events = await broker.store.listAudit({ type: 'entry.updated', limit: 10 });
    expect(events.map((e) => [e.actor, e.data['changed']])).toEqual(
      expect.arrayContaining([
        ['admin:root', ['federatesWith', 'description']],
        ['admin:root', ['federatesWith']],
      ]),
    );
  }, 60_000);

  it.each([
    ['no change given -> exit 2 ERR_CLI_USAGE', [], 2, 'ERR_CLI_USAGE'],
    [
      'a flag and its --clear- -> exit 2 ERR_CLI_USAGE',
      ['--ttl', '1h', '--clear-ttl'],
      2,
      'ERR_CLI_USAGE',
    ],
    [
      'selectors on an agent entry -> exit 1 ERR_REGISTRATION_SELECTOR_INVALID',
      ['--selector', 'unix:uid:1'],
      1,
      'ERR_REGISTRATION_SELECTOR_INVALID',
    ],
    ['ttl beyond one day -> exit 1 ERR_API_VALIDATION', ['--ttl', '2d'], 1, 'ERR_API_VALIDATION'],
  ])('%s', async (_name, flags, exit, code) => {
    const { entry } = await json<{ entry: { id: string } }>([
      'entry',
      'create',
      '--spiffe-id',
      `spiffe://${TD}/agents/refused-${++refusedCount}`,
    ]);
    const result = await fedbroker(['entry', 'update', entry.id, ...flags]);
    expect(result.code).toBe(exit);
    expect(result.stderr).toContain(code);
  });

  it('an unknown id exits 1 with ERR_REGISTRATION_ENTRY_NOT_FOUND', async () => {
    const result = await fedbroker([
      'entry',
      'update',
      'e_AAAAAAAAAAAAAAAAAAAAAA',
      '--description',
      'x',
    ]);
    expect([result.code, result.stderr.includes('ERR_REGISTRATION_ENTRY_NOT_FOUND')]).toEqual([
      1,
      true,
    ]);
  });
});
