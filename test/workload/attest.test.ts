// Kernel attestation from /proc: start-time parsing, container ids, and a caller that exits or
// whose pid now names another process is never given an identity (issue 17, pid reuse).
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { containerIdOf, createAttestor, parseStatStartTime } from '../../src/workload/index.js';

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

  it('gives this process its uid, gid, path and sha256 selectors', async () => {
    const attestor = createAttestor();
    const cred = { pid: process.pid, uid: process.getuid!(), gid: process.getgid!() };
    const facts = await attestor.attest(cred, attestor.startTime(process.pid));
    expect(facts.selectors).toContain(`unix:uid:${cred.uid}`);
    expect(facts.selectors).toContain(`unix:gid:${cred.gid}`);
    expect(facts.selectors).toContain(`unix:path:${process.execPath}`);
    expect([...facts.selectors].some((s) => /^unix:sha256:[0-9a-f]{64}$/.test(s))).toBe(true);
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
