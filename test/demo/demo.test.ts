// Runs the issue-7 demo (demo/run.ts) as a child process against the test build of `fedbroker`:
// three brokers federated through the CLI, SDK agents over mTLS + JWT-SVIDs, a refused pending
// partner, a workload whose SVID comes from `fedbroker agent serve` (issue 17) and a CA rotation.
// It must exit 0 and print each expectation it checked.
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { BUILT_CLI, buildCli } from '../helpers/built-cli.js';

const root = resolve(import.meta.dirname, '..', '..');

function runDemo(): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'demo', 'run.ts')], {
      cwd: root,
      env: { PATH: process.env['PATH'], FEDBROKER_CLI: BUILT_CLI },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    // The demo bounds itself at 120 s; this only guards against a demo that ignores that.
    const timer = setTimeout(() => child.kill('SIGKILL'), 150_000);
    child.once('error', fail);
    child.once('exit', (code) => {
      clearTimeout(timer);
      done({ code, stdout, stderr });
    });
  });
}

describe('npm run demo (issue 7)', () => {
  beforeAll(() => buildCli(), 240_000);

  it('federates three brokers, calls across them, refuses the pending partner and survives a CA rotation', async () => {
    const { code, stdout, stderr } = await runDemo();
    expect(code, `${stdout}\n${stderr}`).toBe(0);
    expect(stdout).not.toContain('✘');
    const lines = stdout.split('\n');
    const has = (pattern: RegExp): void => {
      expect(
        lines.some((line) => pattern.test(line)),
        `no line matches ${pattern}\n${stdout}`,
      ).toBe(true);
    };
    for (const td of ['logistics.example', 'shipping.example', 'saas.example']) {
      has(new RegExp(`^✔ step 1 ${td.replace('.', '\\.')} broker ready`));
      has(new RegExp(`^✔ step 7 ${td.replace('.', '\\.')} audit verify: audit chain intact`));
    }
    has(/^✔ step 2\.1 shipping\.example approved logistics\.example: active$/);
    has(/^✔ step 2\.2 logistics\.example approved shipping\.example: active$/);
    has(/^✔ step 2\.5 shipping\.example: saas\.example pending/);
    const instance = '[A-Za-z0-9_-]{22}';
    has(
      new RegExp(
        `^✔ step 4\\.3 planner spiffe://logistics\\.example/agents/planner/instance/(${instance}) \\(instance \\1\\) → ` +
          `dispatch spiffe://shipping\\.example/agents/dispatch/instance/(${instance}) \\(instance \\2\\)`,
      ),
    );
    has(/← talking to spiffe:\/\/logistics\.example\/agents\/planner\/instance\//);
    has(/→ talking to spiffe:\/\/shipping\.example\/agents\/dispatch\/instance\//);
    has(/^✔ step 4\.4 .* HTTP 401 ERR_SVID_JWT_AUD/);
    // Issue 17: a workload whose SVID comes from `fedbroker agent serve` calls across.
    has(
      /^✔ step 4\.5 node agent spiffe:\/\/logistics\.example\/nodes\/demo-host \(fedbroker agent serve/,
    );
    has(
      /^✔ step 4\.6 workload spiffe:\/\/logistics\.example\/agents\/tracker \(SVID from agent serve, no join token\) → dispatch spiffe:\/\/shipping\.example\/agents\/dispatch\/instance\/.*HTTP 200$/,
    );
    has(
      /^✔ step 5 expected failure: spiffe:\/\/saas\.example\/agents\/assistant\/instance\/.* refused by dispatch at the mTLS handshake: ERR_SVID_NO_BUNDLE/,
    );
    has(/^✔ step 6\.3 dispatch .* holds the new logistics\.example authorities/);
    has(/^✔ step 6\.6 planner renewed: .* X509-SVID now signed by/);
    has(/^✔ step 6\.8 after the rotation dispatch verified .* \(new\) .* \(new\)/);
    has(/^✔ step 8 all \d+ expectations held in [\d.]+ s$/);
  }, 200_000);
});
