// fetchBundle on its own over real TLS on 127.0.0.1 (FED-20..27): both profiles, the forensic log,
// redirects, limits and the exact error codes, plus the coded cause behind an endpoint SVID refusal.
import { createHash } from 'node:crypto';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseBundle } from '../../src/bundle/index.js';
import { FederationError, type ErrorCode } from '../../src/errors.js';
import {
  fetchBundle,
  type FetchLog,
  type FetchOptions,
  type FetchTarget,
} from '../../src/federation/index.js';
import { parseSpiffeId, parseTrustDomain } from '../../src/spiffeid/index.js';
import { createCa, createLeaf } from '../helpers/pki.js';
import {
  HOST,
  createHarness,
  createPartnerPki,
  createWebRoot,
  endlessSlowBody,
  identityOf,
  redirect,
  serve,
  startEndpointServer,
  status,
  type EndpointServer,
  type Harness,
  type PartnerPki,
  type TlsIdentity,
  type WebRoot,
} from './support.js';

const TD = 'partner.test';
const DAY_MS = 86_400_000;

let partner: PartnerPki;
let other: PartnerPki;
let web: WebRoot;
let webIdentity: TlsIdentity;
let spiffeServer: EndpointServer;
let webServer: EndpointServer;
let target: EndpointServer;
const live = new Set<() => void>();
const closers: (() => Promise<void>)[] = [];

beforeAll(async () => {
  partner = await createPartnerPki(TD);
  other = await createPartnerPki('other.test');
  web = await createWebRoot();
  webIdentity = await web.serverIdentity();
  spiffeServer = await startEndpointServer(identityOf(partner.endpointSvid));
  webServer = await startEndpointServer(webIdentity);
  target = await startEndpointServer(webIdentity);
});

afterEach(async () => {
  for (const stop of [...live]) stop();
  await Promise.all(closers.splice(0).map((close) => close()));
  spiffeServer.setIdentity(identityOf(partner.endpointSvid));
  webServer.setIdentity(webIdentity);
});

afterAll(async () => {
  await spiffeServer?.close();
  await webServer?.close();
  await target?.close();
});

function spiffeTarget(url = `${spiffeServer.origin}/bundle`, follow = true): FetchTarget {
  return {
    url,
    profile: 'https_spiffe',
    endpointSpiffeId: parseSpiffeId(partner.endpointId),
    endpointBundle: parseBundle(partner.bundleJson(1), parseTrustDomain(TD)),
    followRedirects: follow,
  };
}

function webTarget(url = `${webServer.origin}/bundle`, follow = true): FetchTarget {
  return { url, profile: 'https_web', caPem: web.caPem, followRedirects: follow };
}

const options = (extra: Partial<FetchOptions> = {}): FetchOptions => ({
  now: () => Date.now(),
  totalTimeoutMs: 10_000,
  connectTimeoutMs: 5_000,
  ...extra,
});

/** Runs a fetch that must fail and returns the FederationError (with its FED-27 log). */
async function failure(
  fetchTarget: FetchTarget,
  fetchOptions: FetchOptions = options(),
): Promise<FederationError & { context: { log: FetchLog; verifyCode?: string } }> {
  try {
    await fetchBundle(fetchTarget, fetchOptions);
  } catch (error) {
    expect(error).toBeInstanceOf(FederationError);
    return error as FederationError & { context: { log: FetchLog; verifyCode?: string } };
  }
  throw new Error('fetch unexpectedly succeeded');
}

const sha256 = (der: Uint8Array): string => createHash('sha256').update(der).digest('hex');

