// Builds the addons of binding.gyp (native/peercred.c: SO_PEERCRED; native/ecverify.c: the CA's
// EC CSR checks) with npm's bundled node-gyp against the installed Node
// headers (nodedir), downloading nothing. Run by the package's `install` script (npm ci/install).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

const WITHOUT =
  '`fedbroker agent serve` will refuse to start, and the CA checks EC CSRs with node:crypto (slower)';

function nodeDir() {
  // Debian's nodejs ships headers under /usr/include/node; a tarball install under <prefix>/include/node.
  const prefix = dirname(dirname(process.execPath));
  for (const dir of [prefix, '/usr', '/usr/local']) {
    if (existsSync(join(dir, 'include', 'node', 'node_api.h'))) return dir;
  }
  return undefined;
}

function nodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    join(
      dirname(process.env.npm_execpath ?? ''),
      '..',
      'node_modules',
      'node-gyp',
      'bin',
      'node-gyp.js',
    ),
    join(
      dirname(dirname(process.execPath)),
      'lib',
      'node_modules',
      'npm',
      'node_modules',
      'node-gyp',
      'bin',
      'node-gyp.js',
    ),
  ];
  return candidates.find((c) => typeof c === 'string' && c !== '' && existsSync(c));
}

if (process.platform !== 'linux') {
  console.warn(`native: not Linux; ${WITHOUT}`);
  process.exit(0);
}
const dir = nodeDir();
const gyp = nodeGyp();
if (dir === undefined || gyp === undefined) {
  console.warn(
    `native: cannot build (node headers: ${dir ?? 'missing'}, node-gyp: ${gyp ?? 'missing'}); ${WITHOUT}`,
  );
  process.exit(0);
}
const result = spawnSync(process.execPath, [gyp, 'rebuild', `--nodedir=${dir}`], {
  stdio: 'inherit',
});
if (result.status !== 0) {
  console.warn(`native: build failed; ${WITHOUT}`);
}
process.exit(0);
