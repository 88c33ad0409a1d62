// What a CLI command may touch: output streams, environment and working directory (injected for tests).
export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
}

/** A command handler: resolves to the process exit code. Throwing a BrokerError prints `error <CODE>: ...`. */
export type CommandHandler = (argv: readonly string[], io: CliIo) => Promise<number>;

export interface CommandSpec {
  /** Words after `fedbroker`, e.g. `['bundle', 'inspect']`. */
  readonly words: readonly string[];
  readonly usage: string;
  readonly summary: string;
  readonly run: CommandHandler;
}
