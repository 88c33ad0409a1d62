// writeSvidFiles: spiffe-helper-style PEM files (svid.pem, svid_key.pem 0600, bundle.pem,
// federated/<td>.pem) as symlinks through `.svid-current` into one version directory, swapped
// atomically; federated files of departed partners removed; files of the old layout migrated;
// directories left by a crash removed.
import {
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeSvidFiles, type SvidFiles } from '../../src/agent/index.js';
import { BundleSet, parsePemCertificates } from '../../src/bundle/index.js';
import { AgentError } from '../../src/errors.js';
import { parseTrustDomain } from '../../src/spiffeid/index.js';
import { svidOf } from '../helpers/agent.js';
import { bundleOf, createCa, createLeaf, type TestCert } from '../helpers/pki.js';

const LOGISTICS = parseTrustDomain('logistics.example');

let root: string;
let logCa: TestCert;
let logCaNext: TestCert;
let shipCa: TestCert;
let railCa: TestCert;
let inter: TestCert;
let files: SvidFiles;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'agent-files-'));
  logCa = await createCa({ trustDomain: 'logistics.example' });
  logCaNext = await createCa({ trustDomain: 'logistics.example' });
  shipCa = await createCa({ trustDomain: 'shipping.example' });
  railCa = await createCa({ trustDomain: 'rail.example' });
  inter = await createCa({ issuer: logCa, trustDomain: 'logistics.example' });
  const leaf = await createLeaf(inter, { spiffeIds: ['spiffe://logistics.example/api'] });
  const svid = svidOf(leaf, [inter]);
  files = {
    chainDer: svid.chainDer,
    privateKeyPem: svid.privateKeyPem,
    bundles: new BundleSet([
      bundleOf('logistics.example', [logCa, logCaNext]),
      bundleOf('shipping.example', [shipCa]),
      bundleOf('rail.example', [railCa]),
    ]),
    ownTrustDomain: LOGISTICS,
  };
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const mode = async (path: string): Promise<number> => (await stat(path)).mode & 0o777;

