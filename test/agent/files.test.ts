// writeSvidFiles: spiffe-helper-style PEM files (svid.pem, svid_key.pem 0600, bundle.pem,
// federated/<td>.pem) replaced atomically, with federated files of departed partners removed.
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
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
    // Atomic replacement leaves no temporary files behind.
    expect((await readdir(dir)).sort()).toEqual([
      'bundle.pem',
      'federated',
      'svid.pem',
      'svid_key.pem',
    ]);
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

  it('replaces a key file that had a wider mode with a 0600 one', async () => {
    const dir = join(root, 'third');
    await writeSvidFiles(dir, files);
    await writeFile(join(dir, 'svid_key.pem'), 'old', { mode: 0o644 });
    await writeSvidFiles(dir, files);
    expect(await mode(join(dir, 'svid_key.pem'))).toBe(0o600);
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
