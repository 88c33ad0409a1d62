// The shipping dispatch service and the calls to it: an mTLS server that accepts logistics callers
// and insists on a JWT-SVID for its audience naming the same caller, and the client side of a call.
import type { IncomingMessage, ServerResponse } from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import {
  authorizeMemberOf,
  createMtlsHttpsServer,
  peerIdOf,
  peerOf,
  tlsClientOptions,
  type Agent,
  type TrustDomain,
  type X509Source,
} from '../src/agent/index.js';
import { describeAgent } from './agents.js';
import { servers } from './processes.js';
import { detail, expect, instanceOf, messageOf, pass, short } from './report.js';
import { AUDIENCE, CALL_TIMEOUT_MS, LOGISTICS } from './settings.js';
import { within } from './wait.js';

export interface DispatchAnswer {
  server: { spiffeId: string; instanceId: string | null };
  caller: { spiffeId: string; instanceId: string; x509Authority: string; jwtKid: string };
  pickup: string;
}

interface CallResult {
  readonly status: number;
  readonly body: string;
  /** The server's SPIFFE ID as authenticated by the client's mTLS helper. */
  readonly server: string | undefined;
}

/** A TLS handshake the dispatch server refused, as its `tlsClientError` event reported it. */
export interface Refusal {
  code: string;
  svidCode: string | undefined;
  message: string;
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

/** The dispatch agent's request handler: mTLS identity, then the JWT-SVID, which must match it. */
function dispatchHandler(dispatch: Agent) {
  return (request: IncomingMessage, response: ServerResponse): void => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      void (async () => {
        const peer = peerOf(request.socket);
        if (peer === undefined) return sendJson(response, 401, { error: 'no mtls peer' });
        const caller = peer.spiffeId.toString();
        const bearer = /^Bearer (\S+)$/.exec(request.headers.authorization ?? '')?.[1];
        if (bearer === undefined) return sendJson(response, 401, { error: 'no JWT-SVID' });
        let jwtSubject: string;
        let jwtKid: string;
        try {
          const validated = await dispatch.validateJwtSvid(bearer, AUDIENCE);
          jwtSubject = validated.spiffeId.toString();
          jwtKid = validated.authority.kid;
        } catch (error) {
          const code = (error as { code?: string }).code ?? 'unknown';
          detail(`dispatch refused a JWT-SVID from ${caller}: ${code}`);
          return sendJson(response, 401, { error: code });
        }
        if (jwtSubject !== caller) {
          return sendJson(response, 403, { error: `JWT-SVID is for ${jwtSubject}, not ${caller}` });
        }
        const order = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as {
          shipment?: string;
        };
        detail(
          `dispatch (${describeAgent(dispatch)})\n` +
            `  ← talking to ${caller} (instance ${instanceOf(caller)})\n` +
            `    mTLS X509-SVID signed by ${LOGISTICS} authority ${short(peer.svid.authority.fingerprintSha256)}, ` +
            `JWT-SVID sub matches, key ${jwtKid}`,
        );
        sendJson(response, 200, {
          server: {
            spiffeId: dispatch.spiffeId.toString(),
            instanceId: dispatch.x509Svid().instanceId,
          },
          caller: {
            spiffeId: caller,
            instanceId: instanceOf(caller),
            x509Authority: peer.svid.authority.fingerprintSha256,
            jwtKid,
          },
          pickup: `pickup booked for ${order.shipment ?? '?'}`,
        } satisfies DispatchAnswer);
      })().catch((error: unknown) => sendJson(response, 500, { error: messageOf(error) }));
    });
  };
}

/**
 * Serves dispatch on an ephemeral loopback port to members of `callers` only. The handshakes it
 * refuses are collected in `refusals`, so step 5 can show why the saas assistant was turned away.
 */
export async function serveDispatch(
  dispatch: Agent,
  callers: TrustDomain,
): Promise<{ port: number; refusals: Refusal[] }> {
  const refusals: Refusal[] = [];
  const server = createMtlsHttpsServer(
    dispatch,
    authorizeMemberOf(callers),
    dispatchHandler(dispatch),
  );
  servers.push(server);
  server.on('tlsClientError', (error: Error & { code?: string; context?: unknown }) => {
    const context = error.context as { svidCode?: string } | undefined;
    refusals.push({
      code: error.code ?? 'unknown',
      svidCode: context?.svidCode,
      message: error.message,
    });
  });
  const port = await new Promise<number>((done, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => done((server.address() as AddressInfo).port));
  });
  return { port, refusals };
}

/** POSTs to the dispatch service over mTLS (server must be in shipping.example) with a JWT-SVID. */
export async function callDispatch(
  agent: X509Source & { jwtSvid(audience: string): Promise<{ token: string }> },
  port: number,
  shipping: TrustDomain,
  audience = AUDIENCE,
): Promise<CallResult> {
  const jwt = await agent.jwtSvid(audience);
  const body = JSON.stringify({ shipment: 'SHP-2026-1142' });
  return within(
    new Promise<CallResult>((done, reject) => {
      const request = https.request(
        {
          ...tlsClientOptions(agent, authorizeMemberOf(shipping), { timeoutMs: CALL_TIMEOUT_MS }),
          host: '127.0.0.1',
          port,
          method: 'POST',
          path: '/v1/pickups',
          headers: {
            authorization: `Bearer ${jwt.token}`,
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
          },
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () =>
            done({
              status: response.statusCode ?? 0,
              body: Buffer.concat(chunks).toString('utf8'),
              server: peerIdOf(response.socket)?.toString(),
            }),
          );
          response.on('error', reject);
        },
      );
      request.on('error', reject);
      request.end(body);
    }),
    CALL_TIMEOUT_MS * 2,
    'call to dispatch',
  );
}

/** Calls dispatch as the planner and checks both sides named each other correctly. */
export async function plannerCalls(
  step: string,
  planner: Agent,
  dispatch: Agent,
  port: number,
  shipping: TrustDomain,
): Promise<DispatchAnswer> {
  const result = await callDispatch(planner, port, shipping);
  expect(result.status === 200, `dispatch answered HTTP ${result.status}: ${result.body}`);
  const answer = JSON.parse(result.body) as DispatchAnswer;
  const plannerSvid = planner.x509Svid();
  expect(
    result.server === dispatch.spiffeId.toString(),
    `planner authenticated the server as ${result.server ?? 'nobody'}`,
  );
  expect(
    answer.caller.spiffeId === plannerSvid.spiffeId.toString() &&
      answer.caller.instanceId === plannerSvid.instanceId,
    `dispatch saw caller ${answer.caller.spiffeId}`,
  );
  detail(
    `planner (${describeAgent(planner)})\n` +
      `  → talking to ${result.server} (instance ${instanceOf(result.server ?? '')})\n` +
      `    answer: "${answer.pickup}" for caller ${answer.caller.spiffeId} (instance ${answer.caller.instanceId})`,
  );
  pass(
    step,
    `planner ${plannerSvid.spiffeId.toString()} (instance ${plannerSvid.instanceId}) → dispatch ` +
      `${answer.server.spiffeId} (instance ${answer.server.instanceId}): mTLS both ways + JWT-SVID, HTTP 200`,
  );
  return answer;
}
