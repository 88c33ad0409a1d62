// Issue 18 item 2: the project packs (npm pack) and installs as the README says: `npm install -g`
// into a temporary prefix gives a working `fedbroker`, and an application installs the SDK and
// imports `spiffe-federation-broker/agent`. Nothing is fetched beyond the npm registry (the local
// cache answers first); the repository's own dist/ is not touched.
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { BUILT_DIR, buildCli } from '../helpers/built-cli.js';

const root = resolve(import.meta.dirname, '..', '..');
const work = mkdtempSync(join(tmpdir(), 'fedbroker-install-'));
const version = (
  JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }
).version;
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
let tarball = '';

function run(
  file: string,
  args: readonly string[],
  cwd: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(
      file,
      [...args],
      {
        cwd,
        timeout: 240_000,
        env: { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false' },
      },
      (error, stdout, stderr) =>
        done({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

beforeAll(async () => {
  // A copy of what npm pack takes (package.json "files" plus README and LICENSE), built into dist/.
  const stage = join(work, 'stage');
  mkdirSync(stage);
  const files = (
    JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { files: string[] }
  ).files;
  for (const name of ['package.json', 'README.md', 'LICENSE', ...files]) {
    if (name === 'dist' || !existsSync(join(root, name))) continue;
    cpSync(join(root, name), join(stage, name), { recursive: true });
  }
  // The run's shared build of src/ with the production tsconfig (test/helpers/built-cli.ts): the
  // same tsc output `npm run build` puts in dist/.
  await buildCli();
  cpSync(BUILT_DIR, join(stage, 'dist'), { recursive: true });
  const packed = await run(npm, ['pack', '--ignore-scripts', '--pack-destination', work], stage);
  expect(packed.code, packed.stderr).toBe(0);
  tarball = join(work, packed.stdout.trim().split('\n').at(-1) ?? '');
}, 300_000);

describe('install from the packed project', () => {
  it('npm install -g --prefix DIR gives a fedbroker that prints its version', async () => {
    const prefix = join(work, 'prefix');
    const installed = await run(
      npm,
      ['install', '-g', '--prefix', prefix, '--prefer-offline', tarball],
      work,
    );
    expect(installed.code, installed.stderr).toBe(0);
    const ran = await run(join(prefix, 'bin', 'fedbroker'), ['--version'], work);
    expect(ran).toMatchObject({ code: 0, stdout: `fedbroker ${version}\n` });
    const help = await run(join(prefix, 'bin', 'fedbroker'), ['federation', '--help'], work);
    expect(help.code).toBe(0);
  }, 300_000);

  it("an application installs the SDK and imports 'spiffe-federation-broker/agent'", async () => {
    const app = join(work, 'app');
    mkdirSync(app);
    writeFileSync(
      join(app, 'package.json'),
      JSON.stringify({ name: 'app', private: true, type: 'module' }),
    );
    const installed = await run(npm, ['install', '--prefer-offline', tarball], app);
    expect(installed.code, installed.stderr).toBe(0);
    const imported = await run(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        "const m = await import('spiffe-federation-broker/agent'); console.log(typeof m.createAgent)",
      ],
      app,
    );
    expect(imported).toMatchObject({ code: 0, stdout: 'function\n' });
  }, 300_000);
});
