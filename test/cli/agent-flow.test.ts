// Issue 6 agent flow with the built `fedbroker`: init, serve, entry create, token generate, attest and
// renew over real (m)TLS, federation invite/accept/approve with a second serve, the partner in the
// agent's bundles; entry/token list, entry delete (then 403) and coded CLI errors.
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BundleSet, type Bundle } from '../../src/bundle/index.js';
import { verifyX509Svid } from '../../src/svid/index.js';
import {
  agentApi,
  anchorsOf,
  attest,
  bundleFromJson,
  errorCode,
  renew,
  type AgentTls,
  type IssuedSvid,
} from '../helpers/agent-api.js';
import {
  buildCli,
  freePort,
  eventually,
  loopbackInitArgs,
  runBuilt,
  startServe,
  stopServe,
} from '../helpers/built-cli.js';

const TD = 'research.test';
const PARTNER = 'partner.test';
const TEMPLATE = `spiffe://${TD}/agents/research/instance/{instance}`;
const INSTANCE_ID = new RegExp(
  `^spiffe://research\\.test/agents/research/instance/([A-Za-z0-9_-]{22})$`,
);
const AGENT_API_ID = `spiffe://${TD}/fedbroker/agent-api`;

const root = mkdtempSync(join(tmpdir(), 'fedbroker-agent-flow-'));
const ours = { dir: join(root, 'research'), config: join(root, 'research', 'broker.yaml') };
const theirs = { dir: join(root, 'partner'), config: join(root, 'partner', 'broker.yaml') };
const children: ChildProcess[] = [];

interface EntryJson {
  id: string;
  spiffeId: string;
  kind: string;
  federatesWith: string[];
}

/** Runs the built CLI; `--json` output is parsed (and must parse). */
async function fedbroker(
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  return runBuilt(args);
}

async function json<T>(args: string[]): Promise<T> {
  const result = await fedbroker([...args, '--json']);
  expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(0);
  // Issue 18: accepting a loopback invitation warns (the partner runs on this machine here).
  expect(result.stderr.replace(/^warning: .* is a local address;.*\n/m, '')).toBe('');
  return JSON.parse(result.stdout) as T;
}

async function init(trustDomain: string, dir: string): Promise<void> {
  const adminPort = await freePort();
  const result = await fedbroker([...loopbackInitArgs(trustDomain, dir, adminPort), '--json']);
  expect(result.code, result.stderr).toBe(0);
}

