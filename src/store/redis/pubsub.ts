// The Redis store's change notifications: PUBLISH on the main connection; subscriptions share one
// dedicated connection, opened on first use, that ioredis re-subscribes after a reconnect.
import type { NotificationHandler, Notifications } from '../store.js';
import type { Client } from './client.js';
import { waitForReady } from './connection.js';
import type { RedisContext } from './scan.js';

interface Subscription {
  readonly handlers: Set<NotificationHandler>;
  readonly ready: Promise<unknown>;
}

export class RedisPubSub implements Notifications {
  private subscriber: Promise<Client> | undefined;
  private readonly channels = new Map<string, Subscription>();

  constructor(private readonly context: RedisContext) {}

  async publish(channel: string, message: string): Promise<void> {
    const { conn, keys } = this.context;
    const full = keys.channel(channel);
    await conn.call('publish', () => conn.client.publish(full, message));
  }

  async subscribe(channel: string, handler: NotificationHandler): Promise<() => Promise<void>> {
    const { conn, keys } = this.context;
    const full = keys.channel(channel);
    const entry: NotificationHandler = (message) => handler(message);
    await conn.call('subscribe', async () => {
      const connection = await this.subscriberConnection();
      let subscription = this.channels.get(full);
      if (subscription === undefined) {
        const created = {
          handlers: new Set<NotificationHandler>(),
          ready: connection.subscribe(full),
        };
        subscription = created;
        this.channels.set(full, created);
        created.ready.catch(() => {
          if (this.channels.get(full) === created) this.channels.delete(full);
        });
      }
      await subscription.ready;
      subscription.handlers.add(entry);
    });
    return async () => {
      const subscription = this.channels.get(full);
      if (subscription === undefined || !subscription.handlers.delete(entry)) return;
      if (subscription.handlers.size > 0) return;
      this.channels.delete(full);
      const connection = await this.subscriber;
      // If Redis is down the channel stays subscribed on the connection; messages find no handler.
      await connection?.unsubscribe(full).catch(() => undefined);
    };
  }

  /** The subscriber connection if one was ever opened and came up (for close). */
  async openedConnection(): Promise<Client | undefined> {
    return this.subscriber?.catch(() => undefined);
  }

  private subscriberConnection(): Promise<Client> {
    this.subscriber ??= this.openSubscriber();
    return this.subscriber;
  }

  private async openSubscriber(): Promise<Client> {
    const conn = this.context.conn;
    const connection = conn.client.duplicate();
    conn.watch(connection, 'subscriber');
    connection.on('message', (channel: string, message: string) => {
      for (const handler of this.channels.get(channel)?.handlers ?? []) {
        try {
          handler(message);
        } catch (error) {
          conn.settings.logger?.warn?.('store: notification handler failed', {
            error: String(error),
          });
        }
      }
    });
    connection.connect().catch(() => undefined);
    try {
      await waitForReady(connection, conn.settings.connectTimeoutMs);
    } catch (error) {
      connection.disconnect();
      this.subscriber = undefined;
      throw error;
    }
    return connection;
  }
}
