// Issue 15, finding 12: bad input is a coded 400 before any handler runs, never a 500: every
// admin route with path parameters (read from the served OpenAPI document) and malformed
// targets on the agent API and bundle endpoint, plus body fields carrying control characters,
// all through a real broker on 127.0.0.1.
import { request } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Broker } from '../../src/main.js';
import { ADMIN_TOKEN, startTestBroker } from '../helpers/broker.js';
import { agentApi, anchorsOf, keyAndCsr, type AgentTls } from '../helpers/agent-api.js';

const TD = 'inputs.test';

interface Answer {
  readonly status: number;
  readonly code: string | undefined;
}

function codeOf(text: string): string | undefined {
  try {
    return (JSON.parse(text) as { error?: { code?: string } }).error?.code;
  } catch {
    return undefined;
  }
}

async function adminCall(
  broker: Broker,
  method: string,
  path: string,
  body?: unknown,
): Promise<Answer> {
  const response = await fetch(`${broker.adminUrl}${path}`, {
    method: method.toUpperCase(),
    headers: {
      authorization: `Bearer ${ADMIN_TOKEN}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, code: codeOf(await response.text()) };
}

/** GET on the bundle endpoint with the raw target (no client authentication, FED-13). */
function bundleEndpointGet(broker: Broker, target: string): Promise<Answer> {
  const url = new URL(broker.bundleEndpointUrl);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: url.hostname, port: url.port, path: target, rejectUnauthorized: false, agent: false },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, code: codeOf(text) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** Path-parameter values that must never reach a handler (finding 12's reproductions and kin). */
const BAD_SEGMENTS: [string, string][] = [
  ['NUL', '%00'],
  ['invalid percent-encoding', '%ff'],
  ['truncated UTF-8', '%e2%82'],
  ['CR LF', '%0d%0a'],
  ['DEL', 'x%7fy'],
  ['a 10,000-character segment', 'a'.repeat(10_000)],
];

describe('bad input is 400 ERR_API_VALIDATION on every listener (issue 15 finding 12)', () => {
  let broker: Broker;
  let routes: { method: string; template: string }[];
  let agentTls: AgentTls;

  beforeAll(async () => {
    broker = await startTestBroker({ trustDomain: TD });
    const document = (await (
      await fetch(`${broker.adminUrl}/v1/admin/openapi.json`, {
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      })
    ).json()) as { paths: Record<string, Record<string, unknown>> };
    routes = Object.entries(document.paths)
      .filter(([template]) => template.includes('{'))
      .flatMap(([template, operations]) =>
        Object.keys(operations)
          .filter((method) => ['get', 'post', 'put', 'patch', 'delete'].includes(method))
          .map((method) => ({ method, template })),
      );
    agentTls = {
      anchorsPem: anchorsOf(broker.ca.localBundle()),
      serverSpiffeId: `spiffe://${TD}/fedbroker/agent-api`,
    };
  });
  afterAll(async () => {
    await broker.stop();
  });

  it('the OpenAPI document lists the routes with path parameters', () => {
    expect(routes.length).toBeGreaterThanOrEqual(10);
  });

  it.each(BAD_SEGMENTS)('admin: every route with path parameters refuses %s', async (_, bad) => {
    const failures: string[] = [];
    for (const { method, template } of routes) {
      // Each parameter in turn takes the bad value; the others take a plausible one.
      const names = [...template.matchAll(/\{([^}]+)\}/g)].map((m) => m[1] ?? '');
      for (const target of names) {
        const path = template.replace(/\{([^}]+)\}/g, (_m, name: string) =>
          name === target ? bad : name === 'kind' ? 'x509' : 'partner.test',
        );
        const answer = await adminCall(broker, method, path, method === 'get' ? undefined : {});
        if (answer.status !== 400 || answer.code !== 'ERR_API_VALIDATION') {
          failures.push(
            `${method.toUpperCase()} ${template} {${target}}: ${answer.status} ${answer.code}`,
          );
        }
      }
    }
    expect(failures).toEqual([]);
  });

  // A long query value is legitimate (below the request-target bound): not in this table.
  it.each(BAD_SEGMENTS.filter(([, bad]) => bad.length < 100))(
    'admin: a query value with %s is refused',
    async (_, bad) => {
      expect(await adminCall(broker, 'get', `/v1/admin/audit?limit=${bad}`)).toEqual({
        status: 400,
        code: 'ERR_API_VALIDATION',
      });
    },
  );

  it.each(BAD_SEGMENTS)('agent API: a target with %s is refused', async (_, bad) => {
    const response = await agentApi(broker.agentApiUrl, 'GET', `/v1/agent/${bad}`, agentTls);
    expect({ status: response.status, code: codeOf(response.text) }).toEqual({
      status: 400,
      code: 'ERR_API_VALIDATION',
    });
  });

  it.each(BAD_SEGMENTS)('bundle endpoint: a target with %s is refused', async (_, bad) => {
    expect(await bundleEndpointGet(broker, `/${bad}`)).toEqual({
      status: 400,
      code: 'ERR_API_VALIDATION',
    });
  });

  it('bundle endpoint: the plain target still serves the bundle', async () => {
    expect((await bundleEndpointGet(broker, '/')).status).toBe(200);
  });

  const csr = keyAndCsr().csr;
  const BODIES: [string, string, Record<string, unknown>, string?][] = [
    [
      'POST /v1/admin/svids/x509 NUL in dnsNames',
      '/v1/admin/svids/x509',
      {
        spiffeId: `spiffe://${TD}/w`,
        csr,
        dnsNames: ['a\u0000b.example'],
      },
    ],
    [
      'POST /v1/admin/svids/x509 a dnsName that is no DNS name',
      '/v1/admin/svids/x509',
      {
        spiffeId: `spiffe://${TD}/w`,
        csr,
        dnsNames: ['not a dns name'],
      },
    ],
    [
      'POST /v1/admin/svids/jwt ESC in audience',
      '/v1/admin/svids/jwt',
      {
        spiffeId: `spiffe://${TD}/w`,
        audience: ['aud\u001b[31m'],
      },
    ],
    [
      'POST /v1/admin/entries NUL in description',
      '/v1/admin/entries',
      {
        spiffeId: `spiffe://${TD}/w`,
        description: 'x\u0000y',
      },
    ],
    [
      'POST /v1/admin/entries NUL in dnsNames',
      '/v1/admin/entries',
      {
        spiffeId: `spiffe://${TD}/w`,
        dnsNames: ['a\u0000b'],
      },
    ],
    [
      'POST /v1/admin/relationships control in trustDomain',
      '/v1/admin/relationships',
      {
        trustDomain: 'p\u0001.test',
        url: 'https://127.0.0.1:1/',
        profile: 'https_web',
      },
    ],
    [
      'PUT /v1/admin/relationships/{td}/bundle NUL in the bundle',
      '/v1/admin/relationships/partner.test/bundle',
      {
        bundle: '{"keys":[]}\u0000',
      },
      'put',
    ],
  ];

  it.each(BODIES)('admin: %s is 400', async (_, path, body, method = 'post') => {
    const answer = await adminCall(broker, method, path, body);
    expect(answer.status).toBe(400);
    expect(answer.code).toMatch(/^ERR_(API_VALIDATION|REGISTRATION_ENTRY_INVALID)$/);
  });

  it('agent API: an attest body nested 5,000 arrays deep is 400 (walked without the call stack), not a 500', async () => {
    const deep = `${'['.repeat(5000)}${']'.repeat(5000)}`;
    const body = Buffer.from(`{"joinToken":"token","csr":${deep}}`);
    const response = await agentApi(broker.agentApiUrl, 'POST', '/v1/agent/attest', agentTls, body);
    expect({ status: response.status, code: codeOf(response.text) }).toEqual({
      status: 400,
      code: 'ERR_API_VALIDATION',
    });
    expect(response.text).toContain('nested deeper than 64 levels');
  });

  it('agent API: NUL in the join token of an attest body is 400', async () => {
    const response = await agentApi(broker.agentApiUrl, 'POST', '/v1/agent/attest', agentTls, {
      joinToken: 'tok\u0000en',
      csr,
    });
    expect({ status: response.status, code: codeOf(response.text) }).toEqual({
      status: 400,
      code: 'ERR_API_VALIDATION',
    });
  });
});
