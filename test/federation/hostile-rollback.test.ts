// Sequence rollback by a partner endpoint over real TLS on 127.0.0.1 (FED-32): refused, the last good
// bundle kept (FED-41), and the operator can force it (FED-33), in the service and through a running
// broker's admin API.
import { describe, expect, it } from 'vitest';
import { bundleDigest } from '../../src/bundle/index.js';
import { admin, startTestBroker } from '../helpers/broker.js';
import { serve, startEndpointServer, trustedDigest } from './support.js';
import {
  BOTH,
  TD,
  describeHostileCases,
  partner,
  server,
  useHostileWorld,
  web,
  webIdentity,
} from './hostile-fixture.js';
import type { HostileCase } from './hostile-fixture.js';

useHostileWorld();

const CASES: readonly HostileCase[] = [
  {
    name: 'FED-32: sequence rollback is refused; the operator can force it (FED-33)',
    profiles: BOTH,
    code: 'ERR_FEDERATION_BUNDLE_STALE',
    requests: 1,
    arrange() {
      server.handler = serve(partner.bundleJson(3));
    },
    async check(ctx) {
      const stale = partner.bundleJson(3);
      const forced = await ctx.h.federation.forceBundle(TD, stale, {
        actor: 'admin:test',
        reason: 'partner reset its sequence',
      });
      expect(forced.outcome).toBe('replaced');
      expect(forced.stored.sequence).toBe('3');
      expect((await ctx.h.store.getBundle(TD))?.digest).toBe(bundleDigest(stale));
      expect(trustedDigest(ctx.h.federation, TD)).toBe(bundleDigest(stale));
      expect(ctx.h.audit.some((e) => e.type === 'bundle.forced')).toBe(true);
      // FED-33: the forced bundle stays current; the endpoint serving the same document is a no-op.
      const same = await ctx.h.federation.refresh(TD);
      expect(same.ok).toBe(true);
      expect(same.update?.outcome).toBe('unchanged');
    },
  },
];

describeHostileCases(CASES);

describe('FED-32 FED-33: rollback through a running broker and its admin API', () => {
  it('FED-32: the admin refresh reports the refused rollback; FED-33: the admin "force bundle" path accepts it', async () => {
    const broker = await startTestBroker({ trustDomain: 'us.test' });
    const endpoint = await startEndpointServer(webIdentity, serve(partner.bundleJson(5)));
    try {
      const created = await admin(broker, 'POST', '/v1/admin/relationships', {
        trustDomain: TD,
        url: `${endpoint.origin}/bundle`,
        profile: 'https_web',
        caPem: web.caPem,
      });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      expect(
        (await admin(broker, 'POST', `/v1/admin/relationships/${TD}/approve`, {})).status,
      ).toBe(200);
      const good = await admin<{ ok: boolean; sequence: string }>(
        broker,
        'POST',
        `/v1/admin/relationships/${TD}/refresh`,
        {},
      );
      expect(good.body).toMatchObject({ ok: true, sequence: '5' });
      const goodDigest = (await broker.store.getBundle(TD))?.digest;

      const stale = partner.bundleJson(3);
      endpoint.handler = serve(stale);
      const refused = await admin<{ ok: boolean; error: { code: string } }>(
        broker,
        'POST',
        `/v1/admin/relationships/${TD}/refresh`,
        {},
      );
      expect(refused.status).toBe(200);
      expect(refused.body.ok).toBe(false);
      expect(refused.body.error.code).toBe('ERR_FEDERATION_BUNDLE_STALE');
      expect((await broker.store.getBundle(TD))?.digest).toBe(goodDigest);
      expect(trustedDigest(broker.federation, TD)).toBe(goodDigest);

      const forced = await admin<{ outcome: string; sequence: string; digest: string }>(
        broker,
        'PUT',
        `/v1/admin/relationships/${TD}/bundle`,
        { bundle: stale, reason: 'partner reset its CA and sequence' },
      );
      expect(forced.status, JSON.stringify(forced.body)).toBe(200);
      expect(forced.body).toMatchObject({
        outcome: 'replaced',
        sequence: '3',
        digest: bundleDigest(stale),
      });
      expect(trustedDigest(broker.federation, TD)).toBe(bundleDigest(stale));
      // Without the token the same path is closed (FED-3: changes only through the authenticated API).
      const anonymous = await admin(
        broker,
        'PUT',
        `/v1/admin/relationships/${TD}/bundle`,
        { bundle: partner.bundleJson(1) },
        null,
      );
      expect(anonymous.status).toBe(401);
      expect(trustedDigest(broker.federation, TD)).toBe(bundleDigest(stale));
    } finally {
      await endpoint.close();
      await broker.stop();
    }
  });
});
