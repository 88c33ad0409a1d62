// Bounded waits: a promise given a deadline, and polling until a condition holds. Running out of
// time is a failed expectation, so the demo never hangs on one call.
import { Expectation } from './report.js';
import { WAIT_TIMEOUT_MS } from './settings.js';

export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Expectation(`${what}: no result within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export async function waitUntil(
  check: () => boolean | Promise<boolean>,
  what: string,
): Promise<number> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > WAIT_TIMEOUT_MS) throw new Expectation(`timed out waiting: ${what}`);
    await new Promise((done) => setTimeout(done, 50));
  }
  return Date.now() - start;
}
