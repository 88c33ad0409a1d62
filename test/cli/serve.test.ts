// Drives the real built `fedbroker` (issue 4 CLI): init → serve → x509/jwt mint → openssl and our
// verifiers accept → localauthority → clean SIGTERM → restart on the same data dir keeps the CA.
import { execFile } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import {
  chmodSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildCli,
  freePort,
  loopbackInitArgs,
  runBuilt,
  startServe,
  stopServe,
} from '../helpers/built-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'fedbroker-cli-'));
const config = join(dir, 'broker.yaml');
let child: Awaited<ReturnType<typeof startServe>>['child'] | undefined;

function openssl(args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((done) => {
    execFile('openssl', args, { timeout: 20_000 }, (error, stdout, stderr) =>
      done({ code: error ? 1 : 0, out: stdout + stderr }),
    );
  });
}

/** `fedbroker x509 mint` of the planner's SVID into `out`. */
function mintInto(out: string, extra: readonly string[] = []): ReturnType<typeof runBuilt> {
  return runBuilt([
    'x509',
    'mint',
    '--config',
    config,
    '--spiffe-id',
    'spiffe://logistics.example/agents/planner',
    ...extra,
    '--write',
    out,
  ]);
}

beforeAll(async () => {
  await buildCli();
  const adminPort = await freePort();
  const init = await runBuilt(loopbackInitArgs('logistics.example', dir, adminPort));
  expect(init.code, init.stderr).toBe(0);
  child = (await startServe(config)).child;
}, 240_000);

afterAll(async () => {
  if (child !== undefined) await stopServe(child);
});

