// SPIFFE-RULES FED-5, FED-6, FED-10, FED-18 and BUNDLE-2 on real brokers over TLS on 127.0.0.1:
// a.test (https_spiffe) is trusted by b.test only, c.test serves its endpoint with https_web.
import { generateKeyPairSync } from 'node:crypto';
import { once } from 'node:events';
import { connect, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { marshalBundle, parseBundle } from '../../src/bundle/index.js';
import { parseConfig } from '../../src/config/index.js';
import type { Broker } from '../../src/main.js';
import { parseTrustDomain } from '../../src/spiffeid/index.js';
import { validateJwtSvid, verifyX509Svid } from '../../src/svid/index.js';
import { admin, startTestBroker } from '../helpers/broker.js';
import { codeOf, codeOfSync } from '../helpers/error-code.js';
import { createWebPki } from '../helpers/web-pki.js';

let a: Broker;
let b: Broker;
let c: Broker;

/** `to` gets a relationship to `from` (invite from `from`, accepted and approved on `to`). */
async function trust(from: Broker, to: Broker): Promise<void> {
  const invite = await admin<{ trustDomain: string }>(from, 'POST', '/v1/admin/invites', {});
  expect(invite.status).toBe(201);
  const accepted = await admin(to, 'POST', '/v1/admin/invites/accept', {
    invite: JSON.stringify(invite.body),
  });
  expect(accepted.status).toBe(201);
  const path = `/v1/admin/relationships/${invite.body.trustDomain}/approve`;
  expect((await admin(to, 'POST', path, { reason: 'rules' })).status).toBe(200);
}

async function mint(broker: Broker) {
  const spiffeId = `spiffe://${broker.ca.trustDomain.name}/w`;
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const x509 = await broker.ca.issueX509Svid({ spiffeId, publicKey });
  const jwt = await broker.ca.issueJwtSvid({ spiffeId, audience: ['api'] });
  return { chain: x509.chainDer, token: jwt.token };
}

/** The certificate a bundle endpoint presents (no verification: only what it shows is read). */
async function endpointCertificate(broker: Broker) {
  const url = new URL(broker.bundleEndpointUrl);
  const socket: TLSSocket = connect({
    host: url.hostname,
    port: Number(url.port),
    rejectUnauthorized: false,
  });
  await once(socket, 'secureConnect');
  const cert = socket.getPeerX509Certificate();
  socket.destroy();
  if (cert === undefined) throw new Error('no certificate');
  return cert;
}

/** GET of a broker's bundle endpoint, trusting nothing (only the body is read). */
async function servedBody(broker: Broker, path = '/'): Promise<string> {
  const url = new URL(path, broker.bundleEndpointUrl);
  const socket: TLSSocket = connect({
    host: url.hostname,
    port: Number(url.port),
    rejectUnauthorized: false,
  });
  await once(socket, 'secureConnect');
  socket.end(`GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
  const chunks: Buffer[] = [];
  for await (const chunk of socket) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  expect(text.startsWith('HTTP/1.1 200')).toBe(true);
  return text.slice(text.indexOf('\r\n\r\n') + 4);
}

beforeAll(async () => {
  const web = createWebPki();
  [a, b, c] = await Promise.all([
    startTestBroker({ trustDomain: 'a.test' }),
    startTestBroker({ trustDomain: 'b.test' }),
    startTestBroker({ trustDomain: 'c.test', profile: 'https_web', webPki: web }),
  ]);
  await trust(a, b);
  const refreshed = await b.federation.refresh('a.test');
  expect(refreshed.error).toBeUndefined();
});

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop(), c?.stop()]);
});

describe('relationships (FED-5, FED-6)', () => {
  it("FED-5: b.test's relationship to a.test lets b.test validate a.test SVIDs, and not the reverse", async () => {
    const fromA = await mint(a);
    const fromB = await mint(b);
    expect(verifyX509Svid(fromA.chain, b.federation).spiffeId.toString()).toBe('spiffe://a.test/w');
    expect(
      validateJwtSvid(fromA.token, b.federation, { audience: 'api' }).spiffeId.toString(),
    ).toBe('spiffe://a.test/w');
    // a.test configured nothing: b.test's SVIDs do not validate there (mutual needs both sides).
    expect(await codeOf(a.federation.get('b.test'))).toBe('ERR_FEDERATION_RELATIONSHIP_NOT_FOUND');
    expect(codeOfSync(() => verifyX509Svid(fromB.chain, a.federation))).toBe('ERR_SVID_NO_BUNDLE');
    expect(codeOfSync(() => validateJwtSvid(fromB.token, a.federation, { audience: 'api' }))).toBe(
      'ERR_SVID_JWT_NO_BUNDLE',
    );
  });

  it('FED-6: a relationship chain (endpoint SPIFFE ID in another trust domain) is refused at configuration', async () => {
    const bootstrap = marshalBundle(a.ca.localBundle()).toString('utf8');
    const code = await codeOf(
      b.federation.create(
        {
          trustDomain: 'd.test',
          url: 'https://127.0.0.1:9/bundle',
          profile: 'https_spiffe',
          endpointSpiffeId: 'spiffe://a.test/spiffe/bundle-endpoint',
          bootstrapBundle: bootstrap,
        },
        { actor: 'test' },
      ),
    );
    expect(code).toBe('ERR_FEDERATION_RELATIONSHIP_INVALID');
    expect(await codeOf(b.federation.get('d.test'))).toBe('ERR_FEDERATION_RELATIONSHIP_NOT_FOUND');
  });
});

describe('our bundle endpoint (FED-10, FED-18, BUNDLE-2)', () => {
  it('FED-10: the https_spiffe listener presents our X509-SVID, the https_web one the configured web certificate', async () => {
    const spiffe = await endpointCertificate(a);
    expect(spiffe.subjectAltName).toBe('URI:spiffe://a.test/spiffe/bundle-endpoint');
    expect(() => verifyX509Svid([spiffe.raw], a.ca.localBundle())).not.toThrow();
    const web = await endpointCertificate(c);
    expect(web.subjectAltName).not.toContain('URI:spiffe://');
    expect(web.subjectAltName).toContain('IP Address:127.0.0.1');
  });

  it("FED-18: b.test serves its own bundle only, byte for byte, whatever the path, though it holds a.test's", async () => {
    expect(b.federation.getBundleForTrustDomain(parseTrustDomain('a.test'))).toBeDefined();
    const own = marshalBundle(b.ca.localBundle()).toString('utf8');
    const aAnchors = a.ca.localBundle().x509Authorities.map((x) => x.fingerprintSha256);
    for (const path of ['/', '/a.test', '/?trust_domain=a.test']) {
      const body = await servedBody(b, path);
      expect(body).toBe(own);
      const served = parseBundle(body, parseTrustDomain('b.test'));
      for (const anchor of served.x509Authorities) {
        expect(aAnchors).not.toContain(anchor.fingerprintSha256);
      }
    }
    // No relay setting exists: the configuration refuses one.
    expect(() => parseConfig({ trustDomain: 'b.test', bundleEndpoint: {} })).not.toThrow();
    expect(
      codeOfSync(() =>
        parseConfig({ trustDomain: 'b.test', bundleEndpoint: { relay: ['a.test'] } }),
      ),
    ).toBe('ERR_CONFIG_INVALID');
  });

  it('BUNDLE-2: the served bundle carries public key material only and no signature of its own', async () => {
    const doc = JSON.parse(await servedBody(a)) as Record<string, unknown> & {
      keys: Record<string, unknown>[];
    };
    expect(Object.keys(doc).sort()).toEqual(['keys', 'spiffe_refresh_hint', 'spiffe_sequence']);
    const publicMembers = new Set(['kty', 'use', 'kid', 'crv', 'x', 'y', 'n', 'e', 'x5c']);
    expect(doc.keys.length).toBeGreaterThanOrEqual(2);
    for (const key of doc.keys) {
      for (const member of Object.keys(key)) expect(publicMembers).toContain(member);
    }
  });
});
