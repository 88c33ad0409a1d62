// Finding and loading the package's Node-API addons (build/Release/*.node, built by `npm ci` from
// native/*.c). Each caller decides what a missing addon means: `agent serve` refuses to start
// without peercred; the CA checks CSRs with node:crypto without ecverify.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** `relative` in the nearest of this file's ancestors that holds it (src/, dist/ or a test build). */
export function findUp(relative: string, levels = 5): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < levels; i += 1) {
    const candidate = join(dir, relative);
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  return undefined;
}

/** build/Release/<name>.node at the package root (the path is returned even when it is missing). */
export function addonPath(name: string): string {
  const relative = join('build', 'Release', `${name}.node`);
  return findUp(relative) ?? relative;
}

/** Loads an addon; throws (with the loader's error as cause) when it is missing or cannot load. */
export function requireAddon(path: string): unknown {
  if (!existsSync(path)) throw new Error(`the addon "${path}" is not built`);
  return createRequire(import.meta.url)(path) as unknown;
}
