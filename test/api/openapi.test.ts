// The admin OpenAPI document through app.request(): 3.1, one operation per served route (a route
// without a document entry fails), security and request schemas that match what the routes enforce.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorBodySchema } from '../../src/api/openapi.js';
import { createTestAdminApp, type TestAdminApp } from '../helpers/admin-app.js';
import { schemaErrors } from '../helpers/json-schema.js';

type JsonSchema = Record<string, unknown> & {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: unknown;
  enum?: unknown[];
  maximum?: number;
};
interface Parameter {
  name: string;
  in: 'path' | 'query';
  required: boolean;
  schema: JsonSchema;
}
interface Operation {
  operationId: string;
  security: Record<string, string[]>[];
  parameters?: Parameter[];
  requestBody?: { required: boolean; content: { 'application/json': { schema: JsonSchema } } };
  responses: Record<
    string,
    { $ref?: string; content?: Record<string, { schema: JsonSchema }>; description?: string }
  >;
}
interface Document {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: {
    securitySchemes: Record<string, Record<string, string>>;
    schemas: Record<string, JsonSchema>;
    responses: Record<string, unknown>;
  };
}

let t: TestAdminApp;
let doc: Document;

function operations(): { method: string; path: string; op: Operation }[] {
  return Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => ({ method, path, op })),
  );
}

/** A concrete URL for a documented path: enum parameters take their first value. */
function concrete(path: string, op: Operation, override: Record<string, string> = {}): string {
  return path.replace(/\{([^}]+)\}/g, (_, name: string) => {
    if (override[name] !== undefined) return override[name];
    const parameter = op.parameters?.find((p) => p.in === 'path' && p.name === name);
    const first = parameter?.schema.enum?.[0];
    return typeof first === 'string' ? first : 'partner.test';
  });
}

function expectMatches(schema: unknown, value: unknown, what: string): void {
  expect(
    schemaErrors(schema, value, doc),
    `${what}: ${JSON.stringify(value).slice(0, 400)}`,
  ).toEqual([]);
}

function responseSchema(path: string, method: string, status: number): JsonSchema {
  const response = doc.paths[path]?.[method]?.responses[String(status)];
  const schema = response?.content?.['application/json']?.schema;
  if (schema === undefined) throw new Error(`no JSON schema for ${method} ${path} ${status}`);
  return schema;
}

beforeAll(async () => {
  t = await createTestAdminApp({ trustDomain: 'doc.test' });
  const response = await t.call<Document>('GET', '/v1/admin/openapi.json');
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  doc = response.body;
});
afterAll(async () => {
  await t?.close();
});

