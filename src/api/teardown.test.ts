// The shutdown order the broker keeps: the signal first, the background loops awaited, then the
// steps (`first` ahead of all earlier ones, `last` after them, `before` just ahead of a given one).
import { describe, expect, it } from 'vitest';
import { Teardown } from './teardown.js';

function broker(): { teardown: Teardown; ran: string[]; closeStore: () => void } {
  const teardown = new Teardown();
  const ran: string[] = [];
  const step = (name: string) => () => {
    ran.push(name);
  };
  // The registration order of startBroker: store, CA, bundle subscription, listeners, flush.
  const closeStore = step('store');
  teardown.last(closeStore);
  teardown.first(step('ca'));
  teardown.last(step('unsubscribe bundle'));
  teardown.last(step('endpoint svid timer'));
  teardown.first(step('bundle endpoint'));
  teardown.first(step('agent api'));
  teardown.before(closeStore, step('flush failed logins'));
  teardown.first(step('admin api'));
  return { teardown, ran, closeStore };
}

const ORDER = [
  'admin api',
  'agent api',
  'bundle endpoint',
  'ca',
  'flush failed logins',
  'store',
  'unsubscribe bundle',
  'endpoint svid timer',
];

describe('Teardown', () => {
  it('stop() aborts the signal, awaits the background loops, then runs the steps in order', async () => {
    const { teardown, ran } = broker();
    teardown.inBackground(
      (signal) =>
        new Promise<void>((done) =>
          signal.addEventListener('abort', () => {
            ran.push('loop ended');
            done();
          }),
        ),
    );
    expect(teardown.signal.aborted).toBe(false);
    await teardown.stop({ warn: () => undefined });
    expect(teardown.signal.aborted).toBe(true);
    expect(ran).toEqual(['loop ended', ...ORDER]);
  });

  it('stop(): a failing step is logged and the next ones still run', async () => {
    const { teardown, ran } = broker();
    teardown.first(() => Promise.reject(new Error('close failed')));
    const warnings: unknown[] = [];
    await teardown.stop({ warn: (message, fields) => warnings.push([message, fields]) });
    expect(ran).toEqual(ORDER);
    expect(warnings).toEqual([['error while stopping', { error: 'close failed' }]]);
  });

  it('abandon() (a failed start) runs the same steps and drops their rejections', async () => {
    const { teardown, ran } = broker();
    teardown.first(() => Promise.reject(new Error('close failed')));
    teardown.inBackground(() => Promise.reject(new Error('loop failed')));
    await expect(teardown.abandon()).resolves.toBeUndefined();
    expect(teardown.signal.aborted).toBe(true);
    expect(ran).toEqual(ORDER);
  });
});
