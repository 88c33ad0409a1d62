// Framework-free logic of our SPIFFE bundle endpoint (FED-12, FED-13), like go-spiffe's federation.NewHandler.
// The body, ETag and headers are computed once per bundle change; a request only compares and picks.
import { createHash } from 'node:crypto';

/** Cache-Control max-age cap: partners should see a revocation (FED-53) about one refresh interval later. */
export const MAX_CACHE_SECONDS = 60;

/** One published bundle, serialised once. */
export interface ServedBundle {
  readonly body: Buffer;
  /** Strong entity tag, quoted. */
  readonly etag: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly notModifiedHeaders: Readonly<Record<string, string>>;
}

export interface EndpointRequest {
  readonly method: string;
  readonly ifNoneMatch?: string | undefined;
}

export interface EndpointResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: Buffer;
}

/** Prepares bundle bytes (from marshalBundle) for serving: ETag, Content-Type, Cache-Control ≤ hint (FED-12). */
export function serveBundle(
  body: Uint8Array,
  refreshHintSeconds: number | undefined,
): ServedBundle {
  const bytes = Buffer.from(body);
  const etag = `"${createHash('sha256').update(bytes).digest('base64url')}"`;
  const maxAge = Math.max(0, Math.min(MAX_CACHE_SECONDS, refreshHintSeconds ?? MAX_CACHE_SECONDS));
  const common = {
    etag,
    'cache-control': `public, max-age=${maxAge}`,
    'x-content-type-options': 'nosniff',
  };
  return Object.freeze({
    body: bytes,
    etag,
    headers: Object.freeze({
      ...common,
      'content-type': 'application/json',
      'content-length': String(bytes.length),
    }),
    notModifiedHeaders: Object.freeze(common),
  });
}

const METHOD_NOT_ALLOWED: EndpointResponse = Object.freeze({
  status: 405,
  headers: Object.freeze({ allow: 'GET', 'content-length': '0' }),
});
const UNAVAILABLE: EndpointResponse = Object.freeze({
  status: 503,
  headers: Object.freeze({
    'retry-after': '5',
    'cache-control': 'no-store',
    'content-length': '0',
  }),
});

/** RFC 9110 §13.1.2: If-None-Match uses weak comparison; `*` matches any current representation. */
function matchesEtag(ifNoneMatch: string, etag: string): boolean {
  if (ifNoneMatch.trim() === '*') return true;
  for (const candidate of ifNoneMatch.split(',')) {
    const tag = candidate.trim();
    const opaque = tag.startsWith('W/') ? tag.slice(2) : tag;
    if (opaque === etag) return true;
  }
  return false;
}

/**
 * Answers one request: GET → 200 with the bundle (or 304 on a matching If-None-Match); any other
 * method, HEAD included, → 405 (FED-12, as go-spiffe); 503 until a bundle exists. No client
 * authentication of any kind is looked at (FED-13).
 */
export function handleBundleRequest(
  current: ServedBundle | undefined,
  request: EndpointRequest,
): EndpointResponse {
  if (request.method !== 'GET') return METHOD_NOT_ALLOWED;
  if (current === undefined) return UNAVAILABLE;
  if (request.ifNoneMatch !== undefined && matchesEtag(request.ifNoneMatch, current.etag)) {
    return { status: 304, headers: current.notModifiedHeaders };
  }
  return { status: 200, headers: current.headers, body: current.body };
}
