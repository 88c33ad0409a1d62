// Argument parsing on node:util parseArgs; any mistake is a usage error (exit 2), never a stack trace.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { CliError } from '../errors.js';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

export interface ParsedArgs {
  readonly values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  readonly positionals: string[];
}

export function parseCommandArgs(
  argv: readonly string[],
  options: OptionSpec,
  maxPositionals = 0,
): ParsedArgs {
  let parsed: ParsedArgs;
  try {
    parsed = parseArgs({
      args: [...argv],
      options,
      strict: true,
      allowPositionals: maxPositionals > 0,
    });
  } catch (cause) {
    throw new CliError(
      'ERR_CLI_USAGE',
      (cause as Error).message.split('\n')[0] ?? 'invalid arguments',
      { cause },
    );
  }
  if (parsed.positionals.length > maxPositionals) {
    throw new CliError(
      'ERR_CLI_USAGE',
      `unexpected argument "${parsed.positionals[maxPositionals] ?? ''}"`,
    );
  }
  return parsed;
}

export function requireString(args: ParsedArgs, name: string): string {
  const value = args.values[name];
  if (typeof value !== 'string' || value === '') {
    throw new CliError('ERR_CLI_USAGE', `--${name} is required`);
  }
  return value;
}

export function optionalString(args: ParsedArgs, name: string): string | undefined {
  const value = args.values[name];
  return typeof value === 'string' ? value : undefined;
}

export function stringList(args: ParsedArgs, name: string): string[] {
  const value = args.values[name];
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]).filter((v): v is string => typeof v === 'string');
}

export function flag(args: ParsedArgs, name: string): boolean {
  return args.values[name] === true;
}

export function requirePositional(args: ParsedArgs, index: number, what: string): string {
  const value = args.positionals[index];
  if (value === undefined || value === '')
    throw new CliError('ERR_CLI_USAGE', `${what} is required`);
  return value;
}

/** Parses a port option (0..65535). */
export function portOption(args: ParsedArgs, name: string, fallback: number): number {
  const value = optionalString(args, name);
  if (value === undefined) return fallback;
  if (!/^\d{1,5}$/.test(value) || Number(value) > 65535) {
    throw new CliError('ERR_CLI_USAGE', `--${name} must be a port number, got "${value}"`);
  }
  return Number(value);
}
