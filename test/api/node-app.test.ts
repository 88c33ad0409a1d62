// The node agent's routes on a real broker over real mTLS on 127.0.0.1 (issue 17, contract17):
// a node SVID gets only its children; other callers are refused with codes; template entries are
// filled with the node-sent instance; issued SVIDs verify with openssl; every issuance is audited;
// the watch stream sends a new complete state on entry and bundle changes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newKeyAndCsr } from '../../src/agent/csr.js';
import { marshalBundle } from '../../src/bundle/index.js';
import type { Broker } from '../../src/main.js';
import { opensslVerify } from '../ca/support.js';
import {
  agentApi,
  anchorsOf,
  attest,
  bundleFromJson,
  errorCode,
  type AgentTls,
  type IssuedSvid,
} from '../helpers/agent-api.js';
import { admin, startTestBroker } from '../helpers/broker.js';
import { openNodeWatch } from '../helpers/node-watch.js';
import { hasOpenssl } from '../helpers/openssl.js';
import { bundleOf, createCa } from '../helpers/pki.js';

const TD = 'node.test';
const PARTNER = 'partner.test';
const SHA = 'c0ffee'.padEnd(64, '0');
const INSTANCE_A = 'AAAAAAAAAAAAAAAAAAAAAA';
const INSTANCE_B = 'BBBBBBBBBBBBBBBBBBBBBB';
const WORKLOAD = { pid: 4242, uid: 1000, gid: 1000, startTime: '123456' };

let broker: Broker;
let tls: AgentTls;
/** Two nodes enrolled through one node template, one fixed node, one plain agent. */
let nodeA: IssuedSvid;
let nodeB: IssuedSvid;
let host: IssuedSvid;
let plainAgent: IssuedSvid;
let webEntryId: string;
let dbEntryId: string;

interface EntryJson {
  id: string;
  spiffeId: string;
  node: boolean;
  parentId: string | null;
  selectors: string[];
}

async function createEntry(body: Record<string, unknown>): Promise<EntryJson> {
  const response = await admin<{ entry: EntryJson }>(broker, 'POST', '/v1/admin/entries', body);
  if (response.status !== 201) throw new Error(`entry: ${JSON.stringify(response.body)}`);
  return response.body.entry;
}

async function enrol(entryId: string): Promise<IssuedSvid> {
  const token = await admin<{ token: string }>(broker, 'POST', '/v1/admin/tokens', { entryId });
  return attest(broker.agentApiUrl, tls, token.body.token);
}

function as(svid: IssuedSvid | undefined): AgentTls {
  return svid === undefined
    ? tls
    : { ...tls, client: { certPem: svid.certPem, keyPem: svid.keyPem } };
}

function nodeCall(svid: IssuedSvid | undefined, method: string, path: string, body?: unknown) {
  return agentApi(broker.agentApiUrl, method, `/v1/agent/node${path}`, as(svid), body);
}

function csrBase64(): { csr: string; keyPem: string } {
  const { privateKey, csrDer } = newKeyAndCsr();
  return {
    csr: csrDer.toString('base64'),
    keyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
  };
}

beforeAll(async () => {
  broker = await startTestBroker({ trustDomain: TD });
  tls = { anchorsPem: anchorsOf(broker.ca.localBundle()), serverSpiffeId: broker.agentApiSpiffeId };
  const nodes = await createEntry({ spiffeId: `spiffe://${TD}/nodes/{instance}`, node: true });
  const hosts = await createEntry({ spiffeId: `spiffe://${TD}/hosts/h1`, node: true });
  const agents = await createEntry({ spiffeId: `spiffe://${TD}/agents/{instance}` });
  webEntryId = (
    await createEntry({
      spiffeId: `spiffe://${TD}/web/{instance}`,
      parentId: `spiffe://${TD}/nodes/{instance}`,
      selectors: ['unix:uid:1000'],
    })
  ).id;
  dbEntryId = (
    await createEntry({
      spiffeId: `spiffe://${TD}/db`,
      parentId: `spiffe://${TD}/hosts/h1`,
      selectors: ['unix:uid:999', `unix:sha256:${SHA}`, 'unix:user:postgres'],
    })
  ).id;
  nodeA = await enrol(nodes.id);
  nodeB = await enrol(nodes.id);
  host = await enrol(hosts.id);
  plainAgent = await enrol(agents.id);
});

