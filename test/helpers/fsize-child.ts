// A full disk, made real: runs a fixture script under `prlimit --fsize` (RLIMIT_FSIZE, util-linux),
// so that its writes past the limit are cut short or fail with EFBIG. Linux with prlimit only.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';

export const canLimitFileSize = process.platform === 'linux' && existsSync('/usr/bin/prlimit');

/** Runs `script` (TypeScript, through tsx) with `args` under a file size limit of `limit` bytes. */
export async function runWithFileSizeLimit(
  script: string,
  limit: number,
  args: readonly string[],
): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(
    'prlimit',
    [`--fsize=${limit}`, process.execPath, '--import', 'tsx', script, ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { code, out, err };
}
