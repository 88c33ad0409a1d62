// Publishes a set of files as one version, the Kubernetes AtomicWriter layout: the files go into a
// fresh hidden directory, one symlink (`.svid-current`) is swapped to it by rename, and the public
// names are symlinks through `.svid-current`, so a reader never meets two versions in one directory.
import { randomBytes } from 'node:crypto';
import {
  chmod,
  lstat,
  mkdir,
  open,
  readdir,
  readFile,
  readlink,
  rename,
  rm,
  symlink,
} from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import { constants } from 'node:fs';
import { AgentError } from '../errors.js';

/** The symlink naming the current version directory, relative to the output directory. */
export const CURRENT_LINK = '.svid-current';
const VERSION_DIR = /^\.svid-\d+-[0-9a-f]{12}$/;
/** Temporary symlinks of this writer, and temporary files left by the writer before it. */
const TEMP_ENTRY = /^(\.svid-current|.+\.pem)\.[0-9a-f]{12}\.tmp$/;

export interface VersionFile {
  /** Path below the output directory: a file name, or `<subdir>/<file name>`. */
  readonly name: string;
  readonly content: string | Uint8Array;
  /** Exact mode (0600 for a private key): set at creation, so never wider at any moment. */
  readonly mode: number;
}

export function fileError(action: string, path: string, cause: unknown): AgentError {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  return new AgentError(
    'ERR_AGENT_FILE_WRITE',
    `cannot ${action} ${JSON.stringify(path)}${code === undefined ? '' : ` (${code})`}`,
    { cause, context: { path } },
  );
}

const errnoOf = (error: unknown): string | undefined =>
  (error as NodeJS.ErrnoException | undefined)?.code;
const randomSuffix = (): string => randomBytes(6).toString('hex');
/** Best-effort cleanup on a failure path: never hides the failure being reported. */
const discard = (path: string): Promise<void> =>
  rm(path, { recursive: true, force: true }).catch(() => undefined);

/** Runs `step`, turning any failure into ERR_AGENT_FILE_WRITE naming `action` and `path`. */
async function attempt<T>(action: string, path: string, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (cause) {
    if (cause instanceof AgentError) throw cause;
    throw fileError(action, path, cause);
  }
}

