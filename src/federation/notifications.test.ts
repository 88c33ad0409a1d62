// Notification tests: in-process listeners isolated from each other's failures, and the pub/sub
// between replicas (channel names, one subscription per trust domain, stop ends them all).
import { describe, expect, it } from 'vitest';
import type { NotificationHandler } from '../store/index.js';
import {
  FEDERATION_CHANNELS,
  createChangeListeners,
  createNotifications,
  type NotificationsDeps,
} from './notifications.js';

/** An in-memory pub/sub port; `failSubscribe` makes the next subscribe calls reject. */
function fakePubSub() {
  const handlers = new Map<string, Set<NotificationHandler>>();
  const published: [string, string][] = [];
  const state = { failSubscribe: 0, failPublish: false };
  const store: NotificationsDeps['store'] = {
    async publish(channel, message) {
      if (state.failPublish) throw new Error('store down');
      published.push([channel, message]);
      for (const handler of handlers.get(channel) ?? []) handler(message);
    },
    async subscribe(channel, handler) {
      if (state.failSubscribe > 0) {
        state.failSubscribe -= 1;
        throw new Error('store down');
      }
      const set = handlers.get(channel) ?? new Set();
      set.add(handler);
      handlers.set(channel, set);
      return async () => {
        set.delete(handler);
      };
    },
  };
  const subscribers = (channel: string): number => handlers.get(channel)?.size ?? 0;
  return { store, published, state, subscribers };
}

/** Notifications over a fake pub/sub, recording the trust domains reported as changed remotely. */
function following(failFor?: string) {
  const pubsub = fakePubSub();
  const remote: string[] = [];
  const notifications = createNotifications({
    store: pubsub.store,
    onRemoteChange: async (td) => {
      remote.push(td);
      if (td === failFor) throw new Error('reload failed');
    },
  });
  return { pubsub, remote, notifications };
}

/** Lets handlers started with `void` (async) run to the end. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('createChangeListeners', () => {
  it('a listener that throws is logged and the others still run; add returns the removal', () => {
    const warnings: string[] = [];
    const listeners = createChangeListeners({
      info() {},
      warn: (message) => warnings.push(message),
    });
    const calls: string[] = [];
    listeners.add(() => {
      throw new Error('boom');
    });
    const remove = listeners.add(() => calls.push('second'));
    listeners.emit();
    expect(calls).toEqual(['second']);
    expect(warnings).toEqual(['trust view listener failed']);
    remove();
    listeners.emit();
    expect(calls).toEqual(['second']);
  });
});

describe('createNotifications', () => {
  it('publishes on the channels other replicas listen to (names are a contract between versions)', async () => {
    const pubsub = fakePubSub();
    const notifications = createNotifications({
      store: pubsub.store,
      onRemoteChange: async () => {},
    });
    await notifications.relationshipChanged('a.test');
    await notifications.bundleChanged('a.test');
    expect(pubsub.published).toEqual([
      ['relationship-changed', 'a.test'],
      ['bundle-changed:a.test', 'a.test'],
    ]);
    expect(FEDERATION_CHANNELS.bundleChanged('a.test')).toBe('bundle-changed:a.test');
  });

  it('publishing is best effort: a store failure does not fail the change (the next reload covers it)', async () => {
    const pubsub = fakePubSub();
    pubsub.state.failPublish = true;
    const notifications = createNotifications({
      store: pubsub.store,
      onRemoteChange: async () => {},
    });
    await expect(notifications.relationshipChanged('a.test')).resolves.toBeUndefined();
    await expect(notifications.bundleChanged('a.test')).resolves.toBeUndefined();
  });

  it('follows a bundle channel once per trust domain and retries a failed subscribe', async () => {
    const { pubsub, remote, notifications } = following();
    pubsub.state.failSubscribe = 1;
    await notifications.followBundle('a.test');
    expect(pubsub.subscribers('bundle-changed:a.test')).toBe(0);
    await notifications.followBundle('a.test');
    await notifications.followBundle('a.test');
    expect(pubsub.subscribers('bundle-changed:a.test')).toBe(1);
    await pubsub.store.publish('bundle-changed:a.test', 'a.test');
    await settle();
    expect(remote).toEqual(['a.test']);
  });

  it("a relationship message follows that partner's bundle channel; stop ends every subscription", async () => {
    const { pubsub, remote, notifications } = following('bad.test');
    const stop = await notifications.followRelationships();
    await pubsub.store.publish('relationship-changed', 'a.test');
    await pubsub.store.publish('relationship-changed', 'bad.test');
    await settle();
    expect(remote).toEqual(['a.test', 'bad.test']);
    expect(pubsub.subscribers('bundle-changed:a.test')).toBe(1);
    stop();
    await settle();
    expect(pubsub.subscribers('relationship-changed')).toBe(0);
    expect(pubsub.subscribers('bundle-changed:a.test')).toBe(0);
    expect(pubsub.subscribers('bundle-changed:bad.test')).toBe(0);
  });
});
