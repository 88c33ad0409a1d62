// Change notifications: the in-process listeners told when the trust view changed (agent watch
// streams), and the store's pub/sub between replicas (publish our changes, follow theirs).
import type { FederationLogger, FederationStore } from './ports.js';

/**
 * Notification channels this room publishes and listens to (the store adds its key prefix). Other
 * replicas re-read on a message; a missed message is covered by the next reload.
 */
export const FEDERATION_CHANNELS = {
  bundleChanged: (trustDomain: string): string => `bundle-changed:${trustDomain}`,
  relationshipChanged: 'relationship-changed',
} as const;

/** In-process listeners of trust view changes; one that throws is logged and the others still run. */
export interface ChangeListeners {
  add(listener: () => void): () => void;
  emit(): void;
}

export function createChangeListeners(logger: FederationLogger): ChangeListeners {
  const listeners = new Set<() => void>();
  return {
    add(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    emit() {
      for (const listener of listeners) {
        try {
          listener();
        } catch (error) {
          logger.warn('trust view listener failed', { error: (error as Error).message });
        }
      }
    },
  };
}

/** Pub/sub between replicas sharing one store. Publishing is best effort (see FEDERATION_CHANNELS). */
export interface Notifications {
  relationshipChanged(trustDomain: string): Promise<void>;
  bundleChanged(trustDomain: string): Promise<void>;
  /** Follows one trust domain's bundle channel (once per trust domain; a failed subscribe is retried next time). */
  followBundle(trustDomain: string): Promise<void>;
  /**
   * Follows the relationship channel (a message also follows that trust domain's bundle channel).
   * Resolves to a stop function that ends every subscription, bundle channels included.
   */
  followRelationships(): Promise<() => void>;
}

export interface NotificationsDeps {
  readonly store: Pick<FederationStore, 'publish' | 'subscribe'>;
  /** Told of another replica's change to one trust domain; its failures are dropped. */
  readonly onRemoteChange: (trustDomain: string) => Promise<void>;
}

export function createNotifications(deps: NotificationsDeps): Notifications {
  const { store, onRemoteChange } = deps;
  const subscriptions = new Map<string, () => Promise<void>>();
  const publish = async (channel: string, trustDomain: string): Promise<void> => {
    await store.publish(channel, trustDomain).catch(() => undefined);
  };

  async function followBundle(trustDomain: string): Promise<void> {
    if (subscriptions.has(trustDomain)) return;
    const unsubscribe = await store
      .subscribe(FEDERATION_CHANNELS.bundleChanged(trustDomain), () => {
        void onRemoteChange(trustDomain).catch(() => undefined);
      })
      .catch(() => undefined);
    if (unsubscribe !== undefined) subscriptions.set(trustDomain, unsubscribe);
  }

  return {
    relationshipChanged: (trustDomain) =>
      publish(FEDERATION_CHANNELS.relationshipChanged, trustDomain),
    bundleChanged: (trustDomain) =>
      publish(FEDERATION_CHANNELS.bundleChanged(trustDomain), trustDomain),
    followBundle,
    async followRelationships() {
      const unsubscribe = await store.subscribe(
        FEDERATION_CHANNELS.relationshipChanged,
        (trustDomain) => {
          void (async () => {
            await followBundle(trustDomain);
            await onRemoteChange(trustDomain);
          })().catch(() => undefined);
        },
      );
      return () => {
        void unsubscribe();
        for (const unsub of subscriptions.values()) void unsub();
        subscriptions.clear();
      };
    },
  };
}
