// The CLI against a real `fedbroker serve` whose admin API is on TLS (adminApi.tls: true): the
// broker is authenticated as the X509-SVID spiffe://<td>/fedbroker/admin-api of our own bundle
// (from the data directory or --admin-bundle), with the bearer token or an admin X509-SVID (mTLS);
// a listener with another identity or outside our bundle is refused before any byte is sent.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeServer, within } from '../helpers/agent.js';
import {
  buildCli,
  freePort,
  loopbackInitArgs,
  runBuilt,
  startServe,
  stopServe,
} from '../helpers/built-cli.js';
import { createCa, pemOf } from '../helpers/pki.js';

const TD = 'logistics.example';
const ADMIN_ID = `spiffe://${TD}/ops/admin`;
const OTHER_ID = `spiffe://${TD}/ops/not-admin`;

const root = mkdtempSync(join(tmpdir(), 'fedbroker-admin-tls-'));
const dir = join(root, 'logistics');
const config = join(dir, 'broker.yaml');
const children: ChildProcess[] = [];

/** A copy of our config (absolute data directory) with another admin listener and TLS setting. */
function configVariant(
  name: string,
  listen: string,
  tlsOn: boolean,
  adminExtra: readonly string[] = [],
): string {
  const text = readFileSync(config, 'utf8')
    .replace(/^dataDir: .*$/m, `dataDir: ${join(dir, 'state')}`)
    .replace(/^(adminApi:\n {2}listen: ).*$/m, `$1${listen}`)
    .replace(/^ {2}tls: true$/m, [`  tls: ${String(tlsOn)}`, ...adminExtra].join('\n'));
  const file = join(root, `${name}.yaml`);
  writeFileSync(file, text);
  return file;
}

async function json<T>(args: string[]): Promise<T> {
  const result = await runBuilt([...args, '--json']);
  expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(0);
  return JSON.parse(result.stdout) as T;
}

/** `fedbroker x509 mint` over the TLS admin API (bearer token): svid.pem, svid_key.pem, bundle.pem. */
async function mint(spiffeId: string, name: string): Promise<string> {
  const out = join(root, name);
  const result = await runBuilt([
    'x509',
    'mint',
    '--config',
    config,
    '--spiffe-id',
    spiffeId,
    '--ttl',
    '30m',
    '--write',
    out,
  ]);
  expect(result.code, result.stderr).toBe(0);
  return out;
}

