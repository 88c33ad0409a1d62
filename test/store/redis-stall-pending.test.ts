// Review 12 F3 on a real redis-server stalled with SIGSTOP: commands a stalled server leaves
// unanswered are bounded. Past maxCommandsInFlight on a connection a call is refused at once, and a
// connection that hears nothing for two command timeouts is dropped, letting go of what it held, so
// later calls fail at once until Redis answers again; then the store works without being recreated.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisStore, type Store } from '../../src/store/index.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { resumeAndDrain } from './redis-stall-kit.js';

const COMMAND_TIMEOUT_MS = 300;
const TOKEN = 'a'.repeat(64);

let server: RedisServer;
let store: Store;

beforeAll(async () => {
  server = await startRedisServer();
  store = await createRedisStore({
    url: server.url,
    keyPrefix: 'pending:',
    commandTimeoutMs: COMMAND_TIMEOUT_MS,
    maxCommandsInFlight: 50,
  });
});

afterAll(async () => {
  server.resume();
  await store.close();
  await server.cleanup();
});

/** The error code of a call and how long it took to settle. */
async function timed(call: Promise<unknown>): Promise<{ code: unknown; ms: number }> {
  const started = Date.now();
  try {
    await call;
    return { code: 'resolved', ms: Date.now() - started };
  } catch (error) {
    return { code: (error as { code?: unknown }).code, ms: Date.now() - started };
  }
}

describe('commands in flight during a redis stall (review 12 F3)', () => {
  it('past maxCommandsInFlight a call is refused at once, and no timed-out consume runs late', async () => {
    await store.putToken({ hash: TOKEN, expiresAt: Date.now() + 600_000, data: {} });
    await store.consumeToken('b'.repeat(64), Date.now());
    server.pause();
    try {
      const answers = await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          timed(store.consumeToken(i.toString(16).padStart(64, '0'), Date.now())),
        ),
      );
      expect(new Set(answers.map((a) => a.code))).toEqual(new Set(['ERR_STORE_UNAVAILABLE']));
      // 50 wait for the command timeout; the other 150 are refused without waiting.
      const atOnce = answers.filter((a) => a.ms < COMMAND_TIMEOUT_MS / 2).length;
      expect(atOnce).toBeGreaterThanOrEqual(140);
    } finally {
      await resumeAndDrain(server, store);
    }
    // The agent's real token is still there.
    expect((await store.consumeToken(TOKEN, Date.now()))?.hash).toBe(TOKEN);
  }, 30_000);

  it('a connection silent for two command timeouts is dropped: calls then fail at once, and it recovers', async () => {
    await store.ping();
    server.pause();
    try {
      expect((await timed(store.getRelationship('x.example'))).code).toBe('ERR_STORE_UNAVAILABLE');
      await new Promise((resolve) => setTimeout(resolve, COMMAND_TIMEOUT_MS * 3));
      // Before: each call waited its timeout and stayed queued until the server woke up.
      const later = await Promise.all(
        Array.from({ length: 20 }, () => timed(store.getRelationship('x.example'))),
      );
      expect(new Set(later.map((a) => a.code))).toEqual(new Set(['ERR_STORE_UNAVAILABLE']));
      expect(Math.max(...later.map((a) => a.ms))).toBeLessThan(COMMAND_TIMEOUT_MS / 2);
    } finally {
      await resumeAndDrain(server, store);
    }
    expect(await store.getRelationship('x.example')).toBeUndefined();
  }, 30_000);
});
