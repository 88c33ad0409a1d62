// Runs the README's "Federate two organisations" block as written, command by command, with the
// built `fedbroker` on the PATH: logistics on 127.0.0.1 and shipping on 127.0.0.2 stand for the two
// hosts, and only the substitutions the README tells the reader to make are made. It ends with the
// two sides' agents talking over mTLS (openssl with the files `agent run` wrote). A README that
// drifts from the code fails here.
import { spawn, type ChildProcess } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUILT_CLI, buildCli } from '../helpers/built-cli.js';
import { freePort } from '../helpers/free-port.js';
import { hasOpenssl } from '../helpers/openssl.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const WAIT_MS = 60_000;

interface Side {
  readonly name: 'logistics' | 'shipping';
  readonly host: string;
  readonly publicName: string;
  readonly dir: string;
  readonly env: Record<string, string>;
  readonly ports: { bundle: number; agent: number; admin: number; app: number };
  /** What the commands before printed, for the README's ENTRY_ID, TOKEN, SHA256, AGENT_API_URL. */
  readonly printed: Map<string, string>;
}

/** The sh block under the walkthrough heading, as (side, command) steps. */
function walkthroughSteps(): { side: 'logistics' | 'shipping'; command: string }[] {
  const section = readme.slice(readme.indexOf('## Federate two organisations'));
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1];
  if (block === undefined)
    throw new Error('README: no sh block under "Federate two organisations"');
  let side: 'logistics' | 'shipping' | undefined;
  const steps: { side: 'logistics' | 'shipping'; command: string }[] = [];
  for (const line of block.split('\n').map((l) => l.trim())) {
    const marker = /^# --- on (logistics|shipping)'s? host ---$/.exec(line);
    if (marker !== null) side = marker[1] as 'logistics' | 'shipping';
    if (line === '' || line.startsWith('#')) continue;
    if (side === undefined) throw new Error(`README: "${line}" comes before a host marker`);
    steps.push({ side, command: line });
  }
  return steps;
}

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect({ host, port }, () => (socket.destroy(), done(true)));
    socket.once('error', () => done(false));
  });
}

const root = mkdtempSync(join(tmpdir(), 'fedbroker-walkthrough-'));
const sides = new Map<string, Side>();
const background: ChildProcess[] = [];

async function makeSide(name: 'logistics' | 'shipping', host: string): Promise<Side> {
  const dir = join(root, name);
  mkdirSync(dir);
  return {
    name,
    host,
    publicName: `broker.${name}.example`,
    dir,
    env: {},
    ports: {
      bundle: await freePort(host),
      agent: await freePort(host),
      admin: await freePort('127.0.0.1'),
      app: await freePort(host),
    },
    printed: new Map(),
  };
}

/** The substitutions the README tells the reader to make (and no others). */
function substitute(side: Side, command: string): string {
  let line = command;
  for (const [placeholder, value] of side.printed) line = line.replaceAll(placeholder, value);
  line = line.replaceAll('/etc/fedbroker', join(side.dir, 'etc'));
  if (/^fedbroker init /.test(line)) {
    line += ` --listen-host ${side.host} --bundle-port ${side.ports.bundle} --agent-port ${side.ports.agent} --admin-port ${side.ports.admin}`;
  }
  if (/^fedbroker federation invite /.test(line)) line += ' --allow-local-url';
  line = line.replace(/-accept 9443\b/, `-accept ${side.host}:${side.ports.app}`);
  for (const other of sides.values()) {
    line = line.replaceAll(`${other.publicName}:9443`, `${other.host}:${other.ports.app}`);
    line = line.replaceAll(other.publicName, other.host);
  }
  return line;
}

