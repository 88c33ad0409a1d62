// The route table with resources as Hono sub-apps (src/api/admin/*.ts): the parent's authentication
// runs before a resource route parses anything, the document sees every resource's routes under its
// prefix, and a resource cannot declare an open route where every path needs the token.
import { Hono, type MiddlewareHandler } from 'hono';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ApiError } from '../errors.js';
import { silentLogger } from '../log.js';
import { errorHandler } from './http-errors.js';
import {
  ADMIN_PREFIX,
  createResourceApp,
  createRouteTable,
  defineRoute,
  type AdminEnv,
} from './routes.js';

const requireToken: MiddlewareHandler<AdminEnv> = async (c, next) => {
  if (c.req.header('authorization') !== 'Bearer t') {
    throw new ApiError('ERR_API_UNAUTHENTICATED', 'admin token missing or wrong');
  }
  c.set('actor', 'admin:test');
  await next();
};

const echo = defineRoute({
  method: 'post',
  path: '/things/:id',
  summary: 'echo',
  params: z.object({ id: z.string().max(8) }),
  body: z.object({ n: z.number() }).strict(),
  responses: { 200: { description: 'echo' } },
  handler: (c, { params, body }) => c.json({ id: params.id, n: body.n, actor: c.var.actor }),
});

function adminApp(): { app: Hono<AdminEnv>; paths: () => string[] } {
  const table = createRouteTable();
  const admin = new Hono<AdminEnv>();
  admin.use('*', requireToken);
  admin.route('/', createResourceApp(table, [echo]));
  const app = new Hono<AdminEnv>();
  app.onError(errorHandler(silentLogger));
  app.route(ADMIN_PREFIX, admin);
  return { app, paths: () => table.routes().map((r) => `${r.method} ${r.fullPath}`) };
}

async function call(app: Hono<AdminEnv>, path: string, body: string, token?: string) {
  const response = await app.request(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: token } : {}) },
    body,
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe('resources as sub-apps', () => {
  it.each([
    [
      'no token, bad body: authentication first',
      undefined,
      '{"n":"x"}',
      401,
      'ERR_API_UNAUTHENTICATED',
    ],
    ['token, bad body', 'Bearer t', '{"n":"x"}', 400, 'ERR_API_VALIDATION'],
    ['token, unknown member', 'Bearer t', '{"n":1,"m":2}', 400, 'ERR_API_VALIDATION'],
  ])('%s -> %i %s', async (_name, token, body, status, code) => {
    const { app } = adminApp();
    const answer = await call(app, `${ADMIN_PREFIX}/things/a`, body, token);
    expect(answer.status).toBe(status);
    expect((answer.body['error'] as { code: string }).code).toBe(code);
  });

  it('serves a resource route under the prefix with the parent guard run', async () => {
    const { app, paths } = adminApp();
    const answer = await call(app, `${ADMIN_PREFIX}/things/a`, '{"n":1}', 'Bearer t');
    expect(answer).toEqual({ status: 200, body: { id: 'a', n: 1, actor: 'admin:test' } });
    expect(paths()).toEqual([`post ${ADMIN_PREFIX}/things/:id`]);
  });

  it('refuses an open route in a resource where every path needs the token', () => {
    const open = defineRoute({
      method: 'get',
      path: '/open',
      summary: 'open',
      auth: 'none',
      responses: { 200: { description: 'ok' } },
      handler: (c) => c.json({}),
    });
    expect(() => createResourceApp(createRouteTable(), [open])).toThrow(TypeError);
  });

  it('refuses the same route declared by two resources', () => {
    const table = createRouteTable();
    createResourceApp(table, [echo]);
    expect(() => createResourceApp(table, [echo])).toThrow(/declared twice/);
  });
});