describe('fedbroker against a running broker', () => {
  it('x509 mint writes an SVID that openssl verify -x509_strict and fedbroker svid verify accept', async () => {
    const out = join(dir, 'svid');
    const minted = await mintInto(out, ['--ttl', '30m']);
    expect(minted.code, minted.stderr).toBe(0);
    expect(statSync(join(out, 'svid_key.pem')).mode & 0o777).toBe(0o600);
    const verified = await openssl([
      'verify',
      '-x509_strict',
      '-CAfile',
      join(out, 'bundle.pem'),
      join(out, 'svid.pem'),
    ]);
    expect(verified.out).toContain(': OK');
    const ours = await runBuilt([
      'svid',
      'verify',
      '--cert',
      join(out, 'svid.pem'),
      '--bundle',
      `logistics.example=${join(out, 'bundle.pem')}`,
    ]);
    expect(ours.stdout.trim()).toBe('spiffe://logistics.example/agents/planner');
    const text = await openssl(['x509', '-in', join(out, 'svid.pem'), '-noout', '-text']);
    expect(text.out).toContain('URI:spiffe://logistics.example/agents/planner');
    expect(text.out).toMatch(/X509v3 Basic Constraints: critical\s+CA:FALSE/);
    expect(text.out).toMatch(/X509v3 Key Usage: critical\s+Digital Signature\n/);
  });

  it('x509 mint over an older, wider key file replaces it: 0600, a link into one version, paired', async () => {
    const out = join(dir, 'svid-old');
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, 'svid_key.pem'), 'an older key\n');
    chmodSync(join(out, 'svid_key.pem'), 0o644);
    const minted = await mintInto(out);
    expect(minted.code, minted.stderr).toBe(0);
    expect(lstatSync(join(out, 'svid_key.pem')).isSymbolicLink()).toBe(true);
    expect(statSync(join(out, 'svid_key.pem')).mode & 0o777).toBe(0o600);
    const key = createPrivateKey(readFileSync(join(out, 'svid_key.pem')));
    const cert = new X509Certificate(readFileSync(join(out, 'svid.pem')));
    expect(cert.checkPrivateKey(key)).toBe(true);
  });

  it('X509-2 refuses to mint an SVID outside our trust domain', async () => {
    const minted = await runBuilt([
      'x509',
      'mint',
      '--config',
      config,
      '--spiffe-id',
      'spiffe://shipping.example/agents/x',
      '--write',
      join(dir, 'nope'),
    ]);
    expect(minted.code).toBe(1);
    expect(minted.stderr).toMatch(/^error ERR_CA_ID_NOT_ALLOWED: /);
  });

  it('jwt mint prints a token that jwt validate accepts with our bundle', async () => {
    const token = await runBuilt([
      'jwt',
      'mint',
      '--config',
      config,
      '--spiffe-id',
      'spiffe://logistics.example/agents/planner',
      '--audience',
      'shipping-api',
    ]);
    expect(token.code, token.stderr).toBe(0);
    const bundleFile = join(dir, 'bundle.json');
    const shown = await runBuilt(['bundle', 'show', '--config', config]);
    expect(shown.code).toBe(0);
    writeFileSync(bundleFile, shown.stdout);
    const validated = await runBuilt([
      'jwt',
      'validate',
      '--token',
      token.stdout.trim(),
      '--audience',
      'shipping-api',
      '--bundle',
      `logistics.example=${bundleFile}`,
    ]);
    expect(validated.code, validated.stderr).toBe(0);
    expect(JSON.parse(validated.stdout).sub).toBe('spiffe://logistics.example/agents/planner');
  });

  it('localauthority shows the active authority and prepares the next one', async () => {
    const shown = await runBuilt(['localauthority', 'x509', 'show', '--config', config, '--json']);
    const before = JSON.parse(shown.stdout) as { authorities: { id: string; state: string }[] };
    expect(before.authorities.filter((a) => a.state === 'active')).toHaveLength(1);
    const prepared = await runBuilt([
      'localauthority',
      'jwt',
      'prepare',
      '--config',
      config,
      '--json',
    ]);
    expect(prepared.code, prepared.stderr).toBe(0);
    expect((JSON.parse(prepared.stdout) as { authority: { state: string } }).authority.state).toBe(
      'prepared',
    );
    const early = await runBuilt(['localauthority', 'jwt', 'activate', '--config', config]);
    expect(early.code).toBe(1);
    expect(early.stderr).toMatch(/^error ERR_CA_ACTIVATION_TOO_EARLY: /);
  });

  it('refuses the admin API without the token (ERR_API_UNAUTHENTICATED)', async () => {
    const result = await runBuilt(['bundle', 'list', '--config', config], {
      env: { FEDBROKER_ADMIN_TOKEN: 'wrong-token-wrong-token' },
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^error ERR_API_UNAUTHENTICATED: /);
  });

  it('stops cleanly on SIGTERM and restarts on the same data directory with the same CA and a sequence that did not go back', async () => {
    const before = JSON.parse(
      (await runBuilt(['localauthority', 'x509', 'show', '--config', config, '--json'])).stdout,
    ) as { authorities: { id: string }[] };
    const bundleBefore = JSON.parse(
      (await runBuilt(['bundle', 'show', '--config', config])).stdout,
    ) as { spiffe_sequence: number };
    expect(await stopServe(child!)).toBe(0);
    child = (await startServe(config)).child;
    const after = JSON.parse(
      (await runBuilt(['localauthority', 'x509', 'show', '--config', config, '--json'])).stdout,
    ) as { authorities: { id: string }[] };
    const bundleAfter = JSON.parse(
      (await runBuilt(['bundle', 'show', '--config', config])).stdout,
    ) as { spiffe_sequence: number };
    expect(after.authorities.map((a) => a.id)).toEqual(before.authorities.map((a) => a.id));
    expect(bundleAfter.spiffe_sequence).toBeGreaterThanOrEqual(bundleBefore.spiffe_sequence);
    expect(readFileSync(join(dir, 'state', 'admin-token'), 'utf8')).toMatch(/^fbat_/);
    expect(statSync(join(dir, 'state', 'admin-token')).mode & 0o777).toBe(0o600);
  });
});
