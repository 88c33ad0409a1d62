// `admin.requested` (as Vault's audit devices log a request before it is processed): every change
// request of the admin API and the console, once authenticated and authorised, is recorded durably
// before its handler runs; one that cannot be recorded is refused (503 ERR_STORE_UNAVAILABLE) and
// changes nothing. The events its handler writes carry its request id (audit/request-scope.ts).
import { createHash } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import { runAsAdminRequest } from '../audit/index.js';
import { readLimitedBody } from './body-limit.js';
import { MAX_JSON_BODY_BYTES } from './validate.js';

/** Methods that change something: the requests recorded. */
const CHANGE_METHODS: ReadonlySet<string> = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export interface RequestAuditOptions {
  /** The audit sink; a rejection (ERR_STORE_UNAVAILABLE) refuses the request. */
  readonly audit: (event: {
    type: 'admin.requested';
    actor: string;
    details: Record<string, unknown>;
  }) => Promise<void>;
  /** The authenticated admin as result events name it (`admin:<name>`, an mTLS admin's name). */
  readonly actorOf: (c: Context) => string;
}

/** The pattern and params of the handler that will answer, or undefined when none will (404). */
function answeringRoute(c: Context): { route: string; params: Record<string, string> } | undefined {
  const routes = matchedRoutes(c);
  const own = c.req.routeIndex;
  for (let index = routes.length - 1; index > own; index--) {
    const candidate = routes[index];
    if (candidate?.method !== c.req.method) continue;
    // Hono keeps each matched route's params by its index: read the handler's, then step back.
    c.req.routeIndex = index;
    try {
      return { route: candidate.path, params: c.req.param() };
    } finally {
      c.req.routeIndex = own;
    }
  }
  return undefined;
}

/**
 * Middleware placed after authentication and every refusal (roles, CSRF, Origin), so a stranger
 * cannot write events: records a change request as `admin.requested` (method, route pattern,
 * params, request id, SHA-256 of the raw body, never the body), then runs the handler as that request.
 */
export function recordAdminRequest(options: RequestAuditOptions): MiddlewareHandler {
  return async (c, next) => {
    if (!CHANGE_METHODS.has(c.req.method)) return next();
    const answering = answeringRoute(c);
    if (answering === undefined) return next();
    const requestId = c.get('requestId' as never) as string | undefined;
    if (requestId === undefined) throw new TypeError('admin.requested needs the request id');
    const body = await readLimitedBody(c, MAX_JSON_BODY_BYTES);
    await options.audit({
      type: 'admin.requested',
      actor: options.actorOf(c),
      details: {
        method: c.req.method,
        route: answering.route,
        params: answering.params,
        requestId,
        bodySha256: createHash('sha256').update(body).digest('hex'),
      },
    });
    await runAsAdminRequest(requestId, next);
  };
}
