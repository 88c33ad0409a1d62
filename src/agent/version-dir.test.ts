// The migration step of the version-directory writer adopts regular files only: a public name that
// is a link (to anywhere, e.g. a secret outside the directory) is never read into a version.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { snapshotRegularFiles } from './version-dir.js';

const base = mkdtempSync(join(tmpdir(), 'version-dir-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));

describe('snapshotRegularFiles', () => {
  it('adopts the regular files and skips a name that is a link, wherever it points', async () => {
    const secret = join(base, 'secret.txt');
    writeFileSync(secret, 'not part of the svid directory\n');
    chmodSync(secret, 0o600);
    const dir = join(base, 'out');
    mkdirSync(dir);
    writeFileSync(join(dir, 'bundle.pem'), 'old bundle\n');
    symlinkSync(secret, join(dir, 'svid.pem'));
    const files = await snapshotRegularFiles(
      dir,
      ['bundle.pem', 'svid.pem', 'svid_key.pem'],
      () => 0o644,
    );
    expect(files?.map((f) => f.name)).toEqual(['bundle.pem']);
    expect(files?.[0]?.content.toString()).toBe('old bundle\n');
  });

  it('adopts nothing when every name is a link or missing', async () => {
    const dir = join(base, 'links');
    mkdirSync(dir);
    symlinkSync(join(base, 'secret.txt'), join(dir, 'svid.pem'));
    expect(
      await snapshotRegularFiles(dir, ['svid.pem', 'bundle.pem'], () => 0o644),
    ).toBeUndefined();
  });
});
