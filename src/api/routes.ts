// Route table of the admin listener: each route declares its method, path, input schemas, responses
// and handler once; the table mounts it (validating with those zod objects) and openapi.ts documents
// the same ones. Each admin resource is a Hono sub-app of such routes (src/api/admin/).
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { z } from 'zod';
import type { Principal } from '../access/index.js';
import { validationError } from './http-errors.js';
import { parseJsonBody, parseQuery } from './validate.js';

/** Where the admin routes are served; `GET ${ADMIN_PREFIX}/openapi.json` documents them all. */
export const ADMIN_PREFIX = '/v1/admin';

/** Context variables of the admin apps: set by the request-id and admin-auth middleware. */
export type AdminEnv = {
  Variables: { actor: string; requestId: string; principal: Principal };
};

export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

/** `admin`: the admin bearer token is required (documented as the bearer scheme); `none`: open. */
export type RouteAuth = 'admin' | 'none';

type Schema = z.ZodType;
type Input<S> = S extends z.ZodType ? z.output<S> : undefined;

export interface ResponseSpec {
  readonly description: string;
  /** JSON body; `respondJson` makes handlers type-check against it. */
  readonly schema?: z.ZodType;
  /** Media types when not (only) JSON: PEM, Prometheus text; default `application/json` with a schema. */
  readonly contentType?: string | readonly string[];
}

export interface RouteInput<P, Q, B> {
  readonly params: Input<P>;
  readonly query: Input<Q>;
  readonly body: Input<B>;
}

export interface RouteSpec<
  P extends Schema | undefined,
  Q extends Schema | undefined,
  B extends Schema | undefined,
> {
  readonly method: HttpMethod;
  /** Hono pattern relative to where the routes are mounted, e.g. `/relationships/:td`. */
  readonly path: string;
  readonly summary: string;
  readonly description?: string;
  readonly tags?: readonly string[];
  /** Default `admin`. */
  readonly auth?: RouteAuth;
  /** Object schema of the path parameters; its keys must be the `:names` of `path`. */
  readonly params?: P;
  /** Object schema of the query string. */
  readonly query?: Q;
  /** JSON body schema (an empty body reads as `{}`). */
  readonly body?: B;
  /** Success responses; 400/401 and the error default are added by the document. */
  readonly responses: Readonly<Record<number, ResponseSpec>>;
  readonly handler: (
    c: Context<AdminEnv>,
    input: RouteInput<P, Q, B>,
  ) => Response | Promise<Response>;
}

/** A declared route, its input types erased: what route tables hold. */
export interface Route {
  readonly method: HttpMethod;
  readonly path: string;
  readonly summary: string;
  readonly description: string | undefined;
  readonly tags: readonly string[];
  readonly auth: RouteAuth;
  readonly params: Schema | undefined;
  readonly query: Schema | undefined;
  readonly body: Schema | undefined;
  readonly responses: Readonly<Record<number, ResponseSpec>>;
  /** Validates params, query and body (in that order, ERR_API_VALIDATION), then runs the handler. */
  readonly handle: (c: Context<AdminEnv>) => Promise<Response>;
}

/** A route as served: `fullPath` is the Hono pattern on the listener, prefix included. */
export interface MountedRoute extends Route {
  readonly fullPath: string;
}

/** `:name` segments of a Hono pattern (a `{regex}` suffix is not part of the name). */
export function pathParamNames(path: string): string[] {
  return [...path.matchAll(/\/:([A-Za-z0-9_]+)(?:\{[^}]*\})?(\?)?/g)].map((m) => {
    if (m[2] !== undefined)
      throw new TypeError(`optional path parameters are not supported: ${path}`);
    return m[1] ?? '';
  });
}

function objectKeys(schema: Schema, what: string, path: string): string[] {
  const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as {
    type?: unknown;
    properties?: Record<string, unknown>;
  };
  if (json.type !== 'object') throw new TypeError(`${what} of ${path} must be an object schema`);
  return Object.keys(json.properties ?? {});
}

function parseParams(c: Context, schema: Schema): unknown {
  const result = schema.safeParse(c.req.param());
  if (!result.success) {
    throw validationError(
      result.error.issues
        .slice(0, 5)
        .map((issue) => `path parameter ${issue.path.map(String).join('.')}: ${issue.message}`)
        .join('; '),
    );
  }
  return result.data;
}

