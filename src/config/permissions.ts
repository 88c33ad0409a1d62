// Refuses, before use, any file or directory the broker trusts that another user could have written
// (or read, for secrets: keys, tokens) or that another user owns: the data directory, what the broker
// reads from it at start, and the key files named in the config. Each refusal names the fix.
import { readdirSync, statSync, type Stats } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ConfigError } from '../errors.js';
import { adminTokenFile, type LoadedConfig } from './load.js';

/**
 * `directory`/`file`: nobody else may write it; `secret`: nobody else may read it either; `input`: an
 * operator's non-secret file (config, certificates, trust files), often a read-only mount owned by
 * the host's user: only "writable by others" is refused.
 */
export type GuardedKind = 'directory' | 'file' | 'secret' | 'input';

export interface GuardedPath {
  readonly path: string;
  /** What it is, for the message: "data directory", "ca key", "admin token file". */
  readonly what: string;
  readonly kind: GuardedKind;
  /**
   * An operator's key file (named in the config) owned by root may be readable by its group, as
   * PostgreSQL allows for its TLS key (a root-owned key shared with a service group).
   */
  readonly rootGroupReadable?: boolean;
  /** Owners trusted besides this process's user and root (the CLI: the broker's user). */
  readonly alsoOwnedBy?: number | undefined;
}

const CA_KEY_SUFFIX = '.key.pem';
/** How deep the store directory is walked (it holds `audit/` segments one level down). */
const STORE_WALK_DEPTH = 2;

function unsafe(target: GuardedPath, problem: string, fix: string): ConfigError {
  return new ConfigError(
    'ERR_CONFIG_UNSAFE_PERMISSIONS',
    `${target.what} ${target.path} ${problem}; run: ${fix}`,
    { context: { path: target.path, fix } },
  );
}

function octal(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}

function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ConfigError('ERR_CONFIG_FILE', `cannot inspect "${path}"`, { cause: error });
  }
}

/**
 * Throws ERR_CONFIG_UNSAFE_PERMISSIONS if `target` is owned by a user other than `uid` or root, is
 * writable by group or others, or (a secret) readable by them. A missing path passes: what is created
 * later is created private. No-op where the platform has no uids.
 */
export function checkPathPermissions(target: GuardedPath, uid = process.getuid?.()): void {
  if (uid === undefined) return;
  const info = statOrUndefined(target.path);
  if (info === undefined) return;
  const mode = info.mode & 0o777;
  if (target.kind === 'input') {
    if ((mode & 0o002) === 0) return;
    throw unsafe(
      target,
      `is writable by others (mode ${octal(info.mode)})`,
      `chmod o-w ${target.path}`,
    );
  }
  if (info.uid !== uid && info.uid !== 0 && info.uid !== target.alsoOwnedBy) {
    throw unsafe(
      target,
      `is owned by another user (uid ${info.uid})`,
      `chown ${uid} ${target.path}`,
    );
  }
  const privateMode = info.isDirectory() ? '700' : '600';
  if ((mode & 0o022) !== 0) {
    throw unsafe(
      target,
      `is writable by ${(mode & 0o002) !== 0 ? 'others' : 'its group'} (mode ${octal(info.mode)})`,
      `chmod ${privateMode} ${target.path}`,
    );
  }
  if (target.kind !== 'secret') return;
  const allowed = target.rootGroupReadable === true && info.uid === 0 ? 0o040 : 0;
  if ((mode & 0o077 & ~allowed) !== 0) {
    throw unsafe(
      target,
      `is readable by ${(mode & 0o007) !== 0 ? 'others' : 'its group'} (mode ${octal(info.mode)})`,
      `chmod ${allowed === 0 ? '600' : '640'} ${target.path}`,
    );
  }
}

function entriesOf(dir: string): { name: string; isDirectory: boolean }[] {
  try {
    return readdirSync(dir, { withFileTypes: true }).map((entry) => ({
      name: entry.name,
      isDirectory: entry.isDirectory(),
    }));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new ConfigError('ERR_CONFIG_FILE', `cannot list "${dir}"`, { cause: error });
  }
}

