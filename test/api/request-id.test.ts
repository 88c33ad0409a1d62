// Request ids: 72 random bits each in base64url, drawn from the CSPRNG a block at a time; the draw
// boundary must not repeat or shorten an id, and every response carries its id.
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
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
});
