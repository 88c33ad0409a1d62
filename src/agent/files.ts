// Writes the agent's X509-SVID, key and bundles as PEM files for workloads that read files (like
// spiffe-helper); backs `fedbroker agent run`. Every file is replaced atomically (temp + rename).
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { BundleSet, marshalPem } from '../bundle/index.js';
import { AgentError } from '../errors.js';
import { TrustDomain } from '../spiffeid/index.js';

export const SVID_FILE = 'svid.pem';
export const SVID_KEY_FILE = 'svid_key.pem';
export const BUNDLE_FILE = 'bundle.pem';
export const FEDERATED_DIR = 'federated';

export interface SvidFiles {
  /** DER certificates, leaf first, then intermediates (X509-7). */
  readonly chainDer: readonly Uint8Array[];
  /** PEM of the SVID's private key; written with mode 0600. */
  readonly privateKeyPem: string;
  /** Own and federated bundles, one per trust domain (FED-30). */
  readonly bundles: BundleSet;
  readonly ownTrustDomain: TrustDomain;
}

export interface WrittenSvidFiles {
  /** Absolute or `dir`-relative paths written, in write order. */
  readonly written: readonly string[];
  /** Federated bundle files removed because their trust domain left the set. */
  readonly removed: readonly string[];
}

function checkFiles(files: SvidFiles): void {
  if (typeof files !== 'object' || files === null) throw new TypeError('files must be an object');
  if (
    !Array.isArray(files.chainDer) ||
    files.chainDer.length === 0 ||
    !files.chainDer.every((der) => der instanceof Uint8Array)
  ) {
    throw new TypeError('chainDer must be a non-empty array of DER certificates');
  }
  if (typeof files.privateKeyPem !== 'string' || !files.privateKeyPem.includes('PRIVATE KEY')) {
    throw new TypeError('privateKeyPem must be a PEM private key');
  }
  if (!(files.bundles instanceof BundleSet)) throw new TypeError('bundles must be a BundleSet');
  if (!(files.ownTrustDomain instanceof TrustDomain)) {
    throw new TypeError('ownTrustDomain must be a TrustDomain');
  }
}

/** Writes `content` to a temporary file beside `path` (fsync'd), returning the temporary path. */
async function writeTemp(path: string, content: string, mode: number): Promise<string> {
  const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  const handle = await open(temp, 'wx', mode);
  try {
    await handle.writeFile(content);
    // umask may have narrowed the mode at creation; set it exactly (0600 for the key).
    await handle.chmod(mode);
    await handle.sync();
  } finally {
    await handle.close();
  }
  return temp;
}

function fileError(action: string, path: string, cause: unknown): AgentError {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  return new AgentError(
    'ERR_AGENT_FILE_WRITE',
    `cannot ${action} ${JSON.stringify(path)}${code === undefined ? '' : ` (${code})`}`,
    { cause, context: { path } },
  );
}

/**
 * Writes into `dir`: `svid.pem` (leaf + intermediates), `svid_key.pem` (mode 0600), `bundle.pem`
 * (X.509 authorities of the own trust domain) and `federated/<td>.pem` per other trust domain of
 * the set (an empty file when that bundle has no X.509 authority, FED-35), then removes
 * `federated/*.pem` files of trust domains no longer in the set. Each file is replaced atomically
 * by rename; bundles are renamed first, so a new CA is in place before an SVID it signed, and the
 * key just before the certificate. Throws AgentError ERR_AGENT_FILE_WRITE on I/O failure.
 */
export async function writeSvidFiles(dir: string, files: SvidFiles): Promise<WrittenSvidFiles> {
  if (typeof dir !== 'string' || dir === '') throw new TypeError('dir must be a non-empty path');
  checkFiles(files);
  const federatedDir = join(dir, FEDERATED_DIR);
  try {
    await mkdir(federatedDir, { recursive: true, mode: 0o755 });
  } catch (cause) {
    throw fileError('create', federatedDir, cause);
  }

  const ownName = files.ownTrustDomain.name;
  const own = files.bundles.get(files.ownTrustDomain);
  const plan: { path: string; content: string; mode: number }[] = [
    {
      path: join(dir, BUNDLE_FILE),
      content: marshalPem(own?.x509Authorities.map((a) => a.der) ?? []),
      mode: 0o644,
    },
  ];
  const keep = new Set<string>();
  for (const bundle of files.bundles) {
    if (bundle.trustDomain.name === ownName) continue;
    // Trust domain names are [a-z0-9._-] (ID-*), so `<td>.pem` is always a plain file name.
    const name = `${bundle.trustDomain.name}.pem`;
    keep.add(name);
    plan.push({
      path: join(federatedDir, name),
      content: marshalPem(bundle.x509Authorities.map((a) => a.der)),
      mode: 0o644,
    });
  }
  plan.push({ path: join(dir, SVID_KEY_FILE), content: files.privateKeyPem, mode: 0o600 });
  plan.push({ path: join(dir, SVID_FILE), content: marshalPem(files.chainDer), mode: 0o644 });

  // Write every temporary file before the first rename, so an I/O error changes nothing.
  const temps: string[] = [];
  try {
    for (const item of plan) {
      try {
        temps.push(await writeTemp(item.path, item.content, item.mode));
      } catch (cause) {
        throw fileError('write', item.path, cause);
      }
    }
    for (let i = 0; i < plan.length; i++) {
      const item = plan[i] as (typeof plan)[number];
      try {
        await rename(temps[i] as string, item.path);
      } catch (cause) {
        throw fileError('replace', item.path, cause);
      }
      temps[i] = '';
    }
  } finally {
    await Promise.all(temps.filter((t) => t !== '').map((t) => rm(t, { force: true })));
  }

  const removed: string[] = [];
  let entries: string[];
  try {
    entries = await readdir(federatedDir);
  } catch (cause) {
    throw fileError('list', federatedDir, cause);
  }
  for (const entry of entries) {
    if (!entry.endsWith('.pem') || keep.has(entry)) continue;
    const path = join(federatedDir, entry);
    try {
      await rm(path, { force: true });
    } catch (cause) {
      throw fileError('remove', path, cause);
    }
    removed.push(path);
  }
  return { written: plan.map((item) => item.path), removed };
}
