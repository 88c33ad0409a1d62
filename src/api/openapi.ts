// OpenAPI 3.1 document of the admin listener, generated from the route table: the zod objects that
// validate requests (through z.toJSONSchema), the bearer scheme and the one error body shape.
import { z } from 'zod';
import { ALL_ERROR_CODES, type ErrorCode } from '../errors.js';
import { pathParamNames, type MountedRoute } from './routes.js';

/** The error body every failure answers with (http-errors.ts). */
export const errorBodySchema = z.object({
  error: z.object({
    code: z
      .enum(ALL_ERROR_CODES as unknown as readonly [ErrorCode, ...ErrorCode[]])
      .describe('stable error code (the public contract)'),
    message: z.string().describe('lowercase, human readable; never a secret'),
    requestId: z.string().describe('also in the X-Request-Id response header'),
  }),
});

export interface OpenApiInfo {
  readonly title: string;
  readonly version: string;
  readonly description?: string;
}

type JsonSchema = Record<string, unknown>;

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, {
    io,
    unrepresentable: 'any',
  }) as JsonSchema;
  return rest;
}

/** `/relationships/:td/approve` → `/relationships/{td}/approve`. */
export function openApiPath(honoPath: string): string {
  return honoPath.replace(/\/:([A-Za-z0-9_]+)(?:\{[^}]*\})?/g, '/{$1}');
}

function operationId(route: MountedRoute): string {
  const words = route.fullPath
    .split(/[^A-Za-z0-9]+/)
    .filter((w) => w !== '')
    .map((w) => w[0]?.toUpperCase() + w.slice(1));
  return `${route.method}${words.join('')}`;
}

function parameters(
  schema: z.ZodType | undefined,
  location: 'path' | 'query',
): Record<string, unknown>[] {
  if (schema === undefined) return [];
  const object = jsonSchema(schema, 'input') as {
    properties?: Record<string, JsonSchema>;
    required?: string[];
  };
  return Object.entries(object.properties ?? {}).map(([name, property]) => {
    const { description, ...propertySchema } = property;
    return {
      name,
      in: location,
      required: location === 'path' || (object.required ?? []).includes(name),
      ...(typeof description === 'string' ? { description } : {}),
      schema: propertySchema,
    };
  });
}

function responses(route: MountedRoute): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [status, spec] of Object.entries(route.responses)) {
    const types =
      spec.contentType === undefined
        ? spec.schema === undefined
          ? []
          : ['application/json']
        : typeof spec.contentType === 'string'
          ? [spec.contentType]
          : spec.contentType;
    const content = Object.fromEntries(
      types.map((type) => [
        type,
        {
          schema:
            spec.schema !== undefined && type === 'application/json'
              ? jsonSchema(spec.schema, 'output')
              : type === 'application/json'
                ? { type: 'object' }
                : { type: 'string' },
        },
      ]),
    );
    out[status] = {
      description: spec.description,
      ...(types.length === 0 ? {} : { content }),
    };
  }
  if (route.params !== undefined || route.query !== undefined || route.body !== undefined) {
    out['400'] ??= { $ref: '#/components/responses/ValidationFailed' };
  }
  if (route.auth === 'admin') out['401'] ??= { $ref: '#/components/responses/Unauthenticated' };
  out['default'] = { $ref: '#/components/responses/Error' };
  return out;
}

/** Builds the document from mounted routes; throws TypeError on a route the document cannot name. */
export function buildOpenApiDocument(
  routes: readonly MountedRoute[],
  info: OpenApiInfo,
): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  const tags = new Set<string>();
  for (const route of routes) {
    const path = openApiPath(route.fullPath);
    pathParamNames(route.fullPath); // rejects patterns OpenAPI cannot express
    for (const tag of route.tags) tags.add(tag);
    const operation: Record<string, unknown> = {
      operationId: operationId(route),
      summary: route.summary,
      ...(route.description === undefined ? {} : { description: route.description }),
      ...(route.tags.length === 0 ? {} : { tags: [...route.tags] }),
      security: route.auth === 'admin' ? [{ adminToken: [] }] : [],
    };
    const params = [...parameters(route.params, 'path'), ...parameters(route.query, 'query')];
    if (params.length > 0) operation['parameters'] = params;
    if (route.body !== undefined) {
      operation['requestBody'] = {
        // An empty body reads as {} (validate.ts): required only when {} does not validate.
        required: !route.body.safeParse({}).success,
        content: { 'application/json': { schema: jsonSchema(route.body, 'input') } },
      };
    }
    operation['responses'] = responses(route);
    paths[path] = { ...paths[path], [route.method]: operation };
  }
  const errorResponse = (description: string): Record<string, unknown> => ({
    description,
    content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
  });
  return {
    openapi: '3.1.0',
    info: {
      title: info.title,
      version: info.version,
      ...(info.description === undefined ? {} : { description: info.description }),
    },
    tags: [...tags].map((name) => ({ name })),
    paths,
    components: {
      securitySchemes: {
        adminToken: {
          type: 'http',
          scheme: 'bearer',
          description: 'The admin token (data directory `admin-token`, or the environment).',
        },
      },
      schemas: { Error: jsonSchema(errorBodySchema, 'output') },
      responses: {
        ValidationFailed: errorResponse('ERR_API_VALIDATION: the parameters or body are invalid'),
        Unauthenticated: errorResponse(
          'ERR_API_UNAUTHENTICATED: admin bearer token missing or wrong',
        ),
        Error: errorResponse('any other failure, by error code'),
      },
    },
  };
}
