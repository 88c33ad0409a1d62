// Request ids: 72 random bits each in base64url, drawn from the CSPRNG a block at a time; the draw
// boundary must not repeat or shorten an id, and every response carries its id.
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { describe, expect, it } from 'vitest';
import { errorHandler, notFoundHandler, validationError } from '../../src/api/http-errors.js';
import { requestIdMiddleware, requestIdSource } from '../../src/api/request-id.js';

describe('request ids', () => {
  it('are 12 base64url characters and never repeat across several CSPRNG draws', () => {
    const next = requestIdSource();
    const ids = Array.from({ length: 2000 }, next);
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_-]{12}$/);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('differ between two sources (no shared or fixed seed)', () => {
    const a = Array.from({ length: 600 }, requestIdSource());
    const b = new Set(Array.from({ length: 600 }, requestIdSource()));
    expect(a.filter((id) => b.has(id))).toEqual([]);
  });

  it('are set on the context and echoed in X-Request-Id', async () => {
    const app = new Hono();
    app.use('*', requestIdMiddleware());
    app.get('/', (c) => c.text(c.get('requestId' as never) as string));
    const first = await app.request('/');
    const second = await app.request('/');
    const id = first.headers.get('x-request-id');
    expect(id).toMatch(/^[A-Za-z0-9_-]{12}$/);
    expect(await first.text()).toBe(id);
    expect(second.headers.get('x-request-id')).not.toBe(id);
  });

  it('served by node: on answers, errors, not-found and event streams, equal to the error body id', async () => {
    const app = new Hono();
    app.use('*', requestIdMiddleware());
    app.onError(errorHandler({ error: () => undefined }));
    app.notFound(notFoundHandler);
    app.get('/ok', (c) => c.body('{}', 200, { 'content-type': 'application/json' }));
    app.get('/bad', () => {
      throw validationError('nope');
    });
    app.get('/events', (c) =>
      streamSSE(c, async (stream) => {
        await stream.writeSSE({ data: 'one' });
      }),
    );
    const server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 });
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const ids: string[] = [];
      for (const path of ['/ok', '/bad', '/missing', '/events']) {
        const response = await fetch(`${base}${path}`);
        const id = response.headers.get('x-request-id') ?? '';
        expect(id, path).toMatch(/^[A-Za-z0-9_-]{12}$/);
        const text = await response.text();
        if (path === '/bad' || path === '/missing') {
          expect((JSON.parse(text) as { error: { requestId: string } }).error.requestId).toBe(id);
        }
        if (path === '/ok') expect(response.headers.get('content-type')).toBe('application/json');
        if (path === '/events') expect(text).toContain('data: one');
        ids.push(id);
      }
      expect(new Set(ids).size).toBe(4);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