afterAll(async () => {
  await broker?.stop();
});

describe('admin API: node and workload entries', () => {
  it('shows node, parentId and selectors; refuses bad ones with codes; no join token for a workload entry', async () => {
    const shown = await admin<{ entry: EntryJson }>(
      broker,
      'GET',
      `/v1/admin/entries/${dbEntryId}`,
    );
    expect(shown.body.entry).toMatchObject({
      node: false,
      parentId: `spiffe://${TD}/hosts/h1`,
      selectors: [`unix:sha256:${SHA}`, 'unix:uid:999', 'unix:user:postgres'],
    });
    const cases: [Record<string, unknown>, string][] = [
      [
        { spiffeId: `spiffe://${TD}/x1`, parentId: `spiffe://${TD}/hosts/h1` },
        'ERR_REGISTRATION_SELECTOR_INVALID',
      ],
      [
        {
          spiffeId: `spiffe://${TD}/x2`,
          parentId: 'spiffe://elsewhere/n',
          selectors: ['unix:uid:1'],
        },
        'ERR_REGISTRATION_PARENT_INVALID',
      ],
      [
        { spiffeId: `spiffe://${TD}/x3`, parentId: `spiffe://${TD}/h`, selectors: ['k8s:ns:a'] },
        'ERR_REGISTRATION_SELECTOR_INVALID',
      ],
      [
        { spiffeId: `spiffe://${TD}/x4`, node: true, parentId: `spiffe://${TD}/h` },
        'ERR_REGISTRATION_PARENT_INVALID',
      ],
      [{ spiffeId: `spiffe://${TD}/x5`, node: 'yes' }, 'ERR_API_VALIDATION'],
    ];
    for (const [body, code] of cases) {
      const response = await admin<{ error: { code: string } }>(
        broker,
        'POST',
        '/v1/admin/entries',
        body,
      );
      expect([JSON.stringify(body), response.body.error?.code]).toEqual([
        JSON.stringify(body),
        code,
      ]);
    }
    const token = await admin<{ error: { code: string } }>(broker, 'POST', '/v1/admin/tokens', {
      entryId: dbEntryId,
    });
    expect(token.status).toBe(400);
    expect(token.body.error.code).toBe('ERR_REGISTRATION_WORKLOAD_TOKEN');
  });
});

describe('OpenAPI', () => {
  it('documents node, parentId and selectors on entry create and in the entry schema', async () => {
    const doc = await admin<Record<string, unknown>>(broker, 'GET', '/v1/admin/openapi.json');
    expect(doc.status).toBe(200);
    const text = JSON.stringify(doc.body);
    const post = (doc.body as { paths: Record<string, Record<string, unknown>> }).paths[
      '/v1/admin/entries'
    ]?.['post'];
    const body = JSON.stringify(post);
    for (const field of ['"node"', '"parentId"', '"selectors"']) {
      expect(body).toContain(field);
      expect(text).toContain(field);
    }
  });
});

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

interface StateJson {
  revision: string;
  entries: { id: string; spiffeId: string }[];
  bundles: Record<string, unknown>;
  activeX509Authority?: string;
}

