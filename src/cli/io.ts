// What a CLI command may touch: output streams, environment and working directory (injected for tests).
export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
  /** Asks a yes/no question on a terminal; absent when stdin is not a terminal (scripts). */
  readonly confirm?: (question: string) => Promise<boolean>;
}

/** A command handler: resolves to the process exit code. Throwing a BrokerError prints `error <CODE>: ...`. */
export type CommandHandler = (argv: readonly string[], io: CliIo) => Promise<number>;

export interface CommandSpec {
  /** Words after `fedbroker`, e.g. `['bundle', 'inspect']`. */
  readonly words: readonly string[];
  readonly usage: string;
  readonly summary: string;
  /**
   * One line per flag the command takes (name without `--`), shown by `--help`. The flags every
   * `--config` command takes (config, json, admin-*) come from COMMON_FLAGS and need no entry.
   */
  readonly flags: Readonly<Record<string, string>>;
  /** One example invocation, shown by `--help`. */
  readonly example: string;
  readonly run: CommandHandler;
}
