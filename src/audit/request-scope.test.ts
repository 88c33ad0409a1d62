// The admin request scope: events appended while a request runs carry its id; work it leaves
// behind, other requests and events that name an id already keep theirs.
import { describe, expect, it } from 'vitest';
import { currentAdminRequestId, runAsAdminRequest, withAdminRequestId } from './request-scope.js';

const event = { type: 'entry.created', actor: 'admin:root', details: { id: 'e1' } } as const;

describe('admin request scope', () => {
  it('stamps events appended while the request runs, through awaits', async () => {
    const stamped = await runAsAdminRequest('req-1', async () => {
      await Promise.resolve();
      return withAdminRequestId(event);
    });
    expect(stamped.details).toEqual({ id: 'e1', requestId: 'req-1' });
  });

  it('leaves events outside a request, and one naming its own request id, as they are', async () => {
    expect(withAdminRequestId(event)).toBe(event);
    const own = { ...event, details: { requestId: 'other' } };
    expect(await runAsAdminRequest('req-2', async () => withAdminRequestId(own))).toBe(own);
  });

  it('work the request started but did not wait for is not stamped once it has settled', async () => {
    let release = (): void => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let later: Promise<string | undefined> = Promise.resolve('unset');
    await runAsAdminRequest('req-3', async () => {
      later = gate.then(() => currentAdminRequestId());
    });
    release();
    expect(await later).toBeUndefined();
  });

  it('concurrent requests each see their own id', async () => {
    const ids = await Promise.all(
      ['a', 'b', 'c'].map((id) =>
        runAsAdminRequest(id, async () => {
          await new Promise<void>((resolve) => queueMicrotask(resolve));
          return currentAdminRequestId();
        }),
      ),
    );
    expect(ids).toEqual(['a', 'b', 'c']);
  });

  it('a request that settles while another runs leaves the other its id (the scope stays enabled)', async () => {
    let releaseLong = (): void => undefined;
    const longGate = new Promise<void>((resolve) => {
      releaseLong = resolve;
    });
    const long = runAsAdminRequest('long', async () => {
      await longGate;
      await new Promise<void>((resolve) => setImmediate(resolve));
      return currentAdminRequestId();
    });
    expect(await runAsAdminRequest('short', async () => currentAdminRequestId())).toBe('short');
    releaseLong();
    expect(await long).toBe('long');
    // All settled: the scope is disabled, and a new request enables it again.
    expect(currentAdminRequestId()).toBeUndefined();
    expect(await runAsAdminRequest('again', async () => currentAdminRequestId())).toBe('again');
  });

  it('a failing request still closes its scope and rethrows', async () => {
    await expect(
      runAsAdminRequest('req-4', () => Promise.reject(new Error('refused'))),
    ).rejects.toThrow('refused');
    expect(currentAdminRequestId()).toBeUndefined();
  });
});
