// `fedbroker --help` texts: the top-level list, a group's commands, and one command's flags and
// example, all drawn from the command table (a new command is one table entry with its help).
import { readFileSync } from 'node:fs';
import type { CommandSpec } from './io.js';

/** Flags every command that talks to a running broker takes; commands need no entry for them. */
export const COMMON_FLAGS: Readonly<Record<string, string>> = {
  config: "the broker's config file (default data/broker.yaml); gives the admin address and token",
  json: 'print machine-readable JSON instead of text',
  'admin-bundle':
    'with adminApi.tls: our trust bundle file (default: the CA state in the data directory)',
  'admin-cert': 'with adminApi.tls: an admin X509-SVID (PEM) for mTLS instead of the bearer token',
  'admin-key': 'with adminApi.tls: the private key of --admin-cert',
};

/** `--flag` names a usage line mentions, in order, without duplicates. */
export function usageFlags(usage: string): string[] {
  return [...new Set([...usage.matchAll(/--([a-z][a-z0-9-]*)/g)].map((m) => m[1] ?? ''))];
}

/** The description of `flag` for `spec`, from its own table or the common one. */
export function flagHelp(spec: CommandSpec, flag: string): string | undefined {
  return spec.flags[flag] ?? COMMON_FLAGS[flag];
}

export function commandHelp(spec: CommandSpec): string {
  const flags = [...new Set([...Object.keys(spec.flags), ...usageFlags(spec.usage)])];
  const width = Math.max(0, ...flags.map((f) => f.length + 2));
  const lines = flags.map((f) => `  ${`--${f}`.padEnd(width)}  ${flagHelp(spec, f) ?? ''}`);
  return (
    `usage: ${spec.usage}\n  ${spec.summary}\n` +
    (lines.length > 0 ? `\nflags:\n${lines.join('\n')}\n` : '') +
    `\nexample:\n  ${spec.example}\n`
  );
}

/** The groups (first words) with more than one command: `fedbroker <group> --help` lists them. */
export function groupCommands(commands: readonly CommandSpec[], group: string): CommandSpec[] {
  return commands.filter((c) => c.words.length > 1 && c.words[0] === group);
}

export function groupHelp(group: string, commands: readonly CommandSpec[]): string {
  const width = Math.max(...commands.map((c) => c.words.join(' ').length));
  const lines = commands.map((c) => `  fedbroker ${c.words.join(' ').padEnd(width)}  ${c.summary}`);
  return (
    `usage: fedbroker ${group} <command> [options]\n\ncommands:\n${lines.join('\n')}\n\n` +
    `run fedbroker ${group} <command> --help for its flags and an example\n`
  );
}

export function topHelp(commands: readonly CommandSpec[]): string {
  const lines = commands.map((c) => `  ${c.usage}\n      ${c.summary}`);
  return (
    `usage: fedbroker <command> [options]\n\n` +
    `  fedbroker --version            print the version\n` +
    `  fedbroker <command> --help     flags and an example for one command\n` +
    `  fedbroker <group> --help       the commands of a group (federation, entry, ...)\n\n` +
    `commands:\n${lines.join('\n')}\n\n` +
    `flags of every command taking --config:\n` +
    Object.entries(COMMON_FLAGS)
      .map(([f, d]) => `  --${f.padEnd(13)} ${d}`)
      .join('\n') +
    '\n'
  );
}

/** The package version from package.json (two folders up from src/cli or dist/cli). */
export function packageVersion(): string {
  const text = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
  return (JSON.parse(text) as { version: string }).version;
}
