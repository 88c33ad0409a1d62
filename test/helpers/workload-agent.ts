// Starts the built `fedbroker agent serve` (test/helpers/built-cli.ts builds it) and resolves once
// it serves its Workload API socket; the caller stops it with stopServe (SIGTERM).
import { spawn, type ChildProcess } from 'node:child_process';
import { BUILT_CLI } from './built-cli.js';

export function startAgentServe(
  socket: string,
  dataDir: string,
  extra: readonly string[],
): Promise<{ child: ChildProcess; stderr: () => string }> {
  const child = spawn(
    process.execPath,
    [BUILT_CLI, 'agent', 'serve', '--socket', socket, '--data-dir', dataDir, ...extra],
    { env: { PATH: process.env['PATH'] }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  child.stderr?.on('data', (chunk: Buffer) => (err += chunk.toString()));
  return new Promise((done, fail) => {
    const timer = setTimeout(() => fail(new Error(`agent serve did not start: ${err}`)), 60_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('workload API:')) {
        clearTimeout(timer);
        done({ child, stderr: () => err });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`agent serve exited with ${String(code)}: ${err}`));
    });
  });
}