function walkStore(dir: string, depth: number, out: GuardedPath[]): void {
  out.push({ path: dir, what: 'store directory', kind: 'directory' });
  for (const entry of entriesOf(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) {
      if (depth > 1) walkStore(path, depth - 1, out);
      else out.push({ path, what: 'store directory', kind: 'directory' });
    } else {
      out.push({ path, what: 'store file', kind: 'file' });
    }
  }
}

export interface DataDirLayout {
  readonly dataDir: string;
  /** The admin token file, unless the token comes from the environment. */
  readonly adminTokenFile?: string | undefined;
  /** The embedded store's directory, when the file store is used. */
  readonly storeDir?: string | undefined;
}

/** Everything the broker reads from its data directory at start, as far as it exists yet. */
export function dataDirPaths(layout: DataDirLayout): GuardedPath[] {
  const { dataDir } = layout;
  const out: GuardedPath[] = [
    { path: dataDir, what: 'data directory', kind: 'directory' },
    { path: join(dataDir, 'replica-id'), what: 'replica id file', kind: 'file' },
  ];
  if (layout.adminTokenFile !== undefined) {
    out.push({ path: layout.adminTokenFile, what: 'admin token file', kind: 'secret' });
  }
  const caDir = join(dataDir, 'ca');
  out.push({ path: caDir, what: 'ca directory', kind: 'directory' });
  for (const entry of entriesOf(caDir)) {
    const path = join(caDir, entry.name);
    if (entry.isDirectory) out.push({ path, what: 'ca directory', kind: 'directory' });
    else if (entry.name.endsWith(CA_KEY_SUFFIX)) out.push({ path, what: 'ca key', kind: 'secret' });
    else out.push({ path, what: 'ca state file', kind: 'file' });
  }
  if (layout.storeDir !== undefined) walkStore(layout.storeDir, STORE_WALK_DEPTH, out);
  return out;
}

/** Checks each path in order; the first unsafe one throws ERR_CONFIG_UNSAFE_PERMISSIONS. */
export function checkPermissions(paths: readonly GuardedPath[], uid = process.getuid?.()): void {
  for (const target of paths) checkPathPermissions(target, uid);
}

/** The config file and the files it names (relative to it): TLS keys are secrets, the rest input. */
export function configuredPaths(loaded: LoadedConfig): GuardedPath[] {
  const base = dirname(loaded.path);
  const out: GuardedPath[] = [{ path: loaded.path, what: 'config file', kind: 'input' }];
  const tlsPair = (
    what: string,
    files: { readonly certFile?: string | undefined; readonly keyFile?: string | undefined },
  ): void => {
    if (files.certFile !== undefined) {
      out.push({ path: resolve(base, files.certFile), what: `${what} certificate`, kind: 'input' });
    }
    if (files.keyFile !== undefined) {
      out.push({
        path: resolve(base, files.keyFile),
        what: `${what} key`,
        kind: 'secret',
        rootGroupReadable: true,
      });
    }
  };
  const { bundleEndpoint, ca, federation } = loaded.config;
  if (bundleEndpoint.profile === 'https_web') tlsPair('bundle endpoint', bundleEndpoint);
  if (ca.upstream !== undefined) tlsPair('upstream ca', ca.upstream);
  for (const relationship of federation.relationships) {
    for (const file of [relationship.bundleFile, relationship.caFile]) {
      if (file === undefined) continue;
      out.push({ path: resolve(base, file), what: 'relationship trust file', kind: 'input' });
    }
  }
  return out;
}

/** What `startBroker` checks before it reads anything: the data directory walk and configured files. */
export function startupPaths(loaded: LoadedConfig, storeDir: string | undefined): GuardedPath[] {
  return [
    ...dataDirPaths({
      dataDir: loaded.dataDir,
      adminTokenFile: loaded.adminTokenFromEnv === undefined ? adminTokenFile(loaded) : undefined,
      storeDir,
    }),
    ...configuredPaths(loaded),
  ];
}

/** The uid owning `path`, or undefined if it does not exist (or the platform has no uids). */
export function ownerOf(path: string): number | undefined {
  if (process.getuid === undefined) return undefined;
  return statOrUndefined(path)?.uid;
}
