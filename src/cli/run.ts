// The `fedbroker` dispatcher: finds the command by its words, runs it, maps errors to exit codes.
import { isBrokerError } from '../errors.js';
import { COMMANDS } from './commands/index.js';
import { commandHelp, groupCommands, groupHelp, packageVersion, topHelp } from './help.js';
import type { CliIo, CommandSpec } from './io.js';

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

/** Where to read the rules a message cites (docs/rules.md has an anchor per id), or ''. */
export function ruleLinks(message: string): string {
  const ids = [...new Set(message.match(/\b(?:ID|X509|JWT|BUNDLE|FED)-\d+\b/g) ?? [])];
  return ids.length === 0 ? '' : `  rules: ${ids.map((id) => `docs/rules.md#${id}`).join(' ')}\n`;
}

const isHelp = (word: string | undefined): boolean =>
  word === '--help' || word === '-h' || word === 'help';

/**
 * Runs one CLI invocation and resolves to its exit code: 0 success, 1 failure
 * (`error <CODE>: <message>` on stderr), 2 usage error.
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  if (argv.length === 0 || isHelp(argv[0])) {
    (argv.length === 0 ? io.stderr : io.stdout)(topHelp(COMMANDS));
    return argv.length === 0 ? 2 : 0;
  }
  if (argv[0] === '--version' || argv[0] === '-V') {
    io.stdout(`fedbroker ${packageVersion()}\n`);
    return 0;
  }
  const found = findCommand(argv);
  if (found === undefined) {
    const group = groupCommands(COMMANDS, argv[0] ?? '');
    if (group.length > 0) {
      // `fedbroker federation --help` lists the group; a missing or unknown sub-command is a usage error.
      if (argv.length === 1 || isHelp(argv[1])) {
        (argv.length === 1 ? io.stderr : io.stdout)(groupHelp(argv[0] ?? '', group));
        return argv.length === 1 ? 2 : 0;
      }
      io.stderr(
        `error ERR_CLI_USAGE: unknown command "${argv.slice(0, 2).join(' ')}"\n\n${groupHelp(argv[0] ?? '', group)}`,
      );
      return 2;
    }
    io.stderr(
      `error ERR_CLI_USAGE: unknown command "${argv.slice(0, 2).join(' ')}"; run fedbroker --help for the list\n`,
    );
    return 2;
  }
  if (found.rest.includes('--help') || found.rest.includes('-h')) {
    io.stdout(commandHelp(found.spec));
    return 0;
  }
  try {
    return await found.spec.run(found.rest, io);
  } catch (error) {
    if (isBrokerError(error)) {
      io.stderr(`error ${error.code}: ${error.message}\n${ruleLinks(error.message)}`);
      if (error.code === 'ERR_CLI_USAGE') {
        io.stderr(`usage: ${found.spec.usage}\n(fedbroker ${found.spec.words.join(' ')} --help)\n`);
        return 2;
      }
      return 1;
    }
    io.stderr(`error: unexpected failure: ${(error as Error)?.message ?? String(error)}\n`);
    return 1;
  }
}
