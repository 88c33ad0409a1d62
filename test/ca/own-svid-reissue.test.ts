// Issue 15, finding 4: after `localauthority x509 taint` or `revoke` through the admin API, a fresh
// TLS connection to each of the broker's own listeners (bundle endpoint with https_spiffe, agent
// API, admin API on TLS) sees a leaf signed by the new authority, without a restart, and a partner
// verifies the https_spiffe endpoint against the bundle it now fetches (as `federation accept` does).
import { X509Certificate } from 'node:crypto';
import { request } from 'node:https';
import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseBundle } from '../../src/bundle/index.js';
import { fetchBundle } from '../../src/federation/index.js';
import type { Broker } from '../../src/main.js';
import { parseSpiffeId, parseTrustDomain } from '../../src/spiffeid/index.js';
import { ADMIN_TOKEN, startTestBroker } from '../helpers/broker.js';
import { sourceOf } from '../helpers/pki.js';

const TD = 'owncerts.test';
const ENDPOINT_ID = `spiffe://${TD}/spiffe/bundle-endpoint`;

interface Authority {
  readonly id: string;
  readonly state: string;
  readonly certificatePem: string | null;
}

/** The leaf a fresh TLS connection to `url` is shown (no trust decision here: we inspect it). */
function leafOf(url: string): Promise<X509Certificate> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(
      { host: hostname, port: Number(port), rejectUnauthorized: false, servername: undefined },
      () => {
        const raw = socket.getPeerCertificate(false).raw;
        socket.destroy();
        resolve(new X509Certificate(raw));
      },
    );
    socket.on('error', reject);
  });
}

describe('own SVIDs are re-issued at once when their authority is tainted or revoked (issue 15 finding 4)', () => {
  let broker: Broker;

  /** The admin API over TLS with the bearer token (the listener's own certificate is under test). */
  function adminCall<T>(method: string, path: string, body?: unknown): Promise<T> {
    const url = new URL(path, broker.adminUrl);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: url.hostname,
          port: Number(url.port),
          path: url.pathname,
          method,
          rejectUnauthorized: false,
          agent: false,
          headers: {
            authorization: `Bearer ${ADMIN_TOKEN}`,
            ...(payload === undefined
              ? {}
              : { 'content-type': 'application/json', 'content-length': payload.length }),
          },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('end', () =>
            (res.statusCode ?? 0) < 300
              ? resolve(JSON.parse(text) as T)
              : reject(new Error(`${method} ${path}: ${res.statusCode} ${text}`)),
          );
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  }

  const authorities = async (): Promise<Authority[]> =>
    (await adminCall<{ authorities: Authority[] }>('GET', '/v1/admin/authorities?kind=x509'))
      .authorities;

  async function active(): Promise<Authority> {
    const found = (await authorities()).find((a) => a.state === 'active');
    if (found === undefined) throw new Error('no active x509 authority');
    return found;
  }

  /** Prepares and activates a successor (forced past the lead time); returns it. */
  async function successor(): Promise<Authority> {
    const { authority } = await adminCall<{ authority: Authority }>(
      'POST',
      '/v1/admin/authorities/x509/prepare',
    );
    await adminCall('POST', `/v1/admin/authorities/x509/${authority.id}/activate`, {
      force: true,
    });
    return authority;
  }

  const listeners = (): [string, string][] => [
    ['bundle endpoint', broker.bundleEndpointUrl],
    ['agent API', broker.agentApiUrl],
    ['admin API', broker.adminUrl],
  ];

  /** Which authority signed the leaf each listener shows a fresh connection. */
  async function signers(): Promise<Record<string, string>> {
    const all = await authorities();
    const out: Record<string, string> = {};
    for (const [name, url] of listeners()) {
      const leaf = await leafOf(url);
      const signer = all.find(
        (a) =>
          a.certificatePem !== null && leaf.verify(new X509Certificate(a.certificatePem).publicKey),
      );
      out[name] = signer?.id ?? 'unknown';
    }
    return out;
  }

  const everywhere = (id: string): Record<string, string> =>
    Object.fromEntries(listeners().map(([name]) => [name, id]));

  /** A partner's https_spiffe fetch with the bundle it holds now (FED-23/24, `federation accept`). */
  async function partnerFetch(): Promise<void> {
    const text = await adminCall<unknown>('GET', '/v1/admin/bundle');
    const bundle = parseBundle(JSON.stringify(text), parseTrustDomain(TD));
    await fetchBundle(
      {
        url: broker.bundleEndpointUrl,
        profile: 'https_spiffe',
        endpointSpiffeId: parseSpiffeId(ENDPOINT_ID),
        endpointBundle: sourceOf(bundle),
        followRedirects: false,
      },
      { now: () => Date.now() },
    );
  }

  beforeAll(async () => {
    broker = await startTestBroker({
      trustDomain: TD,
      profile: 'https_spiffe',
      extra: { adminApi: { listen: '127.0.0.1:0', tls: true, adminIds: [] } },
    });
  });
  afterAll(async () => {
    await broker.stop();
  });

  it('taint: every listener presents a leaf of the new authority; the endpoint still verifies', async () => {
    const first = await active();
    expect(await signers()).toEqual(everywhere(first.id));
    const second = await successor();
    await adminCall('POST', `/v1/admin/authorities/x509/${first.id}/taint`, {});
    // The swap follows the taint asynchronously: poll fresh connections (bounded, not timed).
    await vi.waitFor(
      async () => {
        expect(await signers()).toEqual(everywhere(second.id));
      },
      { timeout: 10_000, interval: 100 },
    );
    await partnerFetch();
  });

  it('revoke: the own SVIDs are re-issued before the authority leaves the bundle', async () => {
    const before = await active();
    expect(await signers()).toEqual(everywhere(before.id));
    const next = await successor();
    await adminCall('POST', `/v1/admin/authorities/x509/${before.id}/revoke`, {});
    // Re-issued before the revoke took effect: no wait, the answer already means it is done.
    expect(await signers()).toEqual(everywhere(next.id));
    // The partner holds the bundle without the revoked authority and still accepts the endpoint.
    await partnerFetch();
  });

  it('taint with no successor: the re-issue waits for the next activation, then swaps', async () => {
    const tainted = await active();
    await adminCall('POST', `/v1/admin/authorities/x509/${tainted.id}/taint`, {});
    // Nothing can sign now (ERR_CA_NO_ACTIVE_AUTHORITY); the listeners keep serving meanwhile.
    expect(Object.keys(await signers())).toHaveLength(3);
    const next = await successor();
    await vi.waitFor(
      async () => {
        expect(await signers()).toEqual(everywhere(next.id));
      },
      { timeout: 10_000, interval: 100 },
    );
    await partnerFetch();
  });
});