describe('GET /v1/admin/openapi.json', () => {
  it('needs the admin token like every /v1/admin route (ERR_API_UNAUTHENTICATED)', async () => {
    const response = await t.call('GET', '/v1/admin/openapi.json', undefined, null);
    expect(response.status).toBe(401);
    expect(response.body).toMatchObject({ error: { code: 'ERR_API_UNAUTHENTICATED' } });
  });

  it('is an OpenAPI 3.1.0 document with the bearer scheme and the error body shape', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.components.securitySchemes['adminToken']).toMatchObject({
      type: 'http',
      scheme: 'bearer',
    });
    const error = doc.components.schemas['Error'];
    expect(error?.required).toEqual(['error']);
    expect(error?.properties?.['error']?.required).toEqual(['code', 'message', 'requestId']);
    expect(error?.properties?.['error']?.properties?.['code']?.enum).toContain(
      'ERR_API_VALIDATION',
    );
    const ids = operations().map(({ op }) => op.operationId);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('documents every route the app serves, and nothing else', () => {
    const served = new Set(
      t.app.routes
        .filter((r) => r.method !== 'ALL')
        // The console's HTML pages (issue 19) are not API operations; the README documents them.
        .filter((r) => r.path !== '/console' && !r.path.startsWith('/console/'))
        .map((r) => `${r.method} ${r.path.replace(/\/:([A-Za-z0-9_]+)/g, '/{$1}')}`),
    );
    const documented = new Set(
      operations().map(({ method, path }) => `${method.toUpperCase()} ${path}`),
    );
    expect([...documented].sort()).toEqual([...served].sort());
    // The refactor kept every route the admin API had.
    for (const expected of [
      'GET /healthz',
      'GET /readyz',
      'GET /metrics',
      'GET /v1/admin/bundle',
      'POST /v1/admin/authorities/{kind}/{id}/activate',
      'POST /v1/admin/relationships/{td}/approve',
      'PUT /v1/admin/relationships/{td}/bundle',
      'DELETE /v1/admin/relationships/{td}',
      'POST /v1/admin/invites/accept',
      'GET /v1/admin/audit/verify',
    ]) {
      expect(documented).toContain(expected);
    }
  });

  it('declares the path parameters each path names', () => {
    for (const { path, op } of operations()) {
      const named = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]).sort();
      const declared = (op.parameters ?? [])
        .filter((p) => p.in === 'path')
        .map((p) => p.name)
        .sort();
      expect(declared, path).toEqual(named);
    }
  });

  it('security is what the routes enforce: secured operations refuse a call without the token', async () => {
    for (const { method, path, op } of operations()) {
      const response = await t.call(method.toUpperCase(), concrete(path, op), undefined, null);
      if (op.security.length > 0) {
        expect(op.security, path).toEqual([{ adminToken: [] }]);
        expect(response.status, `${method} ${path}`).toBe(401);
        expect(op.responses['401'], path).toBeDefined();
      } else {
        expect(response.status, `${method} ${path}`).not.toBe(401);
      }
    }
  });

  it('request bodies: an unknown property, a wrong type or {} when required is refused with 400', async () => {
    const withBody = operations().filter(({ op }) => op.requestBody !== undefined);
    expect(withBody.length).toBeGreaterThanOrEqual(10);
    for (const { method, path, op } of withBody) {
      const schema = op.requestBody?.content['application/json'].schema ?? {};
      const url = concrete(path, op);
      expect(schema.additionalProperties, path).toBe(false);
      const unknown = await t.call(method.toUpperCase(), url, { surelyNotAField: 1 });
      expect(unknown.status, `${method} ${path} unknown property`).toBe(400);
      expect(unknown.body).toMatchObject({ error: { code: 'ERR_API_VALIDATION' } });
      expect(op.responses['400'], path).toBeDefined();
      if (op.requestBody?.required === true) {
        expect(schema.required?.length, path).toBeGreaterThan(0);
        const empty = await t.call(method.toUpperCase(), url, {});
        expect(empty.status, `${method} ${path} empty body`).toBe(400);
      } else {
        expect(schema.required ?? [], path).toEqual([]);
      }
      for (const [name, property] of Object.entries(schema.properties ?? {})) {
        const wrong = property.type === 'string' ? 12345 : 'not-the-right-type';
        const response = await t.call(method.toUpperCase(), url, { [name]: wrong });
        expect(response.status, `${method} ${path} ${name}=${String(wrong)}`).toBe(400);
      }
    }
  });

  it('parameters: values outside a documented enum or maximum are refused with 400', async () => {
    let checked = 0;
    for (const { method, path, op } of operations()) {
      for (const parameter of op.parameters ?? []) {
        const bad =
          parameter.schema.enum !== undefined
            ? 'not-a-listed-value'
            : parameter.schema.maximum !== undefined
              ? String(parameter.schema.maximum + 1)
              : undefined;
        if (bad === undefined) continue;
        const url =
          parameter.in === 'path'
            ? concrete(path, op, { [parameter.name]: bad })
            : `${concrete(path, op)}?${parameter.name}=${bad}`;
        const response = await t.call(method.toUpperCase(), url, method === 'get' ? undefined : {});
        expect(response.status, `${method} ${url}`).toBe(400);
        expect(response.body).toMatchObject({ error: { code: 'ERR_API_VALIDATION' } });
        checked += 1;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(8);
  });

  it('real error bodies match the documented Error schema', async () => {
    const bodies = [
      (await t.call('GET', '/v1/admin/authorities', undefined, null)).body,
      (await t.call('GET', '/v1/admin/relationships/missing.test')).body,
      (await t.call('POST', '/v1/admin/svids/jwt', { spiffeId: 1 })).body,
      (await t.call('GET', '/no/such/route')).body,
    ];
    for (const body of bodies) {
      expect(errorBodySchema.safeParse(body).success, JSON.stringify(body)).toBe(true);
      expectMatches(doc.components.schemas['Error'], body, 'error');
    }
  });

  it('real responses match the documented response schemas', async () => {
    const created = await t.call('POST', '/v1/admin/relationships', {
      trustDomain: 'partner.test',
      url: 'https://127.0.0.1:9/bundle',
      profile: 'https_web',
      reason: 'doc test',
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expectMatches(responseSchema('/v1/admin/relationships', 'post', 201), created.body, 'create');
    const approved = await t.call('POST', '/v1/admin/relationships/partner.test/approve', {});
    expect(approved.status).toBe(200);
    expectMatches(
      responseSchema('/v1/admin/relationships/{td}/approve', 'post', 200),
      approved.body,
      'approve',
    );
    const refreshed = await t.call('POST', '/v1/admin/relationships/partner.test/refresh');
    expect(refreshed.status).toBe(200);
    expect(refreshed.body).toMatchObject({ ok: false });
    expectMatches(
      responseSchema('/v1/admin/relationships/{td}/refresh', 'post', 200),
      refreshed.body,
      'refresh',
    );
    const jwt = await t.call('POST', '/v1/admin/svids/jwt', {
      spiffeId: 'spiffe://doc.test/workload',
      audience: ['x'],
    });
    expect(jwt.status).toBe(200);
    expectMatches(responseSchema('/v1/admin/svids/jwt', 'post', 200), jwt.body, 'jwt');
    const invite = await t.call('POST', '/v1/admin/invites', {});
    expect(invite.status).toBe(201);
    expectMatches(responseSchema('/v1/admin/invites', 'post', 201), invite.body, 'invite');
    const prepared = await t.call('POST', '/v1/admin/authorities/jwt/prepare');
    expect(prepared.status).toBe(201);
    expectMatches(
      responseSchema('/v1/admin/authorities/{kind}/prepare', 'post', 201),
      prepared.body,
      'prepare',
    );

    for (const path of [
      '/healthz',
      '/readyz',
      '/v1/admin/authorities',
      '/v1/admin/bundles',
      '/v1/admin/relationships',
      '/v1/admin/relationships/{td}',
      '/v1/admin/audit',
      '/v1/admin/audit/verify',
    ]) {
      const response = await t.call('GET', path.replace('{td}', 'partner.test'));
      expect(response.status, path).toBe(200);
      expectMatches(responseSchema(path, 'get', 200), response.body, path);
    }
  });

  it('a kind that is not x509 or jwt is a 400 (it was a 500 before the route table)', async () => {
    const response = await t.call('POST', '/v1/admin/authorities/rsa/prepare');
    expect(response.status).toBe(400);
    expect(response.body).toMatchObject({ error: { code: 'ERR_API_VALIDATION' } });
  });
});