async function syncDir(path: string): Promise<void> {
  await attempt('sync', path, async () => {
    const handle = await open(path, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  });
}

async function writeNewFile(path: string, content: string | Uint8Array, mode: number) {
  await attempt('write', path, async () => {
    const handle = await open(path, 'wx', mode);
    try {
      // umask may have narrowed the mode at creation; set it exactly.
      await handle.chmod(mode);
      await handle.writeFile(content);
      await handle.sync();
    } finally {
      await handle.close();
    }
  });
}

/** The version directory `.svid-current` names, or undefined when there is none (or no link). */
export async function readCurrentVersion(dir: string): Promise<string | undefined> {
  const path = join(dir, CURRENT_LINK);
  return attempt('read', path, async () => {
    try {
      return await readlink(path);
    } catch (error) {
      if (errnoOf(error) === 'ENOENT' || errnoOf(error) === 'EINVAL') return undefined;
      throw error;
    }
  });
}

/**
 * Removes what a crashed write left in `dir` and its link `subdirs` (such as `federated`):
 * version directories other than `current`, and temporary links or files of this writer.
 */
export async function removeStale(dir: string, subdirs: readonly string[], current?: string) {
  for (const sub of ['', ...subdirs]) {
    const path = join(dir, sub);
    const entries = await attempt('list', path, async () => {
      try {
        return await readdir(path);
      } catch (error) {
        if (errnoOf(error) === 'ENOENT') return [];
        throw error;
      }
    });
    for (const entry of entries) {
      const stale = TEMP_ENTRY.test(entry) || (sub === '' && VERSION_DIR.test(entry));
      if (!stale || (sub === '' && entry === current)) continue;
      const target = join(path, entry);
      await attempt('remove', target, () => rm(target, { recursive: true, force: true }));
    }
  }
}

/** Writes `files` into a new version directory (0700 while written, 0755 once complete). */
async function buildVersion(dir: string, files: readonly VersionFile[]): Promise<string> {
  const name = `.svid-${Date.now()}-${randomSuffix()}`;
  const path = join(dir, name);
  await attempt('create', path, async () => {
    await mkdir(path, { mode: 0o700 });
    await chmod(path, 0o700);
  });
  try {
    const subdirs = [...new Set(files.map((f) => dirname(f.name)).filter((d) => d !== '.'))];
    for (const sub of subdirs) {
      await attempt('create', join(path, sub), () => mkdir(join(path, sub), { mode: 0o700 }));
    }
    for (const file of files) await writeNewFile(join(path, file.name), file.content, file.mode);
    // Opened to others like the files it replaces; the private key keeps its own 0600.
    for (const sub of [...subdirs, '.']) {
      await attempt('chmod', join(path, sub), () => chmod(join(path, sub), 0o755));
      await syncDir(join(path, sub));
    }
  } catch (error) {
    await discard(path);
    throw error;
  }
  return name;
}

/** Points `linkPath` at `target` by renaming a new symlink over it (atomic, whatever was there). */
async function replaceWithLink(linkPath: string, target: string): Promise<void> {
  const temp = `${linkPath}.${randomSuffix()}.tmp`;
  try {
    await attempt('link', linkPath, async () => {
      await symlink(target, temp);
      await rename(temp, linkPath);
    });
  } catch (error) {
    await discard(temp);
    throw error;
  }
}

/** Makes each public name a symlink through `.svid-current` (once; later writes find it in place). */
async function ensurePublicLinks(dir: string, files: readonly VersionFile[]): Promise<void> {
  const touched = new Set<string>();
  for (const file of files) {
    const linkPath = join(dir, file.name);
    const sub = posix.dirname(file.name);
    // Relative, so the directory can be mounted elsewhere (a container) and still resolve.
    const target = posix.join(posix.relative(sub, '.'), CURRENT_LINK, file.name);
    if (sub !== '.') {
      const parent = dirname(linkPath);
      await attempt('create', parent, () => mkdir(parent, { recursive: true, mode: 0o755 }));
    }
    const existing = await lstat(linkPath).catch(() => undefined);
    if (existing?.isSymbolicLink() && (await readlink(linkPath).catch(() => '')) === target) {
      continue;
    }
    await replaceWithLink(linkPath, target);
    touched.add(dirname(linkPath));
  }
  for (const path of touched) await syncDir(path);
}

/**
 * Publishes `files` as the new version of `dir`: builds the version directory (every file and
 * directory fsynced), swaps `.svid-current` to it and fsyncs `dir`, makes the public names links,
 * then removes the previous version. A failure before the swap removes the new directory and
 * leaves the previous version current; either way it throws ERR_AGENT_FILE_WRITE.
 */
export async function publishVersion(dir: string, files: readonly VersionFile[]): Promise<void> {
  const previous = await readCurrentVersion(dir);
  const name = await buildVersion(dir, files);
  try {
    await replaceWithLink(join(dir, CURRENT_LINK), name);
  } catch (error) {
    await discard(join(dir, name));
    throw error;
  }
  await syncDir(dir);
  await ensurePublicLinks(dir, files);
  if (previous !== undefined && previous !== name && VERSION_DIR.test(previous)) {
    const path = join(dir, previous);
    await attempt('remove', path, () => rm(path, { recursive: true, force: true }));
  }
}

/**
 * What readers see now under `names`, when any of them is still a regular file (written by the
 * version before version directories): publishing it first turns those files into links without a
 * moment where a new key sits beside an old certificate. Undefined when every name is a link.
 */
export async function snapshotRegularFiles(
  dir: string,
  names: readonly string[],
  modeOf: (name: string) => number,
): Promise<VersionFile[] | undefined> {
  const kinds = await Promise.all(names.map((n) => lstat(join(dir, n)).catch(() => undefined)));
  if (!kinds.some((stat) => stat?.isFile() === true)) return undefined;
  const files: VersionFile[] = [];
  for (const [i, name] of names.entries()) {
    // Regular files only, read without following a link: a name that is a link (ours, or one
    // pointing anywhere else) is not adopted, so nothing outside `dir` is copied into a version.
    if (kinds[i]?.isFile() !== true) continue;
    const path = join(dir, name);
    const content = await attempt('read', path, async () => {
      try {
        return await readFile(path, { flag: constants.O_RDONLY | constants.O_NOFOLLOW });
      } catch (error) {
        if (errnoOf(error) === 'ENOENT' || errnoOf(error) === 'ELOOP') return undefined;
        throw error;
      }
    });
    if (content !== undefined) files.push({ name, content, mode: modeOf(name) });
  }
  return files;
}