describe('fetchBundle: success and the forensic log (FED-21, FED-27)', () => {
  it('FED-23 FED-27: https_spiffe returns the body and logs the endpoint SPIFFE ID and fingerprint', async () => {
    const body = partner.bundleJson(4);
    spiffeServer.handler = serve(body);
    const result = await fetchBundle(spiffeTarget(), options());
    expect(result.body.toString('utf8')).toBe(body);
    expect(result.log).toMatchObject({
      url: `${spiffeServer.origin}/bundle`,
      profile: 'https_spiffe',
      redirects: [],
      status: 200,
      bytes: Buffer.byteLength(body),
      peer: { identity: partner.endpointId, fingerprintSha256: sha256(partner.endpointSvid.der) },
    });
    // X509-28: no host name check; the SVID has no IP SAN, yet 127.0.0.1 is accepted.
    expect(partner.endpointSvid.certificate.toString('text')).not.toContain('127.0.0.1');
  });

  it('FED-22 FED-27: https_web returns the body and logs the DNS/IP SANs and fingerprint', async () => {
    webServer.handler = serve('{"keys":[]}');
    const result = await fetchBundle(webTarget(), options());
    expect(result.body.toString('utf8')).toBe('{"keys":[]}');
    expect(result.log.peer?.identity).toBe('DNS:localhost, IP Address:127.0.0.1');
    expect(result.log.peer?.fingerprintSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(result.log.status).toBe(200);
  });

  it('FED-21: no particular Content-Type is required', async () => {
    webServer.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('{"keys":[]}');
    };
    expect((await fetchBundle(webTarget(), options())).body.toString()).toBe('{"keys":[]}');
  });

  it('FED-23 X509-26: an endpoint SVID chain with an intermediate CA is verified to the partner root', async () => {
    const intermediate = await createCa({ issuer: partner.ca, trustDomain: TD });
    const leaf = await createLeaf(intermediate, { spiffeIds: [partner.endpointId] });
    spiffeServer.setIdentity(identityOf(leaf, [intermediate]));
    spiffeServer.handler = serve('{"keys":[]}');
    const result = await fetchBundle(spiffeTarget(), options());
    expect(result.log.peer?.fingerprintSha256).toBe(sha256(leaf.der));
  });

  it.each([
    [100, true],
    [101, false],
  ])('FED-21: a body of %i bytes against a 100-byte limit: accepted=%s', async (size, ok) => {
    webServer.handler = serve(Buffer.alloc(size, 0x20));
    const fetchOptions = options({ maxBodyBytes: 100 });
    if (ok) {
      expect((await fetchBundle(webTarget(), fetchOptions)).body.length).toBe(size);
    } else {
      expect((await failure(webTarget(), fetchOptions)).code).toBe(
        'ERR_FEDERATION_FETCH_TOO_LARGE',
      );
    }
  });
});

describe('fetchBundle: endpoint authentication (FED-22, FED-23)', () => {
  it.each<[string, () => Promise<TlsIdentity>, ErrorCode, string | undefined]>([
    [
      'another ID in the partner trust domain',
      async () => identityOf(await partner.leaf({ spiffeIds: [`spiffe://${TD}/other`] })),
      'ERR_FEDERATION_FETCH_ENDPOINT_ID',
      undefined,
    ],
    [
      'an SVID of another trust domain',
      async () => identityOf(other.endpointSvid),
      'ERR_FEDERATION_FETCH_TLS',
      'ERR_SVID_NO_BUNDLE',
    ],
    [
      'the configured ID signed by another trust domain CA',
      async () => identityOf(await other.leaf({ spiffeIds: [partner.endpointId] })),
      'ERR_FEDERATION_FETCH_TLS',
      'ERR_SVID_CHAIN_UNTRUSTED',
    ],
    [
      'an expired SVID',
      async () =>
        identityOf(
          await partner.leaf({
            spiffeIds: [partner.endpointId],
            notBefore: new Date(Date.now() - 2 * DAY_MS),
            notAfter: new Date(Date.now() - DAY_MS),
          }),
        ),
      'ERR_FEDERATION_FETCH_TLS',
      'ERR_SVID_CERT_EXPIRED',
    ],
    [
      'a CA certificate as end entity (X509-12)',
      async () => identityOf(partner.ca),
      'ERR_FEDERATION_FETCH_TLS',
      undefined,
    ],
    [
      'a web certificate without a SPIFFE ID',
      async () => webIdentity,
      'ERR_FEDERATION_FETCH_TLS',
      'ERR_SVID_URI_SAN_COUNT',
    ],
  ])(
    'FED-23: https_spiffe endpoint presenting %s is refused before any request',
    async (_name, identity, code, verifyCode) => {
      spiffeServer.setIdentity(await identity());
      spiffeServer.handler = serve(partner.bundleJson(4));
      const before = spiffeServer.requests;
      const error = await failure(spiffeTarget());
      expect(error.code).toBe(code);
      if (verifyCode !== undefined) expect(error.context.verifyCode).toBe(verifyCode);
      expect(spiffeServer.requests).toBe(before);
      expect(error.context.log.status).toBeNull();
    },
  );

  it.each<[string, () => Promise<TlsIdentity>]>([
    ['a certificate from another PKI', async () => (await createWebRoot()).serverIdentity()],
    [
      'an expired certificate',
      () =>
        web.serverIdentity({
          notBefore: new Date(Date.now() - 2 * DAY_MS),
          notAfter: new Date(Date.now() - DAY_MS),
        }),
    ],
    ['a certificate for another host', () => web.serverIdentity({ dnsNames: ['x.test'], ips: [] })],
    ['a SPIFFE SVID (not a Web PKI certificate)', async () => identityOf(partner.endpointSvid)],
  ])('FED-22: https_web endpoint presenting %s is refused before any request', async (_n, id) => {
    webServer.setIdentity(await id());
    webServer.handler = serve('{"keys":[]}');
    const before = webServer.requests;
    expect((await failure(webTarget())).code).toBe('ERR_FEDERATION_FETCH_TLS');
    expect(webServer.requests).toBe(before);
  });

  it('FED-22: without the configured private root, the system roots do not trust a private PKI', async () => {
    webServer.handler = serve('{"keys":[]}');
    const { caPem: _caPem, ...noRoot } = webTarget();
    expect((await failure({ ...noRoot, caPem: undefined })).code).toBe('ERR_FEDERATION_FETCH_TLS');
  });

  it('FED-22 FED-30: each relationship trusts its own private root only, also when contexts are reused', async () => {
    const otherRoot = await createWebRoot();
    const otherServer = await startEndpointServer(
      await otherRoot.serverIdentity(),
      serve('{"keys":[]}'),
    );
    closers.push(() => otherServer.close());
    webServer.handler = serve('{"keys":[]}');
    for (let round = 0; round < 2; round++) {
      // Each root authenticates its own endpoint...
      await fetchBundle(webTarget(), options());
      await fetchBundle(
        { ...webTarget(`${otherServer.origin}/bundle`), caPem: otherRoot.caPem },
        options(),
      );
      // ...and never the other one's, however often both were used before.
      expect((await failure(webTarget(`${otherServer.origin}/bundle`))).code).toBe(
        'ERR_FEDERATION_FETCH_TLS',
      );
      expect((await failure({ ...webTarget(), caPem: otherRoot.caPem })).code).toBe(
        'ERR_FEDERATION_FETCH_TLS',
      );
    }
  });

  it('FED-21: a server offering only TLS 1.1 is refused', async () => {
    const { createServer } = await import('node:https');
    const old = createServer(
      {
        ...webIdentity,
        minVersion: 'TLSv1',
        maxVersion: 'TLSv1.1',
        ciphers: 'DEFAULT:@SECLEVEL=0',
      },
      (_req, res) => res.end('{"keys":[]}'),
    );
    old.on('tlsClientError', () => undefined);
    await new Promise<void>((resolve) => old.listen(0, HOST, resolve));
    closers.push(
      () =>
        new Promise<void>((resolve) => {
          old.closeAllConnections();
          old.close(() => resolve());
        }),
    );
    const port = (old.address() as AddressInfo).port;
    expect((await failure(webTarget(`https://${HOST}:${port}/`))).code).toBe(
      'ERR_FEDERATION_FETCH_TLS',
    );
  });
});

