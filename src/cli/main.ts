#!/usr/bin/env node
// Entry point of the `fedbroker` binary: wires the real process streams into runCli.
import { createInterface } from 'node:readline/promises';
import { runCli } from './run.js';

/** Reads one answer from the terminal; only "y" or "yes" is a yes. */
async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}

const code = await runCli(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
  cwd: process.cwd(),
  ...(process.stdin.isTTY ? { confirm } : {}),
});
process.exitCode = code;
