// Child-process abusers of the Workload API socket (abuse-client.mjs), run as other uids without
// any entry, for the workload-api-limits and workload-api-share tests; useAbusers() kills them
// after each test.
import { spawn, type ChildProcess } from 'node:child_process';
import { afterEach } from 'vitest';
import { socket } from './workload-api-fixture.js';

export const NOBODY = 65534;
const SCRIPT = new URL('./abuse-client.mjs', import.meta.url).pathname;

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface Counts {
  open: number;
  closedByServer: number;
  errors: number;
  responses: number;
  flushed: number;
  /** Streams closed, by either side (the abuser never ends or resets one itself). */
  streamsClosed: number;
  statuses: Record<string, number>;
}

const abusers: ChildProcess[] = [];

/** Kills every abuser after each test of the file. */
export function useAbusers(): void {
  afterEach(() => {
    for (const p of abusers.splice(0)) p.kill('SIGKILL');
  });
}

/** Starts abuse-client.mjs on the test's socket; `counts()` is its latest report. */
export function abuse(args: string[], uid?: number): { counts: () => Counts | undefined } {
  const proc = spawn(process.execPath, [SCRIPT, args[0]!, socket, ...args.slice(1)], {
    ...(uid === undefined ? {} : { uid, gid: uid }),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  abusers.push(proc);
  let last: Counts | undefined;
  let buffer = '';
  proc.stdout!.on('data', (d: Buffer) => {
    buffer += d.toString();
    const lines = buffer.split('\n');
    buffer = lines.pop()!;
    if (lines.length > 0) last = JSON.parse(lines[lines.length - 1]!) as Counts;
  });
  return { counts: () => last };
}

export async function until(what: string, ok: () => boolean, ms = 30_000): Promise<void> {
  for (const end = Date.now() + ms; !ok(); await sleep(100)) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
  }
}