describe('fetchBundle: redirects (FED-16, FED-25)', () => {
  it.each([301, 302, 303, 307, 308])(
    'FED-25: a %i to another valid https endpoint is followed and authenticated',
    async (code) => {
      target.handler = serve('{"keys":[],"spiffe_sequence":2}');
      webServer.handler = redirect(`${target.origin}/moved`, code);
      const result = await fetchBundle(webTarget(), options());
      expect(result.body.toString()).toBe('{"keys":[],"spiffe_sequence":2}');
      expect(result.log.redirects).toEqual([`${target.origin}/moved`]);
      expect(result.log.url).toBe(`${webServer.origin}/bundle`);
    },
  );

  it('FED-25: a relative Location is resolved against the current URL', async () => {
    webServer.handler = (req, res) => {
      if (req.url === '/bundle') {
        res.writeHead(302, { location: '/real' });
        res.end();
      } else serve('{"keys":[]}')(req, res);
    };
    const result = await fetchBundle(webTarget(), options());
    expect(result.log.redirects).toEqual([`${webServer.origin}/real`]);
  });

  it('FED-25: https_spiffe redirect target must present the same configured SPIFFE ID', async () => {
    const elsewhere = await startEndpointServer(
      identityOf(await partner.leaf({ spiffeIds: [`spiffe://${TD}/cdn`] })),
      serve('{"keys":[]}'),
    );
    closers.push(() => elsewhere.close());
    spiffeServer.handler = redirect(`${elsewhere.origin}/bundle`);
    const error = await failure(spiffeTarget());
    expect(error.code).toBe('ERR_FEDERATION_FETCH_ENDPOINT_ID');
    expect(elsewhere.requests).toBe(0);

    // The same target with the right ID is followed.
    elsewhere.setIdentity(identityOf(partner.endpointSvid));
    expect((await fetchBundle(spiffeTarget(), options())).log.redirects).toHaveLength(1);
    expect(elsewhere.requests).toBe(1);
  });

  it.each<[string, string]>([
    ['http:', 'http://127.0.0.1:1/bundle'],
    ['userinfo', 'https://user:secret@127.0.0.1:1/bundle'],
    ['another scheme', 'ftp://127.0.0.1/bundle'],
  ])('FED-16: a redirect to an invalid endpoint URL (%s) is refused', async (_name, location) => {
    webServer.handler = redirect(location);
    const error = await failure(webTarget());
    expect(error.code).toBe('ERR_FEDERATION_FETCH_REDIRECT');
    expect(error.context.log.redirects).toEqual([]);
    expect(error.context.log.status).toBe(302);
    expect(error.message).not.toContain('secret');
  });

  it('FED-25: a redirect without Location is refused', async () => {
    webServer.handler = status(302);
    expect((await failure(webTarget())).code).toBe('ERR_FEDERATION_FETCH_REDIRECT');
  });

  it('FED-25 (policy): with redirects disabled the target is never contacted', async () => {
    target.handler = serve('{"keys":[]}');
    const before = target.requests;
    webServer.handler = redirect(`${target.origin}/moved`);
    const error = await failure(webTarget(undefined, false));
    expect(error.code).toBe('ERR_FEDERATION_FETCH_REDIRECT');
    expect(target.requests).toBe(before);
  });

  it('FED-25: the redirect target is never stored; each refresh starts at the configured URL', async () => {
    let h: Harness | undefined;
    try {
      h = await createHarness();
      target.handler = serve(partner.bundleJson(2));
      webServer.handler = redirect(`${target.origin}/moved`);
      await h.approved({
        trustDomain: TD,
        url: `${webServer.origin}/configured`,
        profile: 'https_web',
        caPem: web.caPem,
      });
      const first = await h.federation.refresh(TD);
      expect(first.error).toBeUndefined();
      expect(first.log?.redirects).toEqual([`${target.origin}/moved`]);
      expect((await h.store.getBundle(TD))?.sourceUrl).toBe(`${webServer.origin}/configured`);
      expect((await h.federation.get(TD)).relationship.url).toBe(`${webServer.origin}/configured`);
      await h.federation.refresh(TD);
      expect(webServer.byPath.get('/configured')).toBe(2);
    } finally {
      await h?.close();
    }
  });
});

