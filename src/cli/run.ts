// The `fedbroker` dispatcher: finds the command by its words, runs it, maps errors to exit codes.
import { isBrokerError } from '../errors.js';
import { ADMIN_TLS_HELP } from './commands/common.js';
import { COMMANDS } from './commands/index.js';
import type { CliIo, CommandSpec } from './io.js';

function usage(): string {
  const lines = COMMANDS.map((c) => `  ${c.usage}\n      ${c.summary}`);
  return `usage: fedbroker <command> [options]\n\ncommands:\n${lines.join('\n')}\n\n${ADMIN_TLS_HELP}\n`;
}

function findCommand(
  argv: readonly string[],
): { spec: CommandSpec; rest: readonly string[] } | undefined {
  let best: CommandSpec | undefined;
  for (const spec of COMMANDS) {
    const matches = spec.words.every((word, i) => argv[i] === word);
    if (matches && (best === undefined || spec.words.length > best.words.length)) best = spec;
  }
  return best === undefined ? undefined : { spec: best, rest: argv.slice(best.words.length) };
}

/**
 * Runs one CLI invocation and resolves to its exit code: 0 success, 1 failure
 * (`error <CODE>: <message>` on stderr), 2 usage error.
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    (argv.length === 0 ? io.stderr : io.stdout)(usage());
    return argv.length === 0 ? 2 : 0;
  }
  const found = findCommand(argv);
  if (found === undefined) {
    io.stderr(`error ERR_CLI_USAGE: unknown command "${argv.slice(0, 2).join(' ')}"\n\n${usage()}`);
    return 2;
  }
  if (found.rest.includes('--help') || found.rest.includes('-h')) {
    io.stdout(`usage: ${found.spec.usage}\n  ${found.spec.summary}\n`);
    return 0;
  }
  try {
    return await found.spec.run(found.rest, io);
  } catch (error) {
    if (isBrokerError(error)) {
      io.stderr(`error ${error.code}: ${error.message}\n`);
      if (error.code === 'ERR_CLI_USAGE') {
        io.stderr(`usage: ${found.spec.usage}\n`);
        return 2;
      }
      return 1;
    }
    io.stderr(`error: unexpected failure: ${(error as Error)?.message ?? String(error)}\n`);
    return 1;
  }
}
