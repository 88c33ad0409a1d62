// SPIFFE SDK conformance catalogue §6.3 (JF, fetching JWT-SVIDs) against our harness's
// /v1/jwt/fetch, asserting on the FetchJWTSVID requests the mock Workload API recorded (§2.3).
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJwtKey, type TestJwtKey } from '../helpers/pki.js';
import { TD, claims, mint, startWorld, type World } from './fixtures.js';
import { control } from './suite-client.js';

const OWN = `spiffe://${TD}/harness`;
let world: World;
let key: TestJwtKey;

beforeAll(async () => {
  world = await startWorld();
  key = await createJwtKey('ES256', 'issuer');
}, 60_000);

afterAll(async () => {
  await world?.stop();
});

/** The mock answers with a real JWT-SVID for the requested audience and identity. */
function answerRequests(): void {
  world.api.onFetchJwtSvid((request) => {
    const audience = request['audience'] as string[];
    const requested = String(request['spiffe_id'] ?? '');
    const sub = requested === '' ? OWN : requested;
    return { svids: [{ spiffe_id: sub, svid: issuedFor(sub, audience), hint: '' }] };
  });
}

/** Tokens the mock answers with, by identity and audience list (prepared by each test). */
const tokens = new Map<string, string>();
function issuedFor(sub: string, audience: readonly string[]): string {
  const token = tokens.get(`${sub} ${audience.join(',')}`);
  if (token === undefined) throw new Error(`no token prepared for ${sub} ${audience.join(',')}`);
  return token;
}

async function prepare(sub: string, audience: string[]): Promise<string> {
  const token = await mint(key, sub, { claims: claims(sub, { aud: audience }) });
  tokens.set(`${sub} ${audience.join(',')}`, token);
  return token;
}

const lastRequest = () => world.api.callsOf('FetchJWTSVID').at(-1)?.request;

describe('catalogue §6.3 JF: fetching JWT-SVIDs (MUST unless marked)', () => {
  beforeAll(() => answerRequests());

  it("JF-1: calls FetchJWTSVID with the requested audience and returns the server's token", async () => {
    const token = await prepare(OWN, ['conformance']);
    const answer = await control(world.ports, '/v1/jwt/fetch', {
      audience: ['conformance'],
      spiffe_id: '',
    });
    expect(answer.json).toEqual({ status: 'ok', svids: [{ spiffe_id: OWN, token, hint: '' }] });
    expect(lastRequest()).toEqual({ audience: ['conformance'], spiffe_id: '' });
  });

  it('JF-2: passes several audiences through unchanged', async () => {
    const audience = ['conformance', 'b-other', 'a-third'];
    const token = await prepare(OWN, audience);
    const answer = await control(world.ports, '/v1/jwt/fetch', { audience, spiffe_id: '' });
    expect(answer.json).toMatchObject({ status: 'ok', svids: [{ spiffe_id: OWN, token }] });
    expect(lastRequest()?.['audience']).toEqual(audience);
  });

  it('JF-3 (OPT): passes spiffe_id through when one is requested', async () => {
    const other = `spiffe://${TD}/other`;
    const token = await prepare(other, ['conformance']);
    const answer = await control(world.ports, '/v1/jwt/fetch', {
      audience: ['conformance'],
      spiffe_id: other,
    });
    expect(answer.json).toMatchObject({ status: 'ok', svids: [{ spiffe_id: other, token }] });
    expect(lastRequest()).toEqual({ audience: ['conformance'], spiffe_id: other });
  });

  it('JF-4 (OPT): reports PermissionDenied as an error instead of returning a stale token', async () => {
    const body = { audience: ['conformance'], spiffe_id: '' };
    expect((await control(world.ports, '/v1/jwt/fetch', body)).json['status']).toBe('ok');
    const before = world.api.callsOf('FetchJWTSVID').length;
    world.api.refuse('FetchJWTSVID', () => ({ code: grpc.status.PERMISSION_DENIED }));
    try {
      const denied = await control(world.ports, '/v1/jwt/fetch', body);
      expect([denied.status, denied.json['status'], denied.json['svids']]).toEqual([
        500,
        'error',
        undefined,
      ]);
      const calls = world.api.callsOf('FetchJWTSVID');
      expect(calls).toHaveLength(before + 1);
      expect(calls.at(-1)?.status).toBe(grpc.status.PERMISSION_DENIED);
    } finally {
      world.api.refuse('FetchJWTSVID', undefined);
    }
  });
});