describe('writeSvidFiles', () => {
  it('WAPI-10 / WAPI-11: writes the chain, the key (0600), the own bundle and one file per partner', async () => {
    const dir = join(root, 'first');
    const result = await writeSvidFiles(dir, files);
    expect(parsePemCertificates(await readFile(join(dir, 'svid.pem')))).toEqual(files.chainDer);
    expect(await readFile(join(dir, 'svid_key.pem'), 'utf8')).toBe(files.privateKeyPem);
    expect(await mode(join(dir, 'svid_key.pem'))).toBe(0o600);
    expect(parsePemCertificates(await readFile(join(dir, 'bundle.pem')))).toEqual([
      logCa.der,
      logCaNext.der,
    ]);
    expect((await readdir(join(dir, 'federated'))).sort()).toEqual([
      'rail.example.pem',
      'shipping.example.pem',
    ]);
    expect(
      parsePemCertificates(await readFile(join(dir, 'federated', 'shipping.example.pem'))),
    ).toEqual([shipCa.der]);
    expect(result.written).toHaveLength(5);
    expect(result.removed).toEqual([]);
  });

  it('layout: the public names are symlinks through .svid-current into the one version directory', async () => {
    const dir = join(root, 'layout');
    await writeSvidFiles(dir, files);
    await writeSvidFiles(dir, files);
    const current = await readlink(join(dir, '.svid-current'));
    expect(current).toMatch(/^\.svid-\d+-[0-9a-f]{12}$/);
    // The previous version is gone and no temporary entry is left behind.
    expect((await readdir(dir)).sort()).toEqual(
      ['.svid-current', current, 'bundle.pem', 'federated', 'svid.pem', 'svid_key.pem'].sort(),
    );
    for (const name of ['svid.pem', 'svid_key.pem', 'bundle.pem']) {
      expect((await lstat(join(dir, name))).isSymbolicLink()).toBe(true);
      expect(await readlink(join(dir, name))).toBe(`.svid-current/${name}`);
    }
    expect(await readlink(join(dir, 'federated', 'shipping.example.pem'))).toBe(
      '../.svid-current/federated/shipping.example.pem',
    );
    expect((await readdir(join(dir, current, 'federated'))).sort()).toEqual([
      'rail.example.pem',
      'shipping.example.pem',
    ]);
    // The version is readable by others like the files it replaced; the key by its owner only.
    expect(await mode(join(dir, current))).toBe(0o755);
    expect(await mode(join(dir, current, 'svid.pem'))).toBe(0o644);
    expect(await mode(join(dir, current, 'svid_key.pem'))).toBe(0o600);
  });

  it('modes are exact whatever the umask: key 0600, version directory 0755', async () => {
    const dir = join(root, 'umask');
    const before = process.umask(0);
    try {
      await writeSvidFiles(dir, files);
    } finally {
      process.umask(before);
    }
    expect(await mode(join(dir, 'svid_key.pem'))).toBe(0o600);
    expect(await mode(join(dir, 'svid.pem'))).toBe(0o644);
    expect(await mode(join(dir, await readlink(join(dir, '.svid-current'))))).toBe(0o755);
  });

  it('FED-60: removes the file of a partner that left the set, keeps unrelated files', async () => {
    const dir = join(root, 'second');
    await writeSvidFiles(dir, files);
    await writeFile(join(dir, 'federated', 'README.txt'), 'not ours');
    const result = await writeSvidFiles(dir, {
      ...files,
      bundles: files.bundles.delete(parseTrustDomain('rail.example')),
    });
    expect(result.removed).toEqual([join(dir, 'federated', 'rail.example.pem')]);
    expect((await readdir(join(dir, 'federated'))).sort()).toEqual([
      'README.txt',
      'shipping.example.pem',
    ]);
  });

  it('migration: regular files of the old layout become links, the key 0600, departed partners removed', async () => {
    const dir = join(root, 'third');
    await mkdir(join(dir, 'federated'), { recursive: true });
    await writeFile(join(dir, 'svid.pem'), 'old chain', { mode: 0o644 });
    await writeFile(join(dir, 'svid_key.pem'), 'old key', { mode: 0o644 });
    await writeFile(join(dir, 'bundle.pem'), 'old bundle', { mode: 0o644 });
    await writeFile(join(dir, 'federated', 'shipping.example.pem'), 'old', { mode: 0o644 });
    await writeFile(join(dir, 'federated', 'gone.example.pem'), 'old', { mode: 0o644 });
    const result = await writeSvidFiles(dir, files);
    for (const name of ['svid.pem', 'svid_key.pem', 'bundle.pem', 'federated/rail.example.pem']) {
      expect((await lstat(join(dir, name))).isSymbolicLink()).toBe(true);
    }
    expect(await readFile(join(dir, 'svid_key.pem'), 'utf8')).toBe(files.privateKeyPem);
    expect(await mode(join(dir, 'svid_key.pem'))).toBe(0o600);
    expect(parsePemCertificates(await readFile(join(dir, 'svid.pem')))).toEqual(files.chainDer);
    expect(result.removed).toEqual([join(dir, 'federated', 'gone.example.pem')]);
    // The snapshot of the old files, published first, is gone: one version directory remains.
    expect((await readdir(dir)).filter((e) => e.startsWith('.svid-')).sort()).toEqual(
      ['.svid-current', await readlink(join(dir, '.svid-current'))].sort(),
    );
  });

  it('a crashed write: stale version directories and temporary links are removed, other entries kept', async () => {
    const dir = join(root, 'stale');
    await writeSvidFiles(dir, files);
    const stale = '.svid-1700000000000-0123456789ab';
    await mkdir(join(dir, stale, 'federated'), { recursive: true });
    await writeFile(join(dir, stale, 'svid_key.pem'), 'a key', { mode: 0o600 });
    await symlink(stale, join(dir, '.svid-current.0123456789ab.tmp'));
    await writeFile(join(dir, 'svid.pem.ba9876543210.tmp'), 'old writer temp');
    await writeFile(join(dir, 'federated', 'rail.example.pem.ba9876543210.tmp'), 'temp');
    await mkdir(join(dir, '.svid-notes'));
    await writeSvidFiles(dir, files);
    const current = await readlink(join(dir, '.svid-current'));
    expect((await readdir(dir)).sort()).toEqual(
      [
        '.svid-current',
        '.svid-notes',
        current,
        'bundle.pem',
        'federated',
        'svid.pem',
        'svid_key.pem',
      ].sort(),
    );
    expect((await readdir(join(dir, 'federated'))).sort()).toEqual([
      'rail.example.pem',
      'shipping.example.pem',
    ]);
  });

  it('FED-35: a partner bundle without X.509 authorities gives an empty file', async () => {
    const dir = join(root, 'fourth');
    await writeSvidFiles(dir, {
      ...files,
      bundles: files.bundles.set(bundleOf('shipping.example', [])),
    });
    expect(await readFile(join(dir, 'federated', 'shipping.example.pem'), 'utf8')).toBe('');
  });

  it('I/O failure: ERR_AGENT_FILE_WRITE and no partial result', async () => {
    const blocker = join(root, 'blocker');
    await writeFile(blocker, 'a file where a directory should be');
    await expect(writeSvidFiles(join(blocker, 'dir'), files)).rejects.toSatisfy(
      (error: unknown) => error instanceof AgentError && error.code === 'ERR_AGENT_FILE_WRITE',
    );
  });

  it('caller mistakes throw TypeError', async () => {
    await expect(writeSvidFiles('', files)).rejects.toThrow(TypeError);
    await expect(writeSvidFiles(root, { ...files, chainDer: [] })).rejects.toThrow(TypeError);
    await expect(writeSvidFiles(root, { ...files, privateKeyPem: 'nope' })).rejects.toThrow(
      TypeError,
    );
    await expect(
      writeSvidFiles(root, { ...files, ownTrustDomain: 'logistics.example' as never }),
    ).rejects.toThrow(TypeError);
  });
});