describe('GET /v1/agent/node/watch', () => {
  it('sends the complete state on connect, and again on entry added/deleted, partner and own bundle change', async () => {
    const watch = await openNodeWatch(broker.agentApiUrl, tls, host);
    try {
      expect(watch.status).toBe(200);
      const first = await watch.next();
      expect(first.event).toBe('state');
      const initial = JSON.parse(first.data) as StateJson;
      expect(initial.entries.map((e) => e.id)).toEqual([dbEntryId]);
      expect(Object.keys(initial.bundles)).toEqual([TD]);
      const ownAtStart = bundleFromJson(JSON.stringify(initial.bundles[TD]), TD);

      // A partner the new entry federates with: its bundle joins the state with the entry.
      const partnerCa = await createCa({ trustDomain: PARTNER });
      await broker.federation.create(
        { trustDomain: PARTNER, url: 'https://127.0.0.1:9/bundle', profile: 'https_web' },
        { actor: 'test' },
      );
      await broker.federation.transition(PARTNER, 'approve', { actor: 'test' });
      await broker.federation.forceBundle(
        PARTNER,
        marshalBundle(bundleOf(PARTNER, [partnerCa])).toString('utf8'),
        { actor: 'test' },
      );
      const added = await createEntry({
        spiffeId: `spiffe://${TD}/cache`,
        parentId: `spiffe://${TD}/hosts/h1`,
        selectors: ['unix:uid:70'],
        federatesWith: [PARTNER],
      });
      let state = JSON.parse((await watch.next()).data) as StateJson;
      while (!state.entries.some((e) => e.id === added.id)) {
        state = JSON.parse((await watch.next()).data) as StateJson;
      }
      expect(state.entries.map((e) => e.id).sort()).toEqual([dbEntryId, added.id].sort());
      expect(Object.keys(state.bundles).sort()).toEqual([PARTNER, TD].sort());
      expect(state.revision).not.toBe(initial.revision);

      const deleted = await admin(broker, 'DELETE', `/v1/admin/entries/${added.id}`);
      expect(deleted.status).toBe(200);
      state = JSON.parse((await watch.next()).data) as StateJson;
      expect(state.entries.map((e) => e.id)).toEqual([dbEntryId]);
      expect(Object.keys(state.bundles)).toEqual([TD]);
      expect(state.revision).toBe(initial.revision);

      // Our own bundle changes (a new authority prepared): a new state carries it.
      await broker.ca.prepare('x509');
      state = JSON.parse((await watch.next()).data) as StateJson;
      const own = bundleFromJson(JSON.stringify(state.bundles[TD]), TD);
      expect(own.x509Authorities.length).toBe(ownAtStart.x509Authorities.length + 1);

      // Issue 17 activation gap: the state names the active X.509 authority; an activation (no
      // bundle change) sends a new state naming the new one.
      const activeId = (): string | undefined =>
        broker.ca.authorities('x509').find((a) => a.state === 'active')?.id;
      expect(initial.activeX509Authority).toBe(activeId());
      expect(state.activeX509Authority).toBe(initial.activeX509Authority);
      const prepared = broker.ca.authorities('x509').find((a) => a.state === 'prepared');
      await broker.ca.activate('x509', prepared?.id, { force: true });
      state = JSON.parse((await watch.next()).data) as StateJson;
      while (state.activeX509Authority === initial.activeX509Authority) {
        state = JSON.parse((await watch.next()).data) as StateJson;
      }
      expect(state.activeX509Authority).toBe(prepared?.id);
      expect(activeId()).toBe(prepared?.id);
    } finally {
      watch.close();
    }
  });

  it('a non-node SVID cannot watch (403 ERR_API_NOT_NODE)', async () => {
    const response = await nodeCall(plainAgent, 'GET', '/watch');
    expect([response.status, errorCode(response)]).toEqual([403, 'ERR_API_NOT_NODE']);
  });
});

describe('GET /v1/agent/node/watch: stream caps (issue 15 finding 7)', () => {
  it('the 5th open stream of one node gets 429 ERR_API_TOO_MANY_STREAMS (default cap 4)', async () => {
    const open = [];
    try {
      for (let i = 0; i < 4; i++) open.push(await openNodeWatch(broker.agentApiUrl, tls, host));
      expect(open.map((w) => w.status)).toEqual([200, 200, 200, 200]);
      const refused = await agentApi(broker.agentApiUrl, 'GET', '/v1/agent/node/watch', {
        ...tls,
        client: { certPem: host.certPem, keyPem: host.keyPem },
      });
      expect([refused.status, errorCode(refused)]).toEqual([429, 'ERR_API_TOO_MANY_STREAMS']);
    } finally {
      for (const watch of open) watch.close();
    }
  });
});
