// Kernel attestation from /proc: start-time parsing, container ids, a caller that exits or whose
// pid now names another process is never given an identity (issue 17, pid reuse), and the binary
// is hashed only when asked, within a size limit, a few binaries at a time and a few per uid a
// minute (a /proc fixture).
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_MAX_HASH_BYTES,
  containerIdOf,
  createAttestor,
  parseStatStartTime,
} from '../../src/workload/index.js';

const ID = 'a'.repeat(64);

describe('attestation from /proc', () => {
  it('reads field 22 even when comm holds spaces and parentheses', () => {
    const fields = Array.from({ length: 50 }, (_, i) => String(i + 3));
    expect(parseStatStartTime(`123 (evil) 1 2 (x)) ${fields.join(' ')}`)).toBe('22');
  });

  it.each([
    ['docker', `0::/system.slice/docker-${ID}.scope`, ID],
    ['docker v1', `12:memory:/docker/${ID}`, ID],
    ['containerd (kubernetes)', `0::/kubepods/burstable/pod1/cri-containerd-${ID}.scope`, ID],
    ['cri-o', `0::/kubepods.slice/crio-${ID}.scope`, ID],
    ['no container', '0::/user.slice/user-1000.slice/session-2.scope', undefined],
  ])('container:id from a %s cgroup', (_name, cgroup, expected) => {
    expect(containerIdOf(cgroup)).toBe(expected);
  });

  it('gives this process its uid, gid, path and, when asked, sha256 selectors', async () => {
    const attestor = createAttestor();
    const cred = { pid: process.pid, uid: process.getuid!(), gid: process.getgid!() };
    const facts = await attestor.attest(cred, attestor.startTime(process.pid), {
      hashWhen: () => true,
    });
    expect(facts.selectors).toContain(`unix:uid:${cred.uid}`);
    expect(facts.selectors).toContain(`unix:gid:${cred.gid}`);
    expect(facts.selectors).toContain(`unix:path:${process.execPath}`);
    expect(facts.selectors).toContain(`unix:sha256:${sha256Of(readFileSync(process.execPath))}`);
  });

  it('a pid whose start time changed is ERR_WORKLOAD_PID_REUSED; an exited caller is ERR_WORKLOAD_ATTESTATION_FAILED', async () => {
    const attestor = createAttestor();
    const cred = { pid: process.pid, uid: 0, gid: 0 };
    const real = attestor.startTime(process.pid);
    await expect(attestor.attest(cred, String(Number(real) - 1))).rejects.toMatchObject({
      code: 'ERR_WORKLOAD_PID_REUSED',
    });
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
    const pid = child.pid!;
    const start = attestor.startTime(pid);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    await expect(attestor.attest({ pid, uid: 0, gid: 0 }, start)).rejects.toMatchObject({
      code: expect.stringMatching(/^ERR_WORKLOAD_(ATTESTATION_FAILED|PID_REUSED)$/),
    });
  });
});