describe('fedbroker CLI with adminApi.tls: true (real serve)', () => {
  let adminUrl: string;
  let agentApiUrl: string;

  beforeAll(async () => {
    await buildCli();
    const adminPort = await freePort();
    const init = await runBuilt(loopbackInitArgs(TD, dir, adminPort));
    expect(init.code, init.stderr).toBe(0);
    const text = readFileSync(config, 'utf8');
    expect(text).toMatch(/^ {2}adminIds: \[\]$/m);
    writeFileSync(
      config,
      text.replace(/^ {2}adminIds: \[\]$/m, `  adminIds: ["${ADMIN_ID}"]\n  tls: true`),
    );
    const served = await startServe(config);
    children.push(served.child);
    adminUrl = /admin API:\s+(\S+)/.exec(served.stdout())?.[1] ?? '';
    agentApiUrl = /agent API:\s+(\S+)/.exec(served.stdout())?.[1] ?? '';
    expect(adminUrl).toBe(`https://127.0.0.1:${adminPort}`);
  }, 240_000);

  afterAll(async () => {
    for (const child of children) await stopServe(child);
  });

  it('read and write commands work over TLS with the bearer token, trusting the CA state in the data directory', async () => {
    expect(await json(['federation', 'list', '--config', config])).toEqual({ relationships: [] });
    const created = await json<{ entry: { id: string; spiffeId: string } }>([
      'entry',
      'create',
      '--config',
      config,
      '--spiffe-id',
      `spiffe://${TD}/agents/planner`,
    ]);
    expect(created.entry.spiffeId).toBe(`spiffe://${TD}/agents/planner`);
    const listed = await json<{ entries: { id: string }[] }>(['entry', 'list', '--config', config]);
    expect(listed.entries.map((e) => e.id)).toEqual([created.entry.id]);
    // A text (non-JSON) answer too.
    const pem = await runBuilt(['bundle', 'show', '--format', 'pem', '--config', config]);
    expect(pem.code, pem.stderr).toBe(0);
    expect(pem.stdout).toContain('-----BEGIN CERTIFICATE-----');
    // The audit log names the token admin as the actor.
    const audit = await json<{ events: { type: string; actor: string }[] }>([
      'audit',
      'list',
      '--config',
      config,
      '--type',
      'entry.created',
    ]);
    expect(audit.events.map((e) => e.actor)).toEqual([expect.stringMatching(/^admin:/)]);
  });

  it('--admin-bundle FILE: an explicit trust bundle (SPIFFE JSON from `bundle show`) works too', async () => {
    const shown = await runBuilt(['bundle', 'show', '--config', config]);
    expect(shown.code, shown.stderr).toBe(0);
    const file = join(root, 'our-bundle.json');
    writeFileSync(file, shown.stdout);
    expect(await json(['federation', 'list', '--config', config, '--admin-bundle', file])).toEqual({
      relationships: [],
    });
  });

  it('refuses a broker whose certificate does not chain to the given bundle: ERR_AGENT_PEER_UNVERIFIED', async () => {
    const stranger = await createCa({ trustDomain: TD });
    const file = join(root, 'stranger.pem');
    writeFileSync(file, pemOf(stranger));
    const result = await runBuilt([
      'federation',
      'list',
      '--config',
      config,
      '--admin-bundle',
      file,
    ]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^error ERR_AGENT_PEER_UNVERIFIED: the admin API at https:\/\//);
  });

  it('refuses a listener with another SPIFFE ID of our trust domain (the agent API): ERR_AGENT_PEER_UNAUTHORIZED', async () => {
    const wrong = configVariant('agent-api-as-admin', new URL(agentApiUrl).host, true);
    const result = await runBuilt(['federation', 'list', '--config', wrong]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      new RegExp(
        `^error ERR_AGENT_PEER_UNAUTHORIZED: the admin API at \\S+ presented "spiffe://${TD}/fedbroker/agent-api", not "spiffe://${TD}/fedbroker/admin-api"\\n$`,
      ),
    );
  });

  it('an impostor with a valid SVID of ours but the wrong ID never receives a byte (no token leak)', async () => {
    const files = await mint(OTHER_ID, 'impostor');
    const received: Buffer[] = [];
    let connections = 0;
    const impostor = tls.createServer(
      {
        cert: readFileSync(join(files, 'svid.pem')),
        key: readFileSync(join(files, 'svid_key.pem')),
      },
      (socket) => {
        socket.on('data', (chunk: Buffer) => received.push(chunk));
        socket.on('error', () => undefined);
      },
    );
    impostor.on('connection', () => (connections += 1));
    impostor.on('tlsClientError', () => undefined);
    await new Promise<void>((done) => impostor.listen(0, '127.0.0.1', done));
    try {
      const port = (impostor.address() as AddressInfo).port;
      const wrong = configVariant('impostor', `127.0.0.1:${port}`, true);
      const result = await runBuilt(['federation', 'list', '--config', wrong]);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(
        new RegExp(`^error ERR_AGENT_PEER_UNAUTHORIZED: .*presented "${OTHER_ID}"`),
      );
      expect(connections).toBe(1);
      // Let the server see everything the (exited) client sent before judging what arrived.
      await within(
        (async () => {
          while (await new Promise<number>((done) => impostor.getConnections((_e, n) => done(n))))
            await new Promise((done) => setTimeout(done, 20));
        })(),
        10_000,
        'impostor connections closed',
      );
      expect(Buffer.concat(received).length).toBe(0);
    } finally {
      await closeServer(impostor);
    }
  });

  it('--admin-cert/--admin-key: mTLS with an admin X509-SVID (no token sent); an ID not in adminIds is forbidden', async () => {
    const admin = await mint(ADMIN_ID, 'admin-svid');
    const mtls = [
      '--admin-cert',
      join(admin, 'svid.pem'),
      '--admin-key',
      join(admin, 'svid_key.pem'),
      '--admin-bundle',
      join(admin, 'bundle.pem'),
    ];
    // No token at all in this environment: the SVID alone authenticates.
    const noToken = configVariant('no-token', new URL(adminUrl).host, true, [
      `  tokenFile: ${join(root, 'no-such-token')}`,
    ]);
    const created = await json<{ entry: { id: string } }>([
      'entry',
      'create',
      '--config',
      noToken,
      ...mtls,
      '--spiffe-id',
      `spiffe://${TD}/agents/by-mtls`,
    ]);
    const audit = await json<{ events: { actor: string; data: Record<string, unknown> }[] }>([
      'audit',
      'list',
      '--config',
      noToken,
      ...mtls,
      '--actor',
      ADMIN_ID,
      '--type',
      'entry.created',
    ]);
    expect(audit.events).toHaveLength(1);
    expect(JSON.stringify(audit.events[0])).toContain(created.entry.id);
    // Without the SVID the same config has no token to offer.
    const missing = await runBuilt(['federation', 'list', '--config', noToken]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^error ERR_CLI_FILE: no admin token at /);

    const other = await mint(OTHER_ID, 'other-svid');
    const forbidden = await runBuilt([
      'federation',
      'list',
      '--config',
      config,
      '--admin-cert',
      join(other, 'svid.pem'),
      '--admin-key',
      join(other, 'svid_key.pem'),
    ]);
    expect(forbidden.code).toBe(1);
    expect(forbidden.stderr).toMatch(/^error ERR_API_FORBIDDEN: /);

    const half = await runBuilt([
      'federation',
      'list',
      '--config',
      config,
      '--admin-cert',
      join(other, 'svid.pem'),
    ]);
    expect(half.code).toBe(2);
    expect(half.stderr).toMatch(/^error ERR_CLI_USAGE: give both --admin-cert and --admin-key/);

    const mismatched = await runBuilt([
      'federation',
      'list',
      '--config',
      config,
      '--admin-cert',
      join(other, 'svid.pem'),
      '--admin-key',
      join(admin, 'svid_key.pem'),
    ]);
    expect(mismatched.code).toBe(1);
    expect(mismatched.stderr).toMatch(/^error ERR_CLI_FILE: .*not a usable pem certificate/);
  });

  it('--admin-* options with a plain-http admin API are a usage error, not silently ignored', async () => {
    const plain = configVariant('plain', new URL(adminUrl).host, false);
    const result = await runBuilt([
      'federation',
      'list',
      '--config',
      plain,
      '--admin-bundle',
      join(root, 'our-bundle.json'),
    ]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^error ERR_CLI_USAGE: --admin-bundle needs adminApi.tls: true/);
  });
});
