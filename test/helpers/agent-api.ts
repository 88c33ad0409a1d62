// A raw client for the broker's agent API over real TLS (node:https, no SDK): the broker's
// certificate must chain to the given anchors and carry exactly the expected SPIFFE ID; enrolment
// with a join token and a CSR, then mTLS with the X509-SVID the broker issued.
import type { KeyObject } from 'node:crypto';
import { request } from 'node:https';
import type { PeerCertificate } from 'node:tls';
import { csrPem, newKeyAndCsr } from '../../src/agent/csr.js';
import { marshalPem, parseBundle, type Bundle } from '../../src/bundle/index.js';
import { parseTrustDomain } from '../../src/spiffeid/index.js';

export interface AgentApiResponse {
  readonly status: number;
  readonly text: string;
  /** Parsed JSON body, or undefined when the body is not JSON. */
  readonly json: Record<string, unknown> | undefined;
}

/** What the broker must be, and who we are (absent before enrolment). */
export interface AgentTls {
  /** PEM of the X.509 authorities that must anchor the broker's certificate. */
  readonly anchorsPem: string;
  /** The SPIFFE ID the agent API certificate must carry (its only URI SAN). */
  readonly serverSpiffeId: string;
  readonly client?: { readonly certPem: string; readonly keyPem: string };
}

/** An X509-SVID issued by the agent API, with the key generated here. */
export interface IssuedSvid {
  readonly spiffeId: string;
  readonly chainDer: Buffer[];
  readonly certPem: string;
  readonly keyPem: string;
  readonly body: Record<string, unknown>;
}

/** PEM of a bundle's X.509 authorities (trust anchors for node:tls). */
export function anchorsOf(bundle: Bundle): string {
  return marshalPem(bundle.x509Authorities.map((a) => a.der));
}

/** Parses SPIFFE bundle JSON text for `trustDomain`. */
export function bundleFromJson(text: string, trustDomain: string): Bundle {
  return parseBundle(text, parseTrustDomain(trustDomain));
}

/** The URI SANs of a peer certificate as node reports them. */
function uriSans(cert: PeerCertificate): string[] {
  return (cert.subjectaltname ?? '')
    .split(', ')
    .filter((name) => name.startsWith('URI:'))
    .map((name) => name.slice(4));
}

/** One request to the agent API; rejects on TLS failures (an untrusted broker) or after 10 s. */
export function agentApi(
  baseUrl: string,
  method: string,
  path: string,
  tls: AgentTls,
  body?: unknown,
): Promise<AgentApiResponse> {
  const url = new URL(path, baseUrl);
  // A Buffer is sent as it is (raw JSON text a test could not build with JSON.stringify).
  const payload =
    body === undefined
      ? undefined
      : Buffer.isBuffer(body)
        ? body
        : Buffer.from(JSON.stringify(body), 'utf8');
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        agent: false,
        ca: tls.anchorsPem,
        rejectUnauthorized: true,
        // The broker is identified by its SPIFFE ID, not a host name (X509-28).
        checkServerIdentity: (_host, cert) => {
          const uris = uriSans(cert);
          return uris.length === 1 && uris[0] === tls.serverSpiffeId
            ? undefined
            : new Error(`agent API presented ${JSON.stringify(uris)}, not ${tls.serverSpiffeId}`);
        },
        ...(tls.client === undefined ? {} : { cert: tls.client.certPem, key: tls.client.keyPem }),
        headers: {
          accept: 'application/json',
          ...(payload === undefined
            ? {}
            : { 'content-type': 'application/json', 'content-length': payload.length }),
        },
        timeout: 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: Record<string, unknown> | undefined;
          try {
            json = JSON.parse(text) as Record<string, unknown>;
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, text, json });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within 10 s`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/** A fresh key and its CSR (PEM) for an attest or renewal request. */
export function keyAndCsr(): { privateKey: KeyObject; csr: string } {
  const { privateKey, csrDer } = newKeyAndCsr();
  return { privateKey, csr: csrPem(csrDer) };
}

function svidFrom(body: Record<string, unknown> | undefined, privateKey: KeyObject): IssuedSvid {
  const x509 = body?.['x509Svid'] as { chain?: unknown } | undefined;
  const chain = x509?.chain;
  if (!Array.isArray(chain) || chain.length === 0) {
    throw new Error(`no X509-SVID in ${JSON.stringify(body)}`);
  }
  const chainDer = (chain as string[]).map((c) => Buffer.from(c, 'base64'));
  return {
    spiffeId: String(body?.['spiffeId']),
    chainDer,
    certPem: marshalPem(chainDer),
    keyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    body: body ?? {},
  };
}

/** POST /v1/agent/attest with a join token; throws with the broker's answer unless 200. */
export async function attest(
  baseUrl: string,
  tls: AgentTls,
  joinToken: string,
): Promise<IssuedSvid> {
  const { privateKey, csr } = keyAndCsr();
  const response = await agentApi(baseUrl, 'POST', '/v1/agent/attest', tls, { joinToken, csr });
  if (response.status !== 200) throw new Error(`attest: ${response.status} ${response.text}`);
  return svidFrom(response.json, privateKey);
}

/** POST /v1/agent/x509svid over mTLS with `svid`; returns the raw answer and, on 200, the new SVID. */
export async function renew(
  baseUrl: string,
  tls: AgentTls,
  svid: Pick<IssuedSvid, 'certPem' | 'keyPem'>,
): Promise<{ response: AgentApiResponse; svid: IssuedSvid | undefined }> {
  const { privateKey, csr } = keyAndCsr();
  const response = await agentApi(
    baseUrl,
    'POST',
    '/v1/agent/x509svid',
    { ...tls, client: { certPem: svid.certPem, keyPem: svid.keyPem } },
    { csr },
  );
  return {
    response,
    svid: response.status === 200 ? svidFrom(response.json, privateKey) : undefined,
  };
}

/** The `error.code` of a broker error body. */
export function errorCode(response: AgentApiResponse): string | undefined {
  const error = response.json?.['error'] as { code?: unknown } | undefined;
  return typeof error?.code === 'string' ? error.code : undefined;
}
