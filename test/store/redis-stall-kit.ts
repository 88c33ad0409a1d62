// Shared by the tests that stall a real redis-server with SIGSTOP.
import { afterAll, beforeAll } from 'vitest';
import type { Broker } from '../../src/main.js';
import type { Store } from '../../src/store/index.js';
import { startTestBroker } from '../helpers/broker.js';
import type { RedisServer } from '../helpers/redis-server.js';

/**
 * Lets the stalled server run again and waits until the store answers a ping: on one connection,
 * after every command queued meanwhile has run (or been refused).
 */
export async function resumeAndDrain(server: RedisServer, store: Store): Promise<void> {
  server.resume();
  for (let i = 0; i < 100; i++) {
    if (
      await store.ping().then(
        () => true,
        () => false,
      )
    ) {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('redis did not answer after SIGCONT');
}

/** Starts a real broker on `server` for the enclosing describe block (stopped after it). */
export function useBrokerOn(
  server: () => RedisServer,
  trustDomain: string,
  keyPrefix: string,
): () => Broker {
  let broker: Broker | undefined;
  beforeAll(async () => {
    broker = await startTestBroker({
      trustDomain,
      store: { kind: 'redis', url: server().url, keyPrefix, commandTimeout: '1s' },
    });
  }, 60_000);
  afterAll(async () => {
    server().resume();
    await broker?.stop();
  });
  return () => {
    if (broker === undefined) throw new Error('broker not started');
    return broker;
  };
}
