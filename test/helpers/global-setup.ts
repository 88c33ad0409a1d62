// Vitest global setup of the integration project: at the end of a run, removes the one `fedbroker`
// build its test processes shared (test/helpers/built-cli.ts builds it on first use).
import { rmSync } from 'node:fs';
import { join, resolve } from 'node:path';

export function teardown(): void {
  const parent = join(resolve(import.meta.dirname, '..', '..'), '.test-output');
  for (const suffix of ['', '.lock']) {
    rmSync(join(parent, `dist-${process.pid}${suffix}`), { recursive: true, force: true });
  }
}
