// writeSvidFiles under rotation, with a reader in another process: the certificate and key a
// workload reads are always one pair (through `.svid-current/`, or through the public names when
// the certificate did not change around the key), every file is a complete PEM, and a write that
// fails on a full disk (RLIMIT_FSIZE) leaves the previous version in place.
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeSvidFiles, type SvidFiles } from '../../src/agent/index.js';
import { BundleSet, parsePemCertificates } from '../../src/bundle/index.js';
import { parseTrustDomain } from '../../src/spiffeid/index.js';
import { svidOf } from '../helpers/agent.js';
import { canLimitFileSize, runWithFileSizeLimit } from '../helpers/fsize-child.js';
import { bundleOf, createCa, createLeaf } from '../helpers/pki.js';

const READER = fileURLToPath(new URL('./fixtures/svid-file-reader.mjs', import.meta.url));
const FSIZE_WRITER = fileURLToPath(new URL('./fixtures/files-fsize.ts', import.meta.url));
const ROTATIONS = 200;

let root: string;
let versions: SvidFiles[];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'agent-files-rotation-'));
  const ca = await createCa({ trustDomain: 'logistics.example' });
  const bundles = new BundleSet([
    bundleOf('logistics.example', [ca]),
    bundleOf('shipping.example', [await createCa({ trustDomain: 'shipping.example' })]),
  ]);
  versions = [];
  for (let i = 0; i < ROTATIONS; i++) {
    const svid = svidOf(await createLeaf(ca, { spiffeIds: ['spiffe://logistics.example/api'] }));
    versions.push({
      chainDer: svid.chainDer,
      privateKeyPem: svid.privateKeyPem,
      bundles,
      ownTrustDomain: parseTrustDomain('logistics.example'),
    });
  }
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

interface ReaderStats {
  snapshot: { ok: number; mismatch: number; retried: number };
  public: { ok: number; torn: number; mismatch: number; incomplete: number; missing: number };
}

/** Starts the reader on `dir`; `stop()` closes its stdin and resolves with what it saw. */
async function startReader(dir: string): Promise<{ stop: () => Promise<ReaderStats> }> {
  const child = spawn(process.execPath, [READER, dir], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', () => out.startsWith('ready\n') && resolve());
    void exited.then(() => reject(new Error(`reader exited early: ${err}`)));
  });
  return {
    async stop() {
      child.stdin.end();
      const code = await exited;
      expect(err).toBe('');
      expect(code).toBe(0);
      return JSON.parse(out.slice('ready\n'.length)) as ReaderStats;
    },
  };
}

describe('writeSvidFiles under rotation', () => {
  it(`a reader in another process never pairs a key with another certificate over ${ROTATIONS} rotations`, async () => {
    const dir = join(root, 'race');
    await writeSvidFiles(dir, versions[0] as SvidFiles);
    const reader = await startReader(dir);
    for (const version of versions.slice(1)) await writeSvidFiles(dir, version);
    const stats = await reader.stop();
    // Through the public names: every file complete, and a certificate unchanged around the key
    // read is the key's certificate (the old writer renamed the key before the certificate).
    expect(stats.public.mismatch).toBe(0);
    expect(stats.public.incomplete).toBe(0);
    expect(stats.public.missing).toBe(0);
    expect(stats.public.ok).toBeGreaterThan(0);
    // Through .svid-current resolved once: always one version's pair (a directory removed by the
    // next rotation is a retry).
    expect(stats.snapshot.mismatch).toBe(0);
    expect(stats.snapshot.ok).toBeGreaterThan(0);
    const last = versions[ROTATIONS - 1] as SvidFiles;
    expect(parsePemCertificates(await readFile(join(dir, 'svid.pem')))).toEqual(last.chainDer);
    expect(await readFile(join(dir, 'svid_key.pem'), 'utf8')).toBe(last.privateKeyPem);
  });

  // A full disk, made real with RLIMIT_FSIZE on a child process.
  it.runIf(canLimitFileSize)(
    'a write that fails half way (full disk) leaves the previous version current, complete and alone',
    async () => {
      const dir = join(root, 'full-disk');
      const before = versions[0] as SvidFiles;
      await writeSvidFiles(dir, before);
      const current = await readlink(join(dir, '.svid-current'));
      const { code, out, err } = await runWithFileSizeLimit(FSIZE_WRITER, 16384, [dir, '32768']);
      expect(err).toBe('');
      expect(code).toBe(0);
      expect(JSON.parse(out)).toEqual({ ok: false, code: 'ERR_AGENT_FILE_WRITE' });
      expect(await readlink(join(dir, '.svid-current'))).toBe(current);
      expect(parsePemCertificates(await readFile(join(dir, 'svid.pem')))).toEqual(before.chainDer);
      expect(await readFile(join(dir, 'svid_key.pem'), 'utf8')).toBe(before.privateKeyPem);
      expect((await readdir(join(dir, 'federated'))).sort()).toEqual(['shipping.example.pem']);
      // The half-written version directory was removed.
      expect((await readdir(dir)).filter((e) => e.startsWith('.svid-')).sort()).toEqual(
        ['.svid-current', current].sort(),
      );
      // And the next write succeeds.
      await writeSvidFiles(dir, versions[1] as SvidFiles);
      expect(await readFile(join(dir, 'svid_key.pem'), 'utf8')).toBe(versions[1]?.privateKeyPem);
    },
  );
});
