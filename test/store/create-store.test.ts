// createStore: picks the backend from the config, logs which one is in use (never a password),
// and refuses impossible configurations or an unreachable Redis with coded errors.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStore, type StoreLogger } from '../../src/store/index.js';
import { freePort, startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { rejection } from './contract.js';

let root = '';
let server: RedisServer | undefined;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fedbroker-create-'));
  server = await startRedisServer({ extraArgs: ['--requirepass', 'sekret-pw'] });
});
afterAll(async () => {
  await server?.cleanup();
  await rm(root, { recursive: true, force: true });
});

function recorder(): { logger: StoreLogger; lines: string[] } {
  const lines: string[] = [];
  const log = (message: string, fields?: Readonly<Record<string, unknown>>): void => {
    lines.push(`${message} ${JSON.stringify(fields ?? {})}`);
  };
  return { logger: { info: log, warn: log }, lines };
}

describe('createStore', () => {
  it('opens the file store and logs it', async () => {
    const { logger, lines } = recorder();
    const store = await createStore({ kind: 'file', dir: join(root, 'data') }, { logger });
    expect(store.kind).toBe('file');
    await store.close();
    expect(lines.some((l) => l.startsWith('store: file') && l.includes(join(root, 'data')))).toBe(
      true,
    );
  });

  it('opens the Redis store and logs the target without the password', async () => {
    const { logger, lines } = recorder();
    const store = await createStore(
      { kind: 'redis', url: `redis://:sekret-pw@127.0.0.1:${server?.port}/0`, keyPrefix: 'cs:' },
      { logger },
    );
    expect(store.kind).toBe('redis');
    await store.putToken({ hash: 'h', expiresAt: 10, data: {} });
    await store.close();
    expect(
      lines.some((l) => l.startsWith('store: redis ') && l.includes('"keyPrefix":"cs:"')),
    ).toBe(true);
    expect(lines.join('\n')).not.toContain('sekret-pw');
  });

  it.each([
    ['no target', { kind: 'redis' as const }],
    [
      'two targets',
      { kind: 'redis' as const, url: 'redis://127.0.0.1', cluster: { nodes: ['127.0.0.1:1'] } },
    ],
    ['a bad node address', { kind: 'redis' as const, cluster: { nodes: ['[::1'] } }],
    ['a bad prefix', { kind: 'redis' as const, url: 'redis://127.0.0.1', keyPrefix: 'a*' }],
    ['a zero timeout', { kind: 'redis' as const, url: 'redis://127.0.0.1', commandTimeoutMs: 0 }],
  ])('refuses %s with ERR_STORE_CONFIG', async (_name, options) => {
    const { logger } = recorder();
    expect((await rejection(createStore(options, { logger }))).code).toBe('ERR_STORE_CONFIG');
  });

  it('refuses an unreachable Redis with ERR_STORE_UNAVAILABLE after the connect timeout', async () => {
    const { logger } = recorder();
    const port = await freePort();
    const error = await rejection(
      createStore(
        { kind: 'redis', url: `redis://127.0.0.1:${port}`, connectTimeoutMs: 300 },
        { logger },
      ),
    );
    expect(error.code).toBe('ERR_STORE_UNAVAILABLE');
  });

  it('refuses a wrong password with ERR_STORE_UNAVAILABLE, keeping the reason as the cause', async () => {
    const { logger } = recorder();
    const error = await rejection(
      createStore(
        { kind: 'redis', url: `redis://:wrong@127.0.0.1:${server?.port}`, connectTimeoutMs: 500 },
        { logger },
      ),
    );
    expect(error.code).toBe('ERR_STORE_UNAVAILABLE');
    expect(String((error as { cause?: unknown }).cause)).toMatch(/WRONGPASS|invalid/i);
  });
});