/** Declares one route; checks at startup that path parameters and the params schema agree. */
export function defineRoute<
  P extends Schema | undefined = undefined,
  Q extends Schema | undefined = undefined,
  B extends Schema | undefined = undefined,
>(spec: RouteSpec<P, Q, B>): Route {
  const names = pathParamNames(spec.path);
  const declared = spec.params === undefined ? [] : objectKeys(spec.params, 'params', spec.path);
  if (names.length !== declared.length || names.some((n) => !declared.includes(n))) {
    throw new TypeError(
      `${spec.method.toUpperCase()} ${spec.path}: params schema keys [${declared.join(', ')}] must be the path parameters [${names.join(', ')}]`,
    );
  }
  if (spec.query !== undefined) objectKeys(spec.query, 'query', spec.path);
  return {
    method: spec.method,
    path: spec.path,
    summary: spec.summary,
    description: spec.description,
    tags: spec.tags ?? [],
    auth: spec.auth ?? 'admin',
    params: spec.params,
    query: spec.query,
    body: spec.body,
    responses: spec.responses,
    handle: async (c) => {
      const params = spec.params === undefined ? undefined : parseParams(c, spec.params);
      const query = spec.query === undefined ? undefined : parseQuery(c, spec.query);
      const body = spec.body === undefined ? undefined : await parseJsonBody(c, spec.body);
      return spec.handler(c, { params, query, body } as RouteInput<P, Q, B>);
    },
  };
}

/** A JSON response whose value type-checks against the documented schema. */
export function respondJson<S extends z.ZodType>(
  c: Context,
  _schema: S,
  value: z.output<S>,
  status: ContentfulStatusCode = 200,
): Response {
  return c.json(value as Record<string, unknown>, status);
}

export interface MountOptions {
  /** Where `app` is served on the listener (`/v1/admin`, or `` for the root app). */
  readonly prefix: string;
  /**
   * `app-wide`: `app` already runs the admin authentication on every path (routes must be `admin`).
   * A middleware: run before each `admin` route; `none` routes are mounted without it.
   */
  readonly guard: 'app-wide' | MiddlewareHandler;
}

export interface RouteTable {
  /** Registers `routes` on `app` and records them for the OpenAPI document. */
  mount(app: Hono<AdminEnv>, routes: readonly Route[], options: MountOptions): void;
  /** Every mounted route, in mount order. */
  routes(): readonly MountedRoute[];
}

export function createRouteTable(): RouteTable {
  const mounted: MountedRoute[] = [];
  return {
    mount(app, routes, options) {
      for (const route of routes) {
        const fullPath = `${options.prefix}${route.path}`;
        if (mounted.some((m) => m.method === route.method && m.fullPath === fullPath)) {
          throw new TypeError(`${route.method.toUpperCase()} ${fullPath} is declared twice`);
        }
        if (options.guard === 'app-wide') {
          if (route.auth !== 'admin') {
            throw new TypeError(`${fullPath} is open but mounted where every path needs the token`);
          }
          app.on(route.method.toUpperCase(), route.path, route.handle);
        } else if (route.auth === 'admin') {
          app.on(route.method.toUpperCase(), route.path, options.guard, route.handle);
        } else {
          app.on(route.method.toUpperCase(), route.path, route.handle);
        }
        mounted.push({ ...route, fullPath });
      }
    },
    routes: () => mounted,
  };
}

/** Resources under ADMIN_PREFIX: the app they are mounted on authenticates every path. */
export const UNDER_ADMIN_PREFIX: MountOptions = { prefix: ADMIN_PREFIX, guard: 'app-wide' };

/**
 * One resource of the admin API as a Hono sub-app holding `routes` (recorded in `table` for the
 * OpenAPI document), for the caller to mount with `app.route('/', …)` where `options` says.
 */
export function createResourceApp(
  table: RouteTable,
  routes: readonly Route[],
  options: MountOptions = UNDER_ADMIN_PREFIX,
): Hono<AdminEnv> {
  const app = new Hono<AdminEnv>();
  table.mount(app, routes, options);
  return app;
}