function sha256Of(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** A /proc of fake processes, each running its own binary (a file under the fixture). */
const root = mkdtempSync(join(tmpdir(), 'fedbroker-attest-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const START = '777';
let nextPid = 4000;

function fakeProcess(binary: Buffer): { pid: number; path: string; sha256: string } {
  const pid = ++nextPid;
  const dir = join(root, 'proc', String(pid));
  mkdirSync(dir, { recursive: true });
  // Fields 4.. after the state: index 18 is field 22 (starttime).
  const fields = Array.from({ length: 50 }, (_, i) => (i === 18 ? START : '0'));
  writeFileSync(join(dir, 'stat'), `${pid} (fake) S ${fields.join(' ')}\n`);
  writeFileSync(join(dir, 'status'), 'Name:\tfake\nGroups:\t\n');
  writeFileSync(join(dir, 'cgroup'), '0::/user.slice\n');
  const path = join(root, `bin-${pid}`);
  writeFileSync(path, binary);
  symlinkSync(path, join(dir, 'exe'));
  return { pid, path, sha256: sha256Of(binary) };
}

function attestFake(
  attestor: ReturnType<typeof createAttestor>,
  pid: number,
  hashWhen?: (selectors: ReadonlySet<string>) => boolean,
): ReturnType<ReturnType<typeof createAttestor>['attest']> {
  return attestor.attest(
    { pid, uid: 1000, gid: 1000 },
    START,
    hashWhen === undefined ? {} : { hashWhen },
  );
}

describe('hashing the caller binary (unix:sha256)', () => {
  const procRoot = (): string => join(root, 'proc');

  it('is not read unless asked: path and uid selectors, no sha256', async () => {
    const attestor = createAttestor({ procRoot: procRoot() });
    const fake = fakeProcess(randomBytes(4096));
    for (const hashWhen of [undefined, () => false]) {
      const facts = await attestFake(attestor, fake.pid, hashWhen);
      expect(facts.selectors).toContain(`unix:path:${fake.path}`);
      expect(facts.selectors).toContain('unix:uid:1000');
      expect([...facts.selectors].some((s) => s.startsWith('unix:sha256:'))).toBe(false);
      expect(facts.sha256).toBeUndefined();
    }
    expect(attestor.hashStats().started).toBe(0);
  });

  it('when asked, sees the other selectors first and derives the right sha256', async () => {
    const attestor = createAttestor({ procRoot: procRoot() });
    const fake = fakeProcess(randomBytes(4096));
    let seen: string[] = [];
    const facts = await attestFake(attestor, fake.pid, (selectors) => {
      seen = [...selectors];
      return true;
    });
    expect(seen).toContain(`unix:path:${fake.path}`);
    expect(seen.some((s) => s.startsWith('unix:sha256:'))).toBe(false);
    expect(facts.selectors).toContain(`unix:sha256:${fake.sha256}`);
    expect(facts.sha256).toBe(fake.sha256);
    expect(attestor.hashStats().started).toBe(1);
  });

  it('skips a binary over maxHashBytes (default 256 MiB) and keeps its path', async () => {
    expect(DEFAULT_MAX_HASH_BYTES).toBe(256 * 1024 * 1024);
    const attestor = createAttestor({ procRoot: procRoot(), maxHashBytes: 1024 });
    const fake = fakeProcess(randomBytes(1025));
    const facts = await attestFake(attestor, fake.pid, () => true);
    expect(facts.sha256).toBeUndefined();
    expect(facts.selectors).toContain(`unix:path:${fake.path}`);
    expect(attestor.hashStats().started).toBe(0);
  });

  it('hashes at most maxConcurrentHashes binaries at once; callers of one binary share its hash', async () => {
    const attestor = createAttestor({ procRoot: procRoot() });
    const fakes = Array.from({ length: 5 }, () => fakeProcess(randomBytes(1024 * 1024)));
    const facts = await Promise.all(fakes.map((f) => attestFake(attestor, f.pid, () => true)));
    expect(facts.map((f) => f.sha256)).toEqual(fakes.map((f) => f.sha256));
    expect(attestor.hashStats()).toEqual({ started: 5, active: 0, peakActive: 2 });

    const one = createAttestor({ procRoot: procRoot(), maxConcurrentHashes: 1 });
    const twin = fakeProcess(Buffer.alloc(0));
    rmSync(join(procRoot(), String(twin.pid), 'exe'));
    symlinkSync(fakes[0]!.path, join(procRoot(), String(twin.pid), 'exe'));
    const shared = await Promise.all(
      [fakes[0]!, twin, fakes[1]!].map((f) => attestFake(one, f.pid, () => true)),
    );
    expect(shared.map((f) => f.sha256)).toEqual([
      fakes[0]!.sha256,
      fakes[0]!.sha256,
      fakes[1]!.sha256,
    ]);
    expect(one.hashStats()).toEqual({ started: 2, active: 0, peakActive: 1 });
  });

  it('starts at most hashBurstPerUid hashes of one uid, then one per hashIntervalMs; cached ones are free (review 10 F5)', async () => {
    let now = 1_000_000;
    const attestor = createAttestor({ procRoot: procRoot(), now: () => now });
    const fake = fakeProcess(randomBytes(64 * 1024));
    const touchedCall = async (): Promise<{ sha256?: string; hashRefused?: true }> => {
      now += 1000;
      utimesSync(fake.path, now / 1000, now / 1000); // a new mtime: a new cache key
      return attestFake(attestor, fake.pid, () => true);
    };
    for (let i = 0; i < 8; i += 1) expect((await touchedCall()).sha256).toBe(fake.sha256);
    const refused = await touchedCall();
    expect(refused.sha256).toBeUndefined();
    expect(refused.hashRefused).toBe(true);
    expect([...(await attestFake(attestor, fake.pid, () => true)).selectors]).not.toContain(
      `unix:sha256:${fake.sha256}`,
    );
    expect(attestor.hashStats().started).toBe(8);
    // Another uid has its own budget.
    const other = await attestor.attest({ pid: fake.pid, uid: 1001, gid: 1001 }, START, {
      hashWhen: () => true,
    });
    expect(other.sha256).toBe(fake.sha256);
    now += 15_000;
    expect((await touchedCall()).sha256).toBe(fake.sha256);
    // Cached now: no budget needed.
    expect((await attestFake(attestor, fake.pid, () => true)).sha256).toBe(fake.sha256);
    expect((await touchedCall()).hashRefused).toBe(true);
    expect(attestor.hashStats().started).toBe(10);
  });
});
