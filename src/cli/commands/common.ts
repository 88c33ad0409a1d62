// Pieces shared by the commands that talk to a broker: the admin client from --config, duration
// options, "delete one thing by id" commands, and waiting for SIGINT/SIGTERM.
import { parseDurationSeconds } from '../../config/index.js';
import { CliError } from '../../errors.js';
import {
  flag,
  optionalString,
  parseCommandArgs,
  requirePositional,
  type OptionSpec,
  type ParsedArgs,
} from '../args.js';
import { adminClientFromConfig, type AdminClient } from '../client.js';
import type { CliIo, CommandSpec } from '../io.js';
import { printJson } from '../output.js';

/**
 * Options of every command that talks to the admin API. The `--admin-*` files apply when the config
 * has `adminApi.tls: true`: our trust bundle (default: the CA state in the data directory) and an
 * optional admin X509-SVID for mTLS instead of the bearer token.
 */
export const CONFIG_OPTION: OptionSpec = {
  config: { type: 'string' },
  json: { type: 'boolean' },
  'admin-bundle': { type: 'string' },
  'admin-cert': { type: 'string' },
  'admin-key': { type: 'string' },
};

export function connect(args: ParsedArgs, io: CliIo): AdminClient {
  return adminClientFromConfig(optionalString(args, 'config') ?? 'data/broker.yaml', io, {
    bundleFile: optionalString(args, 'admin-bundle'),
    certFile: optionalString(args, 'admin-cert'),
    keyFile: optionalString(args, 'admin-key'),
  });
}

/** A `--name 10m`-style option in whole seconds; undefined when absent. */
export function durationOption(args: ParsedArgs, name: string): number | undefined {
  const text = optionalString(args, name);
  if (text === undefined) return undefined;
  const seconds = parseDurationSeconds(text);
  if (seconds === undefined || seconds <= 0 || !Number.isInteger(seconds)) {
    throw new CliError('ERR_CLI_USAGE', `--${name} "${text}" is not a duration like 5m or 1h`);
  }
  return seconds;
}

/** `fedbroker <words> ID`: DELETE `path(id)` on the admin API, then one line or `{ key: id }`. */
export function deleteCommand(spec: {
  readonly words: readonly string[];
  readonly what: string;
  /** What the printed line calls it: `relationship`, `entry`, `token`. */
  readonly noun: string;
  readonly summary: string;
  readonly path: (id: string) => string;
  readonly jsonKey: string;
  readonly done: string;
  /** The argument in the help example. */
  readonly example: string;
}): CommandSpec {
  return {
    words: spec.words,
    usage: `fedbroker ${spec.words.join(' ')} ${spec.what} [--config FILE] [--json]`,
    summary: spec.summary,
    flags: {},
    example: `fedbroker ${spec.words.join(' ')} ${spec.example} --config /etc/fedbroker/broker.yaml`,
    async run(argv, io) {
      const args = parseCommandArgs(argv, CONFIG_OPTION, 1);
      const id = requirePositional(args, 0, spec.what);
      await connect(args, io).request('DELETE', spec.path(encodeURIComponent(id)));
      if (flag(args, 'json')) return (printJson(io, { [spec.jsonKey]: id }), 0);
      io.stdout(`${spec.noun} ${id} ${spec.done}\n`);
      return 0;
    },
  };
}

/** Resolves on the first SIGINT or SIGTERM (and stops listening for them). */
export function waitForSignal(): Promise<void> {
  return new Promise<void>((done) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      done();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
