// The admin API over TLS (adminApi.tls): the broker's own X509-SVID on the listener, and admins
// authenticated either by the bearer token or by an X509-SVID whose SPIFFE ID is in adminIds.
// Real TLS on 127.0.0.1, real certificates from the broker's CA.
import { generateKeyPairSync } from 'node:crypto';
import { request } from 'node:https';
import type { PeerCertificate } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { marshalPem } from '../../src/bundle/index.js';
import type { Broker } from '../../src/main.js';
import { ADMIN_TOKEN, startTestBroker } from '../helpers/broker.js';
import {
  consoleCall as consoleCallTo,
  onBody,
  type ConsoleAnswer,
} from '../helpers/console-call.js';
import { createCa, createLeaf, pemOf } from '../helpers/pki.js';

const TD = 'logistics.test';
const ADMIN_ID = `spiffe://${TD}/ops/admin`;
const OPS_ID = `spiffe://${TD}/ops/alice`;
const AUDITOR_ID = `spiffe://${TD}/ops/auditor`;

interface Identity {
  readonly cert: string;
  readonly key: string;
}

interface Answer {
  readonly status: number;
  readonly body: { error?: { code?: string } } & Record<string, unknown>;
  readonly serverId: string | undefined;
}

describe('admin API over TLS with mTLS admins', () => {
  let broker: Broker;

  beforeAll(async () => {
    broker = await startTestBroker({
      trustDomain: TD,
      extra: {
        adminApi: {
          listen: '127.0.0.1:0',
          tls: true,
          adminIds: [
            ADMIN_ID,
            { id: OPS_ID, name: 'alice', role: 'admin' },
            { id: AUDITOR_ID, name: 'auditor', role: 'viewer' },
          ],
        },
      },
    });
  });
  afterAll(async () => {
    await broker.stop();
  });

  async function svid(id: string): Promise<Identity> {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const issued = await broker.ca.issueX509Svid({ spiffeId: id, publicKey });
    return {
      cert: marshalPem(issued.chainDer),
      key: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    };
  }

  function call(
    path: string,
    options: { identity?: Identity; token?: string; body?: unknown },
  ): Promise<Answer> {
    const url = new URL(path, broker.adminUrl);
    const roots = marshalPem(broker.ca.localBundle().x509Authorities.map((a) => a.der));
    return new Promise((resolve, reject) => {
      let serverId: string | undefined;
      const req = request(
        {
          host: url.hostname,
          port: Number(url.port),
          path: url.pathname,
          method: options.body === undefined ? 'GET' : 'POST',
          ca: roots,
          ...(options.identity ?? {}),
          headers: {
            ...(options.token === undefined ? {} : { authorization: `Bearer ${options.token}` }),
            ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          agent: false,
          // The listener is identified by its SPIFFE ID, chained to our bundle by OpenSSL above.
          checkServerIdentity: (_host: string, cert: PeerCertificate) => {
            serverId = /URI:(spiffe:\/\/\S+?)(?:,|$)/.exec(cert.subjectaltname ?? '')?.[1];
            return undefined;
          },
        },
        (res) =>
          onBody(res, (text) =>
            resolve({
              status: res.statusCode ?? 0,
              body: JSON.parse(text) as Answer['body'],
              serverId,
            }),
          ),
      );
      req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
      req.on('error', reject);
      req.end(options.body === undefined ? undefined : JSON.stringify(options.body));
    });
  }

  it('the listener presents the admin API X509-SVID of our trust domain', async () => {
    expect(broker.adminUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const answer = await call('/healthz', {});
    expect(answer.status).toBe(200);
    expect(answer.serverId).toBe(`spiffe://${TD}/fedbroker/admin-api`);
  });

  it('an X509-SVID listed in adminIds administers without a token, and is the recorded actor', async () => {
    const admin = await svid(ADMIN_ID);
    const answer = await call('/v1/admin/relationships', { identity: admin });
    expect(answer.status).toBe(200);
    expect(answer.body).toHaveProperty('relationships');
    const created = await call('/v1/admin/entries', {
      identity: admin,
      body: { spiffeId: `spiffe://${TD}/agents/by-mtls-admin` },
    });
    expect(created.status).toBe(201);
    const audit = await broker.store.listAudit({ limit: 50, direction: 'backward' });
    const event = audit.find((e) => e.type === 'entry.created');
    expect(event?.actor).toBe(ADMIN_ID);
  });

  it('issue 19: a named mTLS admin is audited by name; a viewer reads and is refused every change', async () => {
    const alice = await svid(OPS_ID);
    const me = await call('/v1/admin/whoami', { identity: alice });
    expect(me.body).toMatchObject({
      name: 'alice',
      role: 'admin',
      via: 'mtls',
      actor: 'admin:alice',
    });
    const created = await call('/v1/admin/entries', {
      identity: alice,
      body: { spiffeId: `spiffe://${TD}/agents/by-alice` },
    });
    expect(created.status).toBe(201);
    const audit = await broker.store.listAudit({ limit: 50, direction: 'backward' });
    expect(audit.find((e) => e.type === 'entry.created')?.actor).toBe('admin:alice');

    const auditor = await svid(AUDITOR_ID);
    expect((await call('/v1/admin/relationships', { identity: auditor })).status).toBe(200);
    const refused = await call('/v1/admin/entries', {
      identity: auditor,
      body: { spiffeId: `spiffe://${TD}/agents/by-auditor` },
    });
    expect([refused.status, refused.body.error?.code]).toEqual([403, 'ERR_API_FORBIDDEN']);
  });

  /** A raw console request over TLS (form posts, cookies), with an optional client certificate. */
  const consoleCall = (
    path: string,
    options: { identity?: Identity; form?: string; cookie?: string },
  ): Promise<ConsoleAnswer> => consoleCallTo(broker, path, options);

  it('issue 19: the console signs in an mTLS admin by certificate, with a Secure cookie under TLS', async () => {
    const alice = await svid(OPS_ID);
    const form = await consoleCall('/console/login', { identity: alice });
    expect(form.text).toContain('Sign in as alice with your certificate');
    const signedIn = await consoleCall('/console/login', {
      identity: alice,
      form: 'certificate=1',
    });
    expect(signedIn.status).toBe(303);
    const setCookie = String((signedIn.headers['set-cookie'] as string[] | undefined)?.[0] ?? '');
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/Secure/);
    expect(setCookie).toMatch(/SameSite=Strict/);
    const overview = await consoleCall('/console/', { cookie: setCookie.split(';')[0] ?? '' });
    expect(overview.status).toBe(200);
    expect(overview.text).toContain('alice (admin)');
    // An agent's certificate (not an admin) is offered nothing and signs in to nothing.
    const agent = await svid(`spiffe://${TD}/agents/console`);
    expect((await consoleCall('/console/login', { identity: agent })).text).not.toContain(
      'with your certificate',
    );
    const refused = await consoleCall('/console/login', { identity: agent, form: 'certificate=1' });
    expect(refused.status).toBe(401);
  });

  it('an agent X509-SVID on an admin route is forbidden (403), not merely unauthenticated', async () => {
    const agent = await svid(`spiffe://${TD}/agents/planner`);
    const answer = await call('/v1/admin/relationships', { identity: agent });
    expect(answer.status).toBe(403);
    expect(answer.body.error?.code).toBe('ERR_API_FORBIDDEN');
  });

  it('no certificate and no token: 401; a certificate from a foreign CA claiming our domain: 401', async () => {
    const none = await call('/v1/admin/relationships', {});
    expect(none.status).toBe(401);
    expect(none.body.error?.code).toBe('ERR_API_UNAUTHENTICATED');
    const foreignCa = await createCa({ trustDomain: TD });
    const forged = await createLeaf(foreignCa, { spiffeIds: [ADMIN_ID] });
    const answer = await call('/v1/admin/relationships', {
      identity: {
        cert: pemOf(forged),
        key: forged.nodePrivateKey().export({ format: 'pem', type: 'pkcs8' }).toString(),
      },
    });
    expect(answer.status).toBe(401);
    expect(answer.body.error?.code).toBe('ERR_API_UNAUTHENTICATED');
  });

  it('the bearer token still works over TLS; a wrong token fails even with an admin certificate', async () => {
    expect((await call('/v1/admin/relationships', { token: ADMIN_TOKEN })).status).toBe(200);
    const admin = await svid(ADMIN_ID);
    const wrong = await call('/v1/admin/relationships', {
      identity: admin,
      token: 'not-the-token',
    });
    expect(wrong.status).toBe(401);
  });
});
