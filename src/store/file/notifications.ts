// The file store's change notifications: in-process pub/sub (one process owns the directory), each
// message delivered on a later event-loop turn as Redis would, a throwing handler only logged.
import { checkKeyComponent } from '../keys.js';
import type { NotificationHandler, Notifications, StoreLogger } from '../store.js';

export interface FileNotifications {
  readonly notifications: Notifications;
  /** Drops every subscription (on close). */
  clear(): void;
}

export function fileNotifications(
  logger: StoreLogger | undefined,
  checkOpen: () => void,
): FileNotifications {
  const subscribers = new Map<string, Set<NotificationHandler>>();
  const notifications: Notifications = {
    publish: async (channel, message) => {
      checkKeyComponent('channel', channel);
      checkOpen();
      for (const handler of subscribers.get(channel) ?? []) {
        // Delivered asynchronously, as Redis does, so a handler never runs inside publish().
        setImmediate(() => {
          try {
            handler(message);
          } catch (error) {
            logger?.warn?.('store: notification handler failed', {
              channel,
              error: String(error),
            });
          }
        });
      }
    },
    subscribe: async (channel, handler) => {
      checkKeyComponent('channel', channel);
      checkOpen();
      const set = subscribers.get(channel) ?? new Set<NotificationHandler>();
      subscribers.set(channel, set);
      // A wrapper per call, so subscribing the same function twice gives two independent subscriptions.
      const entry: NotificationHandler = (message) => handler(message);
      set.add(entry);
      return async () => {
        set.delete(entry);
        if (set.size === 0 && subscribers.get(channel) === set) subscribers.delete(channel);
      };
    },
  };
  return { notifications, clear: () => subscribers.clear() };
}
