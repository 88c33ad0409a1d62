// Hostile partner endpoints that fail TLS or the endpoint identity check, over real TLS on 127.0.0.1
// (FED-22 https_web, FED-23 https_spiffe): refused during the handshake, the last good bundle stays
// trusted and stored (FED-41), the status records the exact error code, a later good refresh succeeds.
import { createWebRoot, identityOf } from './support.js';
import {
  TD,
  describeHostileCases,
  other,
  partner,
  server,
  useHostileWorld,
  web,
} from './hostile-fixture.js';
import type { HostileCase } from './hostile-fixture.js';

const DAY_MS = 86_400_000;

useHostileWorld();

const CASES: readonly HostileCase[] = [
  {
    name: 'FED-23: endpoint presents another SPIFFE ID of the partner trust domain',
    profiles: ['https_spiffe'],
    code: 'ERR_FEDERATION_FETCH_ENDPOINT_ID',
    requests: 0,
    async arrange() {
      const impostor = await partner.leaf({ spiffeIds: [`spiffe://${TD}/not-the-endpoint`] });
      server.setIdentity(identityOf(impostor));
    },
  },
  {
    name: 'FED-23: endpoint chain from another trust domain (its own ID)',
    profiles: ['https_spiffe'],
    code: 'ERR_FEDERATION_FETCH_TLS',
    requests: 0,
    arrange() {
      server.setIdentity(identityOf(other.endpointSvid));
    },
  },
  {
    name: 'FED-23: endpoint claims the configured ID but chains to another trust domain CA',
    profiles: ['https_spiffe'],
    code: 'ERR_FEDERATION_FETCH_TLS',
    requests: 0,
    async arrange() {
      const forged = await other.leaf({ spiffeIds: [partner.endpointId] });
      server.setIdentity(identityOf(forged));
    },
  },
  {
    name: 'FED-23 X509-26: expired endpoint X509-SVID',
    profiles: ['https_spiffe'],
    code: 'ERR_FEDERATION_FETCH_TLS',
    requests: 0,
    async arrange() {
      const expired = await partner.leaf({
        spiffeIds: [partner.endpointId],
        notBefore: new Date(Date.now() - 2 * DAY_MS),
        notAfter: new Date(Date.now() - DAY_MS),
      });
      server.setIdentity(identityOf(expired));
    },
  },
  {
    name: 'FED-22: server chain from another PKI (not the configured roots)',
    profiles: ['https_web'],
    code: 'ERR_FEDERATION_FETCH_TLS',
    requests: 0,
    async arrange() {
      const stranger = await createWebRoot();
      server.setIdentity(await stranger.serverIdentity());
    },
  },
  {
    name: 'FED-22: expired server certificate',
    profiles: ['https_web'],
    code: 'ERR_FEDERATION_FETCH_TLS',
    requests: 0,
    async arrange() {
      server.setIdentity(
        await web.serverIdentity({
          notBefore: new Date(Date.now() - 2 * DAY_MS),
          notAfter: new Date(Date.now() - DAY_MS),
        }),
      );
    },
  },
  {
    name: 'FED-22: certificate for another host name',
    profiles: ['https_web'],
    code: 'ERR_FEDERATION_FETCH_TLS',
    requests: 0,
    async arrange() {
      server.setIdentity(await web.serverIdentity({ dnsNames: ['elsewhere.test'], ips: [] }));
    },
  },
];

describeHostileCases(CASES);
