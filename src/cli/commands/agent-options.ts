// The options `agent run` and `agent serve` share: the join token (flag, file or environment) and
// the broker's bundle file, read with the same coded errors.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { CliError } from '../../errors.js';
import { optionalString, type ParsedArgs } from '../args.js';
import type { CliIo } from '../io.js';

/** --join-token, else --join-token-file, else FEDBROKER_JOIN_TOKEN; undefined when none is set. */
export function readJoinToken(args: ParsedArgs, io: CliIo): string | undefined {
  const direct = optionalString(args, 'join-token');
  if (direct !== undefined) return direct;
  const file = optionalString(args, 'join-token-file');
  if (file !== undefined) {
    try {
      return readFileSync(resolve(file), 'utf8').trim();
    } catch (cause) {
      throw new CliError('ERR_CLI_FILE', `cannot read join token file "${file}"`, { cause });
    }
  }
  const env = io.env['FEDBROKER_JOIN_TOKEN'];
  return env === undefined || env === '' ? undefined : env;
}

/** The bytes of --bundle, or undefined when it is not given. */
export function readBundleOption(args: ParsedArgs): Buffer | undefined {
  const file = optionalString(args, 'bundle');
  if (file === undefined) return undefined;
  try {
    return readFileSync(resolve(file));
  } catch (cause) {
    throw new CliError('ERR_CLI_FILE', `cannot read bundle file "${file}"`, { cause });
  }
}
