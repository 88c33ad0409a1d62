// Writes the agent's X509-SVID, key and bundles as PEM files for workloads that read files (like
// spiffe-helper); backs `fedbroker agent run`. Each write is one version, swapped in atomically
// (version-dir.ts): the public names are symlinks through `.svid-current`.
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { BundleSet, marshalPem } from '../bundle/index.js';
import { TrustDomain } from '../spiffeid/index.js';
import {
  fileError,
  publishVersion,
  readCurrentVersion,
  removeStale,
  snapshotRegularFiles,
  type VersionFile,
} from './version-dir.js';

export const SVID_FILE = 'svid.pem';
export const SVID_KEY_FILE = 'svid_key.pem';
export const BUNDLE_FILE = 'bundle.pem';
export const FEDERATED_DIR = 'federated';
export { CURRENT_LINK as SVID_CURRENT_LINK } from './version-dir.js';

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

const modeOf = (name: string): number => (name === SVID_KEY_FILE ? 0o600 : 0o644);

/** The files of one version: bundles, then the key and the certificate chain. */
function versionFiles(files: SvidFiles): VersionFile[] {
  const own = files.bundles.get(files.ownTrustDomain);
  const plan: VersionFile[] = [
    {
      name: BUNDLE_FILE,
      content: marshalPem(own?.x509Authorities.map((a) => a.der) ?? []),
      mode: modeOf(BUNDLE_FILE),
    },
  ];
  for (const bundle of files.bundles) {
    if (bundle.trustDomain.name === files.ownTrustDomain.name) continue;
    // Trust domain names are [a-z0-9._-] (ID-*), so `<td>.pem` is always a plain file name.
    plan.push({
      name: `${FEDERATED_DIR}/${bundle.trustDomain.name}.pem`,
      content: marshalPem(bundle.x509Authorities.map((a) => a.der)),
      mode: 0o644,
    });
  }
  plan.push({ name: SVID_KEY_FILE, content: files.privateKeyPem, mode: modeOf(SVID_KEY_FILE) });
  plan.push({ name: SVID_FILE, content: marshalPem(files.chainDer), mode: modeOf(SVID_FILE) });
  return plan;
}

async function listPemFiles(path: string): Promise<string[]> {
  try {
    return (await readdir(path)).filter((entry) => entry.endsWith('.pem'));
  } catch (cause) {
    throw fileError('list', path, cause);
  }
}

/**
 * Writes into `dir` one version of: `svid.pem` (leaf + intermediates), `svid_key.pem` (mode 0600),
 * `bundle.pem` (X.509 authorities of the own trust domain) and `federated/<td>.pem` per other trust
 * domain of the set (an empty file when that bundle has no X.509 authority, FED-35), all in a new
 * hidden directory that `.svid-current` is then swapped to; the public names are symlinks through
 * `.svid-current`. `federated/*.pem` entries of trust domains no longer in the set are removed
 * after the swap; public names that are still regular files (an older writer) are first published
 * as they are, so they become links without mixing versions. One writer per directory: a write
 * removes version directories it did not make. Throws AgentError ERR_AGENT_FILE_WRITE on I/O
 * failure; a failure before the swap leaves the previous version current and complete.
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
  await removeStale(dir, [FEDERATED_DIR], await readCurrentVersion(dir));

  const federatedNow = (await listPemFiles(federatedDir)).map((f) => `${FEDERATED_DIR}/${f}`);
  const adopted = await snapshotRegularFiles(
    dir,
    [BUNDLE_FILE, ...federatedNow, SVID_KEY_FILE, SVID_FILE],
    modeOf,
  );
  if (adopted !== undefined) await publishVersion(dir, adopted);

  const plan = versionFiles(files);
  await publishVersion(dir, plan);

  const keep = new Set(plan.map((file) => file.name));
  const removed: string[] = [];
  for (const entry of await listPemFiles(federatedDir)) {
    if (keep.has(`${FEDERATED_DIR}/${entry}`)) continue;
    const path = join(federatedDir, entry);
    try {
      await rm(path, { force: true });
    } catch (cause) {
      throw fileError('remove', path, cause);
    }
    removed.push(path);
  }
  return { written: plan.map((file) => join(dir, file.name)), removed };
}