/** Remembers what `entry create` and `token generate` printed, for the next command's placeholders. */
function remember(side: Side, stdout: string): void {
  const field = (name: string): string | undefined =>
    new RegExp(`^${name}:\\s+(\\S+)`, 'm').exec(stdout)?.[1];
  const pairs: [string, string | undefined][] = [
    ['ENTRY_ID', /^spiffe id:/m.test(stdout) ? field('id') : undefined],
    ['TOKEN', field('token')],
    ['SHA256', field('bundle sha256')],
    ['AGENT_API_URL', field('agent api')],
  ];
  for (const [key, value] of pairs) if (value !== undefined) side.printed.set(key, value);
}

function shellEnv(side: Side, bin: string): NodeJS.ProcessEnv {
  return { PATH: `${bin}:${process.env['PATH'] ?? ''}`, HOME: side.dir, ...side.env };
}

function runForeground(
  side: Side,
  line: string,
  bin: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn('bash', ['-c', line], { cwd: side.dir, env: shellEnv(side, bin) });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), WAIT_MS);
    child.once('exit', (code) => (clearTimeout(timer), done({ code, stdout, stderr })));
  });
}

/** `cmd &`: started with exec (so the pid is the program's), then waited for until it serves. */
async function runBackground(side: Side, line: string, bin: string): Promise<void> {
  const child = spawn('bash', ['-c', `exec ${line.replace(/&$/, '').trim()}`], {
    cwd: side.dir,
    env: shellEnv(side, bin),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  background.push(child);
  let output = '';
  child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
  const deadline = Date.now() + WAIT_MS;
  const port = /^fedbroker serve/.test(line) ? side.ports.admin : side.ports.app;
  const host = /^fedbroker serve/.test(line) ? '127.0.0.1' : side.host;
  while (!(await canConnect(host, port))) {
    if (child.exitCode !== null) throw new Error(`"${line}" exited ${child.exitCode}: ${output}`);
    if (Date.now() > deadline) throw new Error(`"${line}" did not listen: ${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.skipIf(!hasOpenssl)('README "Federate two organisations" walkthrough', () => {
  let bin: string;

  beforeAll(async () => {
    await buildCli();
    bin = join(root, 'bin');
    mkdirSync(bin);
    writeFileSync(
      join(bin, 'fedbroker'),
      `#!/bin/sh\nexec "${process.execPath}" "${BUILT_CLI}" "$@"\n`,
    );
    chmodSync(join(bin, 'fedbroker'), 0o755);
    sides.set('logistics', await makeSide('logistics', '127.0.0.1'));
    sides.set('shipping', await makeSide('shipping', '127.0.0.2'));
  }, 240_000);

  afterAll(async () => {
    for (const child of background.reverse()) {
      if (child.exitCode !== null) continue;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  it('runs as written: two brokers federate and their agents talk over mTLS', async () => {
    const steps = walkthroughSteps();
    expect(steps.length).toBeGreaterThan(10);
    let last = { stdout: '', stderr: '' };
    for (const step of steps) {
      const side = sides.get(step.side) as Side;
      const line = substitute(side, step.command);
      // The README sends each invitation to the other side.
      const invite = /^fedbroker federation accept (\S+)/.exec(line)?.[1];
      if (invite !== undefined) {
        const from = [...sides.values()].find((s) => s !== side) as Side;
        copyFileSync(join(from.dir, invite), join(side.dir, invite));
      }
      const exported = /^export (\w+)='([^']*)'$/.exec(line);
      if (exported !== null) {
        side.env[exported[1] as string] = exported[2] as string;
        continue;
      }
      if (line.endsWith('&')) {
        await runBackground(side, line, bin);
        continue;
      }
      const result = await runForeground(side, line, bin);
      expect(result.code, `${step.side}: ${line}\n${result.stdout}${result.stderr}`).toBe(0);
      remember(side, result.stdout);
      last = result;
    }
    // Public URLs, not listen addresses, reach the agents (issue 18 item 1).
    expect(sides.get('logistics')?.printed.get('AGENT_API_URL')).toBe(
      `https://127.0.0.1:${sides.get('logistics')?.ports.agent}`,
    );
    expect(last.stdout).toContain('gnip');
  }, 600_000);
});
