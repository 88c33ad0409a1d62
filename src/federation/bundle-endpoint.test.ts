// Bundle endpoint handler tests (FED-12, FED-13): status codes, ETag / If-None-Match, cache headers.
import { describe, expect, it } from 'vitest';
import { handleBundleRequest, serveBundle } from './bundle-endpoint.js';

const body = Buffer.from('{"keys":[],"spiffe_sequence":3,"spiffe_refresh_hint":300}');

describe('handleBundleRequest', () => {
  const served = serveBundle(body, 300);

  it('FED-12 GET returns the bundle bytes as application/json with a strong ETag', () => {
    const response = handleBundleRequest(served, { method: 'GET' });
    expect(response.status).toBe(200);
    expect(response.body?.equals(body)).toBe(true);
    expect(response.headers['content-type']).toBe('application/json');
    expect(response.headers['etag']).toMatch(/^"[A-Za-z0-9_-]{43}"$/);
    expect(response.headers['content-length']).toBe(String(body.length));
  });

  it('FED-12 Cache-Control max-age never exceeds the refresh hint', () => {
    expect(serveBundle(body, 30).headers['cache-control']).toBe('public, max-age=30');
    expect(serveBundle(body, 300).headers['cache-control']).toBe('public, max-age=60');
  });

  it.each([
    ['the same ETag', (etag: string) => etag],
    ['a weak form of it', (etag: string) => `W/${etag}`],
    ['a list containing it', (etag: string) => `"other", ${etag}`],
    ['*', () => '*'],
  ])('FED-12 If-None-Match with %s gives 304 without a body', (_name, header) => {
    const response = handleBundleRequest(served, {
      method: 'GET',
      ifNoneMatch: header(served.etag),
    });
    expect(response.status).toBe(304);
    expect(response.body).toBeUndefined();
    expect(response.headers['etag']).toBe(served.etag);
  });

  it('FED-12 a stale ETag gets the full bundle', () => {
    const old = serveBundle(Buffer.from('{"keys":[]}'), 300);
    expect(handleBundleRequest(served, { method: 'GET', ifNoneMatch: old.etag }).status).toBe(200);
  });

  it.each(['POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH'])(
    'FED-12 %s is refused with 405',
    (method) => {
      const response = handleBundleRequest(served, { method });
      expect(response.status).toBe(405);
      expect(response.headers['allow']).toBe('GET');
    },
  );

  it('FED-12 503 before any bundle exists', () => {
    expect(handleBundleRequest(undefined, { method: 'GET' }).status).toBe(503);
  });

  it('equal bytes give equal ETags; different bytes different ones', () => {
    expect(serveBundle(Buffer.from(body), 300).etag).toBe(served.etag);
    expect(serveBundle(Buffer.from('{"keys":[]}'), 300).etag).not.toBe(served.etag);
  });
});
