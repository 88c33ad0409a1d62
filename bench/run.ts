// Runs every benchmark under bench/ in turn (or those named on the command line) and prints their figures.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const wanted = process.argv.slice(2);
const files = readdirSync(here)
  .filter((name) => name.endsWith('.ts') && name !== 'run.ts' && !name.startsWith('_'))
  .filter((name) => wanted.length === 0 || wanted.some((w) => name.includes(w)))
  .sort();

let failed = 0;
for (const name of files) {
  console.log(`\n=== bench/${name} ===`);
  const result = spawnSync(process.execPath, ['--import', 'tsx', join(here, name)], {
    stdio: 'inherit',
  });
  if (result.status !== 0) {
    failed += 1;
    console.log(`bench/${name} exited with ${String(result.status ?? result.signal)}`);
  }
}
process.exitCode = failed === 0 ? 0 : 1;
