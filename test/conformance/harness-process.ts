// Runs test/conformance/harness.ts as the suite does (HARNESS_CONTRACT v1 §2): a child process in
// its own process group with only SPIFFE_ENDPOINT_SOCKET set for it, ready when it printed its
// ports and READY; stopped with SIGTERM to the group, then SIGKILL after 5 s.
import { spawn, type ChildProcess } from 'node:child_process';

const HARNESS = new URL('./harness.ts', import.meta.url).pathname;
/** Contract §2.3: the default readiness timeout. */
export const READY_TIMEOUT_MS = 10_000;

export interface HarnessProcess {
  readonly child: ChildProcess;
  /** Resolves with the ports after READY; rejects if the process exits first or times out. */
  readonly ready: Promise<{ x509Port: number; controlPort: number }>;
  /** Resolves with the exit code (null after a signal). */
  readonly exited: Promise<number | null>;
  /** Whether READY was printed so far. */
  isReady(): boolean;
  stderr(): string;
  stop(): Promise<void>;
}

export function startHarness(endpoint: string, readyTimeoutMs = READY_TIMEOUT_MS): HarnessProcess {
  const env: NodeJS.ProcessEnv = { ...process.env, SPIFFE_ENDPOINT_SOCKET: endpoint };
  const child = spawn(process.execPath, ['--import', 'tsx', HARNESS], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  let err = '';
  let ready = false;
  child.stderr?.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const readyPromise = new Promise<{ x509Port: number; controlPort: number }>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no READY in ${readyTimeoutMs} ms: ${err.slice(-2000)}`)),
      readyTimeoutMs,
    );
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (!/^READY$/m.test(out)) return;
      clearTimeout(timer);
      ready = true;
      const x509Port = Number(/^SPIFFE_X509_PORT=(\d+)$/m.exec(out)?.[1]);
      const controlPort = Number(/^SPIFFE_CONTROL_PORT=(\d+)$/m.exec(out)?.[1]);
      if (!/^SPIFFE_HARNESS_VERSION=1$/m.test(out) || !x509Port || !controlPort) {
        reject(new Error(`bad readiness lines: ${out}`));
      } else {
        resolve({ x509Port, controlPort });
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`harness exited (${code}) before READY: ${err.slice(-2000)}`));
    });
  });
  // A caller that only waits for the exit must not see an unhandled rejection.
  readyPromise.catch(() => undefined);
  return {
    child,
    ready: readyPromise,
    exited,
    isReady: () => ready,
    stderr: () => err,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const pid = child.pid;
      if (pid === undefined) return;
      process.kill(-pid, 'SIGTERM');
      const timer = setTimeout(() => {
        if (child.exitCode === null && child.signalCode === null) process.kill(-pid, 'SIGKILL');
      }, 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
