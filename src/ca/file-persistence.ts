// CaPersistence on the local disk: `<dir>/state.json` and `<dir>/<name>.key.pem` (PKCS#8, mode
// 0600, directory 0700), each written to a temp file, fsynced, renamed, then the directory fsynced.
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { CaError } from '../errors.js';
import type { CaPersistence } from './persistence.js';

const STATE_FILE = 'state.json';

/** The CA's folder inside a broker's data directory. */
export function caDirOf(dataDir: string): string {
  return join(dataDir, 'ca');
}

/** The CA state document (authorities and sequence, no keys) inside a broker's data directory. */
export function caStateFileOf(dataDir: string): string {
  return join(caDirOf(dataDir), STATE_FILE);
}
const KEY_SUFFIX = '.key.pem';
const NAME_RE = /^[A-Za-z0-9_-]{1,160}$/;

function checkName(name: string): void {
  if (!NAME_RE.test(name)) throw new TypeError(`invalid key name "${name.slice(0, 40)}"`);
}

function isNotFound(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

async function fsyncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function writeAtomic(dir: string, file: string, data: string, mode: number): Promise<void> {
  const target = join(dir, file);
  const temp = join(dir, `.${file}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(temp, 'wx', mode);
  try {
    await handle.writeFile(data, 'utf8');
    await handle.chmod(mode);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await unlink(temp).catch(() => undefined);
    throw error;
  }
  await handle.close();
  await rename(temp, target);
  await fsyncDirectory(dir);
}

/** Creates `dir` (mode 0700) if needed and returns the file-backed persistence. */
export async function createFileCaPersistence(dir: string): Promise<CaPersistence> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await chmod(dir, 0o700);
  } catch (cause) {
    throw new CaError('ERR_CA_STATE', `cannot create the ca directory "${dir}"`, { cause });
  }
  return {
    async readState() {
      try {
        return await readFile(join(dir, STATE_FILE), 'utf8');
      } catch (error) {
        if (isNotFound(error)) return undefined;
        throw new CaError('ERR_CA_STATE', 'cannot read the ca state file', { cause: error });
      }
    },
    async writeState(document) {
      try {
        await writeAtomic(dir, STATE_FILE, document, 0o600);
      } catch (cause) {
        throw new CaError('ERR_CA_STATE', 'cannot write the ca state file', { cause });
      }
    },
    async readKey(name) {
      checkName(name);
      const path = join(dir, name + KEY_SUFFIX);
      try {
        const info = await stat(path);
        if ((info.mode & 0o077) !== 0) {
          throw new CaError(
            'ERR_CA_KEY_LOAD',
            `ca key file "${path}" is accessible by group or others (mode ${(info.mode & 0o777).toString(8)}); it must be 0600`,
          );
        }
        return await readFile(path, 'utf8');
      } catch (error) {
        if (isNotFound(error)) return undefined;
        if (error instanceof CaError) throw error;
        throw new CaError('ERR_CA_KEY_LOAD', `cannot read ca key file "${path}"`, { cause: error });
      }
    },
    async writeKey(name, pkcs8Pem) {
      checkName(name);
      try {
        await writeAtomic(dir, name + KEY_SUFFIX, pkcs8Pem, 0o600);
      } catch (cause) {
        throw new CaError('ERR_CA_STATE', 'cannot write a ca key file', { cause });
      }
    },
    async deleteKey(name) {
      checkName(name);
      try {
        await unlink(join(dir, name + KEY_SUFFIX));
        await fsyncDirectory(dir);
      } catch (error) {
        if (!isNotFound(error)) {
          throw new CaError('ERR_CA_STATE', 'cannot delete a ca key file', { cause: error });
        }
      }
    },
    async listKeys() {
      const names = await readdir(dir);
      return names
        .filter((n) => n.endsWith(KEY_SUFFIX))
        .map((n) => n.slice(0, -KEY_SUFFIX.length))
        .filter((n) => NAME_RE.test(n));
    },
  };
}