describe('fedbroker agent flow (issue 6): two real `fedbroker serve` processes', () => {
  let agentApiUrl: string;
  let ourBundle: Bundle;
  let tls: AgentTls;
  let entry: EntryJson;
  let svid: IssuedSvid;
  let usedToken: string;

  beforeAll(async () => {
    await buildCli();
    await init(TD, ours.dir);
    await init(PARTNER, theirs.dir);
    const served = await startServe(ours.config);
    children.push(served.child);
    children.push((await startServe(theirs.config)).child);
    // The address serve prints is the one tokens carry (checked below).
    agentApiUrl = /agent API:\s+(https:\/\/\S+)/.exec(served.stdout())?.[1] ?? '';
    expect(agentApiUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const shown = await fedbroker(['bundle', 'show', '--config', ours.config]);
    expect(shown.code, shown.stderr).toBe(0);
    ourBundle = bundleFromJson(shown.stdout, TD);
    tls = { anchorsPem: anchorsOf(ourBundle), serverSpiffeId: AGENT_API_ID };
  }, 240_000);

  afterAll(async () => {
    for (const child of children) await stopServe(child);
  });

  it('entry create with a per-instance template, --json parsed; entry list shows it', async () => {
    const created = await json<{ entry: EntryJson }>([
      'entry',
      'create',
      '--config',
      ours.config,
      '--spiffe-id',
      TEMPLATE,
      '--federates-with',
      PARTNER,
      '--description',
      'research agents',
    ]);
    entry = created.entry;
    expect(entry).toMatchObject({
      spiffeId: TEMPLATE,
      kind: 'template',
      federatesWith: [PARTNER],
    });
    expect(entry.id).toMatch(/^\S+$/);
    const listed = await json<{ entries: EntryJson[] }>(['entry', 'list', '--config', ours.config]);
    expect(listed.entries.map((e) => [e.id, e.spiffeId])).toEqual([[entry.id, TEMPLATE]]);
    // The table form names the entry too.
    const table = await fedbroker(['entry', 'list', '--config', ours.config]);
    expect(table.code).toBe(0);
    expect(table.stdout).toContain(entry.id);
    expect(table.stdout).toContain(TEMPLATE);
  });

  it('refuses bad calls with `error <CODE>: <message>` on stderr and a non-zero exit', async () => {
    const foreign = await fedbroker([
      'entry',
      'create',
      '--config',
      ours.config,
      '--spiffe-id',
      'spiffe://other.test/agents/x/{instance}',
      '--json',
    ]);
    expect(foreign.code).toBe(1);
    expect(foreign.stdout).toBe('');
    expect(foreign.stderr).toMatch(/^error ERR_REGISTRATION_ENTRY_INVALID: \S.*\n$/);

    const overlapping = await fedbroker([
      'entry',
      'create',
      '--config',
      ours.config,
      '--spiffe-id',
      `spiffe://${TD}/agents/research/instance/fixed`,
    ]);
    expect(overlapping.code).toBe(1);
    expect(overlapping.stderr).toMatch(/^error ERR_REGISTRATION_ENTRY_EXISTS: /);

    const noEntry = await fedbroker([
      'token',
      'generate',
      '--config',
      ours.config,
      '--entry',
      'no-such-entry',
    ]);
    expect(noEntry.code).toBe(1);
    expect(noEntry.stderr).toMatch(/^error ERR_REGISTRATION_ENTRY_NOT_FOUND: /);

    const usage = await fedbroker(['token', 'generate', '--config', ours.config]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/^error ERR_CLI_USAGE: /);
  });

  it('token generate --json gives a one-time token (listed without its secret) and the agent API address', async () => {
    const token = await json<{
      token: string;
      tokenId: string;
      entryId: string;
      spiffeId: string;
      agentApiUrl: string;
      bundleDigest: string;
      expiresAt: string;
    }>(['token', 'generate', '--config', ours.config, '--entry', entry.id, '--ttl', '5m']);
    expect(token).toMatchObject({ entryId: entry.id, spiffeId: TEMPLATE, agentApiUrl });
    expect(token.token).toMatch(/^fbjt_/);
    const ttlMs = Date.parse(token.expiresAt) - Date.now();
    expect(ttlMs).toBeGreaterThan(4 * 60_000);
    expect(ttlMs).toBeLessThanOrEqual(5 * 60_000);

    const listed = await json<{ tokens: { tokenId: string; entryId: string }[] }>([
      'token',
      'list',
      '--config',
      ours.config,
    ]);
    expect(listed.tokens).toEqual([
      expect.objectContaining({ tokenId: token.tokenId, entryId: entry.id }),
    ]);
    expect(JSON.stringify(listed)).not.toContain(token.token);

    // The digest given with the token is the bundle served (over TLS we verify) at /v1/agent/bundle.
    const bundle = await agentApi(agentApiUrl, 'GET', '/v1/agent/bundle', tls);
    expect(bundle.status).toBe(200);
    expect(createHash('sha256').update(bundle.text).digest('hex')).toBe(token.bundleDigest);

    // Enrolment: the broker's certificate chains to our bundle and names the agent API.
    svid = await attest(agentApiUrl, tls, token.token);
    usedToken = token.token;
    const instance = INSTANCE_ID.exec(svid.spiffeId)?.[1];
    expect(instance, svid.spiffeId).toBeDefined();
    expect(svid.body).toMatchObject({
      instanceId: instance,
      entryId: entry.id,
      brokerSpiffeId: AGENT_API_ID,
    });
    const verified = verifyX509Svid(svid.chainDer, new BundleSet([ourBundle]));
    expect(verified.spiffeId.toString()).toBe(svid.spiffeId);

    // One time: the token is gone from the list and a second use is refused.
    const after = await json<{ tokens: unknown[] }>(['token', 'list', '--config', ours.config]);
    expect(after.tokens).toEqual([]);
    await expect(attest(agentApiUrl, tls, usedToken)).rejects.toThrow(
      /^attest: 401 .*ERR_REGISTRATION_TOKEN_INVALID/,
    );
  });

  it('refuses a broker certificate that does not chain to the bundle or names another ID', async () => {
    const stranger = bundleFromJson(
      (await fedbroker(['bundle', 'show', '--config', theirs.config])).stdout,
      PARTNER,
    );
    await expect(
      agentApi(agentApiUrl, 'GET', '/v1/agent/bundle', {
        anchorsPem: anchorsOf(stranger),
        serverSpiffeId: AGENT_API_ID,
      }),
    ).rejects.toThrow(/certificate|verify|issuer/i);
    await expect(
      agentApi(agentApiUrl, 'GET', '/v1/agent/bundle', {
        ...tls,
        serverSpiffeId: `spiffe://${TD}/fedbroker/admin-api`,
      }),
    ).rejects.toThrow(/not spiffe:\/\/research\.test\/fedbroker\/admin-api/);
  });

  it('renews over mTLS: the same SPIFFE ID back with a new key, and no call without a client SVID', async () => {
    const renewed = await renew(agentApiUrl, tls, svid);
    expect(renewed.response.status, renewed.response.text).toBe(200);
    expect(renewed.svid?.spiffeId).toBe(svid.spiffeId);
    expect(renewed.svid?.keyPem).not.toBe(svid.keyPem);
    expect(renewed.svid?.chainDer[0]?.equals(svid.chainDer[0] as Buffer)).toBe(false);
    expect(
      verifyX509Svid(renewed.svid?.chainDer ?? [], new BundleSet([ourBundle])).spiffeId.toString(),
    ).toBe(svid.spiffeId);
    svid = renewed.svid as IssuedSvid;

    const anonymous = await agentApi(agentApiUrl, 'POST', '/v1/agent/x509svid', tls, {
      csr: 'x',
    });
    expect(anonymous.status).toBe(401);
    expect(errorCode(anonymous)).toBe('ERR_API_UNAUTHENTICATED');
  });

  it('federation invite / accept / approve with the second broker: the agent bundles then hold the partner', async () => {
    const mtls = { ...tls, client: { certPem: svid.certPem, keyPem: svid.keyPem } };
    const bundlesOf = async (): Promise<Record<string, unknown>> => {
      const response = await agentApi(agentApiUrl, 'GET', '/v1/agent/bundles', mtls);
      expect(response.status, response.text).toBe(200);
      return response.json?.['bundles'] as Record<string, unknown>;
    };
    expect(Object.keys(await bundlesOf())).toEqual([TD]);

    const inviteFile = join(root, 'invite.json');
    const invited = await json<{ file: string; bundleSha256: string }>([
      'federation',
      'invite',
      '--allow-local-url',
      '--config',
      theirs.config,
      '--out',
      inviteFile,
    ]);
    expect(invited.file).toBe(inviteFile);
    expect(JSON.parse(readFileSync(inviteFile, 'utf8'))).toMatchObject({ trustDomain: PARTNER });

    const accepted = await json<{
      relationship: { trustDomain: string; state: string };
      bundleSha256: string;
    }>(['federation', 'accept', inviteFile, '--config', ours.config]);
    expect(accepted.relationship).toMatchObject({ trustDomain: PARTNER, state: 'pending' });
    expect(accepted.bundleSha256).toBe(invited.bundleSha256);
    // Pending: nothing of the partner's reaches the agent.
    expect(Object.keys(await bundlesOf())).toEqual([TD]);

    const approved = await json<{ relationship: { state: string } }>([
      'federation',
      'approve',
      PARTNER,
      '--config',
      ours.config,
      '--reason',
      'issue 6 agent flow',
    ]);
    expect(approved.relationship.state).toBe('active');

    // The partner's own bundle, as it publishes it.
    const partnerBundle = bundleFromJson(
      (await fedbroker(['bundle', 'show', '--config', theirs.config])).stdout,
      PARTNER,
    );
    const bundles = await eventually('partner bundle at the agent', 15_000, async () => {
      const current = await bundlesOf();
      return PARTNER in current ? current : undefined;
    });
    expect(Object.keys(bundles).sort()).toEqual([PARTNER, TD]);
    const received = bundleFromJson(JSON.stringify(bundles[PARTNER]), PARTNER);
    expect(received.x509Authorities.map((a) => a.fingerprintSha256)).toEqual(
      partnerBundle.x509Authorities.map((a) => a.fingerprintSha256),
    );
    expect([...received.jwtAuthorities.keys()].sort()).toEqual(
      [...partnerBundle.jwtAuthorities.keys()].sort(),
    );

    // The scheduler fetched it from the partner's endpoint on its own (no manual refresh).
    const shown = await eventually('a successful scheduled fetch', 20_000, async () => {
      const view = await json<{
        relationship: { state: string; status: { lastSuccessAtMs: number | null } };
      }>(['federation', 'show', PARTNER, '--config', ours.config]);
      return view.relationship.status.lastSuccessAtMs === null ? undefined : view;
    });
    expect(shown.relationship.state).toBe('active');
  });

  it('entry delete: renewal and bundles are refused with 403, the entry is gone from the list', async () => {
    const deleted = await json<{ deleted: string }>([
      'entry',
      'delete',
      entry.id,
      '--config',
      ours.config,
    ]);
    expect(deleted).toEqual({ deleted: entry.id });
    const listed = await json<{ entries: EntryJson[] }>(['entry', 'list', '--config', ours.config]);
    expect(listed.entries).toEqual([]);

    const renewed = await renew(agentApiUrl, tls, svid);
    expect(renewed.response.status).toBe(403);
    expect(errorCode(renewed.response)).toBe('ERR_API_FORBIDDEN');
    const bundles = await agentApi(agentApiUrl, 'GET', '/v1/agent/bundles', {
      ...tls,
      client: { certPem: svid.certPem, keyPem: svid.keyPem },
    });
    expect(bundles.status).toBe(403);
    expect(errorCode(bundles)).toBe('ERR_API_FORBIDDEN');

    const again = await fedbroker(['entry', 'delete', entry.id, '--config', ours.config]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^error ERR_REGISTRATION_ENTRY_NOT_FOUND: /);
  });

  it('the whole flow is in the audit log, whose chain verifies', async () => {
    const { events } = await json<{ events: { type: string; data: Record<string, unknown> }[] }>([
      'audit',
      'list',
      '--config',
      ours.config,
      '--limit',
      '1000',
    ]);
    const types = events.map((e) => e.type);
    for (const type of [
      'entry.created',
      'token.created',
      'token.used',
      'svid.issued',
      'invite.accepted',
      'relationship.approved',
      'entry.deleted',
    ]) {
      expect(types, type).toContain(type);
    }
    // The join token secret is never recorded.
    expect(JSON.stringify(events)).not.toContain(usedToken);
    const verified = await json<{ ok: boolean; checked: number }>([
      'audit',
      'verify',
      '--config',
      ours.config,
    ]);
    expect(verified.ok).toBe(true);
    expect(verified.checked).toBeGreaterThanOrEqual(events.length);
  });
});
