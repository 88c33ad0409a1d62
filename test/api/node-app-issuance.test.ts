// The node agent's entry and issuance routes on a real broker over real mTLS on 127.0.0.1 (issue 17,
// contract17): a node SVID gets only its children; other callers are refused with codes; template
// entries are filled with the node-sent instance; issued SVIDs verify with openssl; every issuance is
// audited; a workload SVID is no agent credential.
import { describe, expect, it } from 'vitest';
import { opensslVerify } from '../ca/support.js';
import { agentApi, errorCode, type IssuedSvid } from '../helpers/agent-api.js';
import { admin } from '../helpers/broker.js';
import { hasOpenssl } from '../helpers/openssl.js';
import {
  INSTANCE_A,
  INSTANCE_B,
  SHA,
  TD,
  WORKLOAD,
  as,
  broker,
  csrBase64,
  dbEntryId,
  host,
  nodeA,
  nodeB,
  nodeCall,
  plainAgent,
  useNodeAppWorld,
  webEntryId,
} from './node-app-fixture.js';

useNodeAppWorld();

describe('GET /v1/agent/node/entries', () => {
  it('a node gets only the entries parented to it; template parents match every node of the template', async () => {
    for (const node of [nodeA, nodeB]) {
      const response = await nodeCall(node, 'GET', '/entries');
      expect(response.status).toBe(200);
      const body = response.json as { revision: string; entries: unknown[] };
      expect(body.revision).toMatch(/^[A-Za-z0-9_-]{22}$/);
      expect(body.entries).toEqual([
        {
          id: webEntryId,
          spiffeId: `spiffe://${TD}/web/{instance}`,
          parentId: `spiffe://${TD}/nodes/{instance}`,
          selectors: ['unix:uid:1000'],
          federatesWith: [],
          ttlSeconds: null,
          dnsNames: [],
        },
      ]);
    }
    const hosts = await nodeCall(host, 'GET', '/entries');
    expect((hosts.json as { entries: { id: string }[] }).entries.map((e) => e.id)).toEqual([
      dbEntryId,
    ]);
  });

  it('a non-node SVID gets 403 ERR_API_NOT_NODE; no client certificate gets 401', async () => {
    const agent = await nodeCall(plainAgent, 'GET', '/entries');
    expect([agent.status, errorCode(agent)]).toEqual([403, 'ERR_API_NOT_NODE']);
    const anonymous = await nodeCall(undefined, 'GET', '/entries');
    expect([anonymous.status, errorCode(anonymous)]).toEqual([401, 'ERR_API_UNAUTHENTICATED']);
  });
});

