// Console sessions live only as long as the credential that made them and are bounded per admin:
// restarts of a real broker (same store) with another bootstrap token or other adminIds, and in
// process the sign-in limit (429, no audit event, no session), the per-admin cap and the 12 h lifetime.
import { generateKeyPairSync } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { marshalPem } from '../../src/bundle/index.js';
import type { LoadedConfig } from '../../src/config/index.js';
import { silentLogger } from '../../src/log.js';
import { startBroker, type Broker } from '../../src/main.js';
import { createTestAdminApp, type TestAdminApp } from '../helpers/admin-app.js';
import { testConfig } from '../helpers/broker.js';
import { testClock } from '../helpers/clock.js';
import { consoleCall } from '../helpers/console-call.js';

const FORM = 'application/x-www-form-urlencoded';

describe('console sessions across restarts (same store)', () => {
  let broker: Broker | undefined;
  afterEach(async () => {
    await broker?.stop();
    broker = undefined;
  });
  const restart = async (loaded: LoadedConfig): Promise<Broker> => {
    await broker?.stop();
    broker = await startBroker(loaded, { logger: silentLogger });
    return broker;
  };

  it('a root session is refused after a restart with another bootstrap token', async () => {
    const base = testConfig({ trustDomain: 'home.test' });
    const old = 'old-root-token-0123456789abcdef';
    let b = await restart({ ...base, adminTokenFromEnv: old });
    const signedIn = await consoleCall(b, '/console/login', {
      form: `token=${encodeURIComponent(old)}`,
    });
    expect(signedIn.status).toBe(303);
    expect((await consoleCall(b, '/console/', { cookie: signedIn.cookie })).status).toBe(200);
    b = await restart({ ...base, adminTokenFromEnv: 'new-root-token-0123456789abcdef' });
    const page = await consoleCall(b, '/console/', { cookie: signedIn.cookie });
    expect([page.status, page.location]).toEqual([303, '/console/login']);
    const change = await consoleCall(b, '/console/authorities/x509/prepare', {
      cookie: signedIn.cookie,
      form: 'csrf=x',
    });
    expect(change.status).toBe(401);
    expect(await b.store.listAccess('session')).toHaveLength(0);
  });

  it("an mTLS admin's session takes a downgrade in adminIds and is refused once removed", async () => {
    const td = 'mtls.test';
    const id = `spiffe://${td}/ops/alice`;
    const first = testConfig({
      trustDomain: td,
      extra: {
        adminApi: { listen: '127.0.0.1:0', tls: true, adminIds: [{ id, name: 'alice' }] },
      },
    });
    /** The same broker and store, restarted with other adminIds. */
    const withIds = (adminIds: LoadedConfig['config']['adminApi']['adminIds']): LoadedConfig => ({
      ...first,
      config: { ...first.config, adminApi: { ...first.config.adminApi, adminIds } },
    });
    let b = await restart(first);
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const issued = await b.ca.issueX509Svid({ spiffeId: id, publicKey });
    const identity = {
      cert: marshalPem(issued.chainDer),
      key: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    };
    const signedIn = await consoleCall(b, '/console/login', { identity, form: 'certificate=1' });
    expect(signedIn.status).toBe(303);
    expect((await consoleCall(b, '/console/', { cookie: signedIn.cookie })).text).toContain(
      'alice (admin)',
    );
    b = await restart(withIds([{ id, name: 'alice', role: 'viewer' }]));
    expect((await consoleCall(b, '/console/', { cookie: signedIn.cookie })).text).toContain(
      'alice (viewer)',
    );
    b = await restart(withIds([]));
    const page = await consoleCall(b, '/console/', { cookie: signedIn.cookie });
    expect([page.status, page.location]).toEqual([303, '/console/login']);
  });
});

describe('console sign-ins are bounded per admin', () => {
  let t: TestAdminApp;
  afterEach(async () => t?.close());

  async function signIn(token: string): Promise<{ status: number; retry: string | null }> {
    const body = `token=${encodeURIComponent(token)}`;
    const response = await t.app.request('http://c/console/login', {
      method: 'POST',
      headers: { origin: 'http://c', 'content-type': FORM, 'content-length': String(body.length) },
      body,
    });
    return { status: response.status, retry: response.headers.get('retry-after') };
  }
  const addViewer = async (name: string): Promise<string> =>
    (await t.call<{ token: string }>('POST', '/v1/admin/admins', { name, role: 'viewer' })).body
      .token;
  const signedInEvents = async (actor: string): Promise<number> =>
    (await t.store.listAudit({ limit: 1000, type: 'console.signed_in', actor })).length;

  it('the 21st sign-in of one admin within 10 minutes is 429 with Retry-After, no audit event, no session', async () => {
    const clock = testClock();
    t = await createTestAdminApp({ trustDomain: 'home.test', now: clock.now });
    const val = await addViewer('val');
    const ann = await addViewer('ann');
    for (let i = 0; i < 20; i += 1) expect((await signIn(val)).status).toBe(303);
    const sessionsBefore = (await t.store.listAccess('session')).length;
    clock.advance(60);
    expect(await signIn(val)).toEqual({ status: 429, retry: '540' });
    expect(await signedInEvents('admin:val')).toBe(20);
    expect(await t.store.listAccess('session')).toHaveLength(sessionsBefore);
    expect((await signIn(ann)).status).toBe(303); // another admin has their own count
    clock.advance(540);
    expect((await signIn(val)).status).toBe(303);
  });

  it("a 9th sign-in ends the admin's oldest session; the other eight still work", async () => {
    const clock = testClock();
    t = await createTestAdminApp({ trustDomain: 'home.test', now: clock.now });
    const val = await addViewer('val');
    const cookies: string[] = [];
    for (let i = 0; i < 9; i += 1) {
      clock.advance(1);
      const response = await t.app.request('http://c/console/login', {
        method: 'POST',
        headers: { origin: 'http://c', 'content-type': FORM },
        body: `token=${encodeURIComponent(val)}`,
      });
      cookies.push((response.headers.get('set-cookie') ?? '').split(';')[0] ?? '');
    }
    const statuses = await Promise.all(
      cookies.map(
        async (cookie) =>
          (await t.app.request('http://c/console/', { headers: { cookie } })).status,
      ),
    );
    expect(statuses).toEqual([303, 200, 200, 200, 200, 200, 200, 200, 200]);
  });

  it('a session ends 12 hours after sign-in however active, as if signed out', async () => {
    const clock = testClock();
    t = await createTestAdminApp({ trustDomain: 'home.test', now: clock.now });
    const response = await t.app.request('http://c/console/login', {
      method: 'POST',
      headers: { origin: 'http://c', 'content-type': FORM },
      body: `token=${encodeURIComponent(await addViewer('val'))}`,
    });
    const cookie = (response.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    const page = async (): Promise<Response> =>
      t.app.request('http://c/console/', { headers: { cookie } });
    for (let minutes = 10; minutes < 12 * 60; minutes += 10) {
      clock.advance(600); // a page every 10 minutes: never idle for the 15-minute idle period
      expect((await page()).status).toBe(200);
    }
    clock.advance(600);
    const expired = await page();
    expect([expired.status, expired.headers.get('location')]).toEqual([303, '/console/login']);
  });
});
