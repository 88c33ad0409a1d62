// Shared fixtures for the ca tests: the test clock (re-exported), temp data dirs, the openssl CLI,
// CSRs made by openssl and by @peculiar/x509 (independent of our own encoder), and PEM helpers.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createCa, type Ca, type CaOptions } from '../../src/ca/index.js';
import { certificatePem } from '../../src/ca/index.js';
import type { Bundle } from '../../src/bundle/index.js';
import type { TestClock } from '../helpers/clock.js';

export const TD = 'acme.example';

// The clock lives in test/helpers/clock.ts (one test clock for the whole suite).
export { testClock, type TestClock } from '../helpers/clock.js';

const dirs: string[] = [];

export function tempDir(prefix = 'ca-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

export function openssl(args: readonly string[], input?: string | Buffer): string {
  return execFileSync('openssl', args, {
    input,
    stdio: ['pipe', 'pipe', 'pipe'],
    encoding: 'utf8',
  });
}

/** Runs openssl and returns { ok, output } instead of throwing. */
export function opensslResult(args: readonly string[]): { ok: boolean; output: string } {
  try {
    return { ok: true, output: openssl(args) };
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string };
    return { ok: false, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

export function bundlePem(bundle: Bundle): string {
  return bundle.x509Authorities.map((a) => certificatePem(a.der)).join('');
}

export function chainPem(chain: readonly Uint8Array[]): string {
  return chain.map((der) => certificatePem(der)).join('');
}

/** `openssl verify -x509_strict` of an SVID chain against the bundle's X.509 authorities. */
export function opensslVerify(
  bundle: Bundle,
  chain: readonly Uint8Array[],
  atSeconds?: number,
): { ok: boolean; output: string } {
  const dir = tempDir('ca-verify-');
  writeFileSync(join(dir, 'bundle.pem'), bundlePem(bundle));
  const leaf = chain[0];
  if (leaf === undefined) throw new Error('empty chain');
  writeFileSync(join(dir, 'svid.pem'), certificatePem(leaf));
  const args = ['verify', '-x509_strict', '-CAfile', join(dir, 'bundle.pem')];
  if (chain.length > 1) {
    writeFileSync(join(dir, 'chain.pem'), chainPem(chain.slice(1)));
    args.push('-untrusted', join(dir, 'chain.pem'));
  }
  if (atSeconds !== undefined) args.push('-attime', String(atSeconds));
  args.push(join(dir, 'svid.pem'));
  return opensslResult(args);
}

/** `openssl x509 -text -noout` of one DER certificate. */
export function opensslText(der: Uint8Array): string {
  return openssl(['x509', '-inform', 'DER', '-text', '-noout'], Buffer.from(der));
}

export interface OpensslCsrOptions {
  /** openssl -newkey argument, e.g. `ec`, `rsa:2048`, `ed25519`. */
  readonly newkey?: string;
  readonly pkeyopt?: readonly string[];
  readonly subject?: string;
  /** -addext values, e.g. `basicConstraints=critical,CA:TRUE`. */
  readonly addext?: readonly string[];
  readonly digest?: string;
}

/** A DER CSR made by `openssl req -new`. */
export function opensslCsr(options: OpensslCsrOptions = {}): Buffer {
  const dir = tempDir('ca-csr-');
  const args = ['req', '-new', '-newkey', options.newkey ?? 'ec', '-nodes'];
  for (const opt of options.pkeyopt ??
    (options.newkey === undefined ? ['ec_paramgen_curve:P-256'] : [])) {
    args.push('-pkeyopt', opt);
  }
  args.push('-keyout', join(dir, 'key.pem'), '-subj', options.subject ?? '/CN=workload');
  for (const ext of options.addext ?? []) args.push('-addext', ext);
  if (options.digest !== undefined) args.push(`-${options.digest}`);
  args.push('-outform', 'DER', '-out', join(dir, 'req.der'));
  openssl(args);
  return readFileSync(join(dir, 'req.der'));
}

export function newEcKey(): { privateKey: KeyObject; publicKey: KeyObject } {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' });
}

export async function openCa(
  clock: TestClock,
  options: Partial<CaOptions> & { dataDir?: string } = {},
): Promise<Ca> {
  return createCa(
    { now: clock.nowMs },
    { trustDomain: TD, dataDir: options.dataDir ?? tempDir(), ...options },
  );
}

/** Makes an upstream root CA (cert + key PEM files) with the openssl CLI. */
export function opensslUpstreamRoot(
  dir: string,
  options: { readonly days?: number; readonly extra?: readonly string[] } = {},
): { certFile: string; keyFile: string } {
  const certFile = join(dir, 'upstream.crt');
  const keyFile = join(dir, 'upstream.key');
  openssl([
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-384',
    '-nodes',
    '-keyout',
    keyFile,
    '-out',
    certFile,
    '-days',
    String(options.days ?? 3650),
    '-subj',
    '/O=Operator/CN=Operator Root CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
    ...(options.extra ?? []),
  ]);
  return { certFile, keyFile };
}
