// The options `agent run` and `agent serve` share: the broker, the join token (flag, file or
// environment) and the broker's bundle file, read with the same coded errors; and their stderr log.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { CliError } from '../../errors.js';
import { optionalString, type OptionSpec, type ParsedArgs } from '../args.js';
import type { CliIo } from '../io.js';

/** The flags both agent commands parse: where the broker is, how to enrol, how to trust it. */
export const ENROLMENT_OPTIONS = {
  broker: { type: 'string' },
  'join-token': { type: 'string' },
  'join-token-file': { type: 'string' },
  bundle: { type: 'string' },
  'bundle-digest': { type: 'string' },
} as const satisfies OptionSpec;

/** The agent's log lines on stderr: `message {fields}`, warnings prefixed `warn: `. */
export function stderrLogger(io: CliIo): {
  info: (message: string, fields?: Record<string, unknown>) => void;
  warn: (message: string, fields?: Record<string, unknown>) => void;
} {
  const log = (prefix: string) => (message: string, fields?: Record<string, unknown>) =>
    io.stderr(`${prefix}${message} ${JSON.stringify(fields ?? {})}\n`);
  return { info: log(''), warn: log('warn: ') };
}

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