describe('POST /v1/agent/node/x509svid and /jwtsvid', () => {
  it('fills a template with the instance: one ID per instance, and the chain verifies (openssl)', async () => {
    const ids: string[] = [];
    for (const instance of [INSTANCE_A, INSTANCE_A, INSTANCE_B]) {
      const response = await nodeCall(nodeA, 'POST', '/x509svid', {
        entryId: webEntryId,
        instance,
        csr: csrBase64().csr,
        workload: WORKLOAD,
      });
      expect(response.status).toBe(200);
      const body = response.json as { spiffeId: string; x509Svid: { chain: string[] } };
      ids.push(body.spiffeId);
      const chain = body.x509Svid.chain.map((c) => Buffer.from(c, 'base64'));
      if (hasOpenssl) {
        const verified = opensslVerify(broker.ca.localBundle(), chain);
        expect(verified.output).toContain('OK');
        expect(verified.ok).toBe(true);
      }
    }
    expect(ids).toEqual([
      `spiffe://${TD}/web/${INSTANCE_A}`,
      `spiffe://${TD}/web/${INSTANCE_A}`,
      `spiffe://${TD}/web/${INSTANCE_B}`,
    ]);
  });

  it.each<[string, () => IssuedSvid | undefined, () => Record<string, unknown>, number, string]>([
    [
      'a plain agent',
      () => plainAgent,
      () => ({ entryId: webEntryId, instance: INSTANCE_A }),
      403,
      'ERR_API_NOT_NODE',
    ],
    [
      "another node's entry",
      () => nodeA,
      () => ({ entryId: dbEntryId }),
      403,
      'ERR_API_NOT_CHILD_ENTRY',
    ],
    [
      'an unknown entry',
      () => host,
      () => ({ entryId: `e_${'x'.repeat(22)}` }),
      403,
      'ERR_API_NOT_CHILD_ENTRY',
    ],
    [
      'a template without instance',
      () => nodeA,
      () => ({ entryId: webEntryId }),
      400,
      'ERR_API_INSTANCE_INVALID',
    ],
    [
      'a malformed instance',
      () => nodeA,
      () => ({ entryId: webEntryId, instance: 'a/b' }),
      400,
      'ERR_API_INSTANCE_INVALID',
    ],
    [
      'an instance on a fixed entry',
      () => host,
      () => ({
        entryId: dbEntryId,
        instance: INSTANCE_A,
        workload: { ...WORKLOAD, uid: 999, sha256: SHA },
      }),
      400,
      'ERR_API_INSTANCE_INVALID',
    ],
    [
      'a uid the selector refuses',
      () => nodeA,
      () => ({ entryId: webEntryId, instance: INSTANCE_A, workload: { ...WORKLOAD, uid: 0 } }),
      403,
      'ERR_API_WORKLOAD_MISMATCH',
    ],
    [
      'no sha256 for a sha256 selector',
      () => host,
      () => ({ entryId: dbEntryId, workload: { ...WORKLOAD, uid: 999 } }),
      403,
      'ERR_API_WORKLOAD_MISMATCH',
    ],
    [
      'another binary',
      () => host,
      () => ({ entryId: dbEntryId, workload: { ...WORKLOAD, uid: 999, sha256: 'f'.repeat(64) } }),
      403,
      'ERR_API_WORKLOAD_MISMATCH',
    ],
    [
      'an unknown field',
      () => nodeA,
      () => ({ entryId: webEntryId, instance: INSTANCE_A, spiffeId: 'spiffe://node.test/admin' }),
      400,
      'ERR_API_VALIDATION',
    ],
    [
      'no workload',
      () => nodeA,
      () => ({ entryId: webEntryId, instance: INSTANCE_A, workload: undefined }),
      400,
      'ERR_API_VALIDATION',
    ],
  ])('x509svid refuses %s', async (_name, caller, body, status, code) => {
    const response = await nodeCall(caller(), 'POST', '/x509svid', {
      csr: csrBase64().csr,
      workload: WORKLOAD,
      ...body(),
    });
    expect([response.status, errorCode(response)]).toEqual([status, code]);
  });

  it('a fixed entry with all broker-checkable selectors matched; the issuance is audited', async () => {
    const response = await nodeCall(host, 'POST', '/x509svid', {
      entryId: dbEntryId,
      csr: csrBase64().csr,
      workload: { ...WORKLOAD, pid: 777, uid: 999, path: '/usr/bin/postgres', sha256: SHA },
    });
    expect(response.status).toBe(200);
    expect(response.json?.['spiffeId']).toBe(`spiffe://${TD}/db`);
    const audit = await admin<{ events: { actor: string; data: Record<string, unknown> }[] }>(
      broker,
      'GET',
      '/v1/admin/audit?type=svid.issued&limit=1000',
    );
    const event = audit.body.events.find((e) => e.data['pid'] === 777);
    expect(event?.actor).toBe(`spiffe://${TD}/hosts/h1`);
    expect(event?.data).toMatchObject({
      kind: 'x509',
      via: 'node',
      node: `spiffe://${TD}/hosts/h1`,
      entryId: dbEntryId,
      spiffeId: `spiffe://${TD}/db`,
      pid: 777,
      uid: 999,
      sha256: SHA,
      path: '/usr/bin/postgres',
    });
  });

  it('a workload SVID is no agent credential: it can neither renew itself nor act as a node', async () => {
    const { csr, keyPem } = csrBase64();
    const response = await nodeCall(nodeA, 'POST', '/x509svid', {
      entryId: webEntryId,
      instance: INSTANCE_A,
      csr,
      workload: WORKLOAD,
    });
    const chain = (response.json as { x509Svid: { chain: string[] } }).x509Svid.chain;
    const workload = {
      spiffeId: String(response.json?.['spiffeId']),
      chainDer: chain.map((c) => Buffer.from(c, 'base64')),
      certPem: chain
        .map(
          (c) =>
            `-----BEGIN CERTIFICATE-----\n${c.match(/.{1,64}/g)?.join('\n')}\n-----END CERTIFICATE-----\n`,
        )
        .join(''),
      keyPem,
      body: {},
    };
    const renew = await agentApi(broker.agentApiUrl, 'POST', '/v1/agent/x509svid', as(workload), {
      csr: csrBase64().csr,
    });
    expect([renew.status, errorCode(renew)]).toEqual([403, 'ERR_API_FORBIDDEN']);
    const entries = await nodeCall(workload, 'GET', '/entries');
    expect([entries.status, errorCode(entries)]).toEqual([403, 'ERR_API_NOT_NODE']);
  });

  it('jwtsvid: a token for the filled template ID; same refusals; audience bounded', async () => {
    const response = await nodeCall(nodeB, 'POST', '/jwtsvid', {
      entryId: webEntryId,
      instance: INSTANCE_B,
      audience: ['https://api.example'],
      workload: WORKLOAD,
    });
    expect(response.status).toBe(200);
    const { token, spiffeId } = response.json as { token: string; spiffeId: string };
    expect(spiffeId).toBe(`spiffe://${TD}/web/${INSTANCE_B}`);
    const payload = JSON.parse(
      Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8'),
    ) as { sub: string; aud: unknown };
    expect(payload.sub).toBe(spiffeId);
    expect(payload.aud).toBe('https://api.example');

    const other = await nodeCall(nodeB, 'POST', '/jwtsvid', {
      entryId: dbEntryId,
      audience: ['a'],
      workload: WORKLOAD,
    });
    expect([other.status, errorCode(other)]).toEqual([403, 'ERR_API_NOT_CHILD_ENTRY']);
    const huge = await nodeCall(nodeB, 'POST', '/jwtsvid', {
      entryId: webEntryId,
      instance: INSTANCE_B,
      audience: Array.from({ length: 10_000 }, (_, i) => `aud-${i}`),
      workload: WORKLOAD,
    });
    // Issue 15: a body over the route's 32 KiB limit is refused while it streams in, unparsed.
    expect([huge.status, errorCode(huge)]).toEqual([413, 'ERR_API_BODY_TOO_LARGE']);
    const tooMany = await nodeCall(nodeB, 'POST', '/jwtsvid', {
      entryId: webEntryId,
      instance: INSTANCE_B,
      audience: Array.from({ length: 33 }, (_, i) => `aud-${i}`),
      workload: WORKLOAD,
    });
    expect([tooMany.status, errorCode(tooMany)]).toEqual([400, 'ERR_API_VALIDATION']);
    const none = await nodeCall(nodeB, 'POST', '/jwtsvid', {
      entryId: webEntryId,
      instance: INSTANCE_B,
      audience: [],
      workload: WORKLOAD,
    });
    expect([none.status, errorCode(none)]).toEqual([400, 'ERR_API_VALIDATION']);
  });
});