describe('fetchBundle: network failures and time limits (FED-21, FED-4)', () => {
  it('FED-4: a configured http: URL is refused without connecting', async () => {
    expect((await failure(webTarget('http://127.0.0.1:1/bundle'))).code).toBe('ERR_FEDERATION_URL');
  });

  it('FED-21: connection refused is a network failure', async () => {
    const closed = createNetServer();
    await new Promise<void>((resolve) => closed.listen(0, HOST, resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    expect((await failure(webTarget(`https://${HOST}:${port}/`))).code).toBe(
      'ERR_FEDERATION_FETCH_NETWORK',
    );
  });

  it('FED-21: a peer that accepts TCP but never speaks TLS hits the connect timeout', async () => {
    const sockets = new Set<Socket>();
    const mute: NetServer = createNetServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => mute.listen(0, HOST, resolve));
    closers.push(
      () =>
        new Promise<void>((resolve) => {
          for (const s of sockets) s.destroy();
          mute.close(() => resolve());
        }),
    );
    const port = (mute.address() as AddressInfo).port;
    const error = await failure(
      webTarget(`https://${HOST}:${port}/`),
      options({ connectTimeoutMs: 200 }),
    );
    expect(error.code).toBe('ERR_FEDERATION_FETCH_TIMEOUT');
  });

  it('FED-21: an endless body hits the total timeout and the log keeps what was read', async () => {
    webServer.handler = endlessSlowBody(live, 10);
    const error = await failure(webTarget(), options({ totalTimeoutMs: 250 }));
    expect(error.code).toBe('ERR_FEDERATION_FETCH_TIMEOUT');
    expect(error.context.log.status).toBe(200);
    expect(error.context.log.bytes).toBeGreaterThan(0);
  });

  it('an aborted caller signal stops the fetch', async () => {
    webServer.handler = endlessSlowBody(live, 10);
    const controller = new AbortController();
    const pending = failure(webTarget(), options({ signal: controller.signal }));
    setTimeout(() => controller.abort(new Error('shutting down')), 50);
    const error = await pending;
    expect(error.code).toBe('ERR_FEDERATION_FETCH_NETWORK');
    expect(error.message).toContain('shutting down');
  });

  it('FED-27: a failed fetch carries the log of what happened (status, peer)', async () => {
    webServer.handler = status(503);
    const error = await failure(webTarget());
    expect(error.code).toBe('ERR_FEDERATION_FETCH_STATUS');
    expect(error.context.log).toMatchObject({
      url: `${webServer.origin}/bundle`,
      profile: 'https_web',
      status: 503,
      peer: { identity: 'DNS:localhost, IP Address:127.0.0.1' },
    });
  });

  it('https_spiffe without an endpoint ID or bundle is a caller mistake (TypeError)', async () => {
    const { endpointBundle: _b, ...noBundle } = spiffeTarget();
    await expect(fetchBundle({ ...noBundle }, options())).rejects.toThrow(TypeError);
  });
});
