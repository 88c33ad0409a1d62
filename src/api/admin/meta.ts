// Meta resource of the admin API: GET /v1/admin/openapi.json, the OpenAPI document of every route
// the route table holds (built once, on first use, when every resource is mounted).
import type { Hono } from 'hono';
import { buildOpenApiDocument } from '../openapi.js';
import { createResourceApp, defineRoute, type AdminEnv, type RouteTable } from '../routes.js';

export function createMetaApp(table: RouteTable): Hono<AdminEnv> {
  let document: Record<string, unknown> | undefined;
  return createResourceApp(table, [
    defineRoute({
      method: 'get',
      path: '/openapi.json',
      summary: 'This document (OpenAPI 3.1)',
      tags: ['meta'],
      responses: { 200: { description: 'the OpenAPI document', contentType: 'application/json' } },
      handler: (c) => {
        // Built on first use: every route is mounted by then.
        document ??= buildOpenApiDocument(table.routes(), {
          title: 'spiffe-federation-broker admin API',
          version: 'v1',
          description:
            'Admin listener of the federation broker. Errors are `{ "error": { "code", "message", "requestId" } }`; codes are a stable contract.',
        });
        return c.json(document);
      },
    }),
  ]);
}
