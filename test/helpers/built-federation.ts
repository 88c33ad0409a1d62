// Steps on the real, built `fedbroker` shared by the tests that run whole brokers: a command that
// must succeed, and two brokers federated through an invitation as an operator would do it.
import { join } from 'node:path';
import { expect } from 'vitest';
import { eventually, runBuilt } from './built-cli.js';

/** Runs `fedbroker args`; the test fails (with its stderr) unless it exits 0. Returns stdout. */
export async function fedbrokerOk(args: string[]): Promise<string> {
  const result = await runBuilt(args);
  expect(result.code, `fedbroker ${args.join(' ')}: ${result.stderr}`).toBe(0);
  return result.stdout;
}

export interface FederateOptions {
  /** Trust domain -> its broker's config file. */
  readonly configOf: (trustDomain: string) => string;
  /** Where the invitation file is written. */
  readonly dir: string;
  /** The approval's audit reason. */
  readonly reason: string;
  readonly waitMs: number;
}

/** `to` accepts and approves an invitation from `from`; resolves once `to` holds its bundle. */
export async function federateBuilt(
  from: string,
  to: string,
  options: FederateOptions,
): Promise<void> {
  const { configOf } = options;
  const invite = join(options.dir, `invite-${from}-to-${to}.json`);
  await fedbrokerOk([
    'federation',
    'invite',
    '--allow-local-url',
    '--config',
    configOf(from),
    '--out',
    invite,
  ]);
  await fedbrokerOk(['federation', 'accept', invite, '--config', configOf(to)]);
  await fedbrokerOk([
    'federation',
    'approve',
    from,
    '--config',
    configOf(to),
    '--reason',
    options.reason,
  ]);
  await eventually(`${to} holds the bundle of ${from}`, options.waitMs, async () => {
    const shown = await runBuilt([
      'bundle',
      'show',
      '--trust-domain',
      from,
      '--config',
      configOf(to),
    ]);
    return shown.code === 0 ? true : undefined;
  });
}
