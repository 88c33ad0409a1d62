// Files start-up reads beside the config: operator files named in broker.yaml, and the replica id and
// admin token kept in the data directory (created mode 0600 on first use).
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigError } from '../errors.js';
import type { Logger } from '../log.js';
import { adminTokenFile, type LoadedConfig } from './load.js';

/** The text of `file` (relative to `base`, the config file's folder); ERR_CONFIG_FILE naming `what`. */
export function readConfiguredFile(what: string, file: string, base: string): string {
  try {
    return readFileSync(resolve(base, file), 'utf8');
  } catch (cause) {
    throw new ConfigError('ERR_CONFIG_FILE', `cannot read ${what} "${file}"`, { cause });
  }
}

/**
 * The trimmed text of `file`; when absent it is first written (mode 0600, never over an existing
 * file, so a concurrent creator wins and both read the same text) with `initial()`.
 */
function readOrCreate(file: string, initial: () => string): { text: string; created: boolean } {
  let created = false;
  if (!existsSync(file)) {
    try {
      writeFileSync(file, `${initial()}\n`, { mode: 0o600, flag: 'wx' });
      created = true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
  return { text: readFileSync(file, 'utf8').trim(), created };
}

/**
 * This replica's id, kept in the data directory so that a restart replaces its authority record in
 * the shared store instead of leaving a stale one behind (its keys live in the same directory).
 */
export function loadReplicaId(dataDir: string): string {
  const file = join(dataDir, 'replica-id');
  const { text: id } = readOrCreate(file, () => `replica-${randomBytes(8).toString('hex')}`);
  if (!/^[A-Za-z0-9._:@+=~-]{1,128}$/.test(id)) {
    throw new ConfigError('ERR_CONFIG_FILE', `"${file}" does not hold a valid replica id`);
  }
  return id;
}

/** Reads (or creates, mode 0600) the admin token; the environment variable wins. */
export function loadAdminToken(
  loaded: LoadedConfig,
  logger: Pick<Logger, 'info'>,
): { token: string; file: string | undefined } {
  if (loaded.adminTokenFromEnv !== undefined)
    return { token: loaded.adminTokenFromEnv, file: undefined };
  const file = adminTokenFile(loaded);
  const { text: token, created } = readOrCreate(
    file,
    () => `fbat_${randomBytes(32).toString('base64url')}`,
  );
  if (created) logger.info('generated admin token', { file });
  if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
  if (token.length < 16)
    throw new ConfigError(
      'ERR_CONFIG_FILE',
      `admin token in "${file}" is shorter than 16 characters`,
    );
  return { token, file };
}
