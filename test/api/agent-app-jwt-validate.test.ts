// JWT-SVID validation for agents (POST /v1/agent/jwt/validate): partner tokens against the bundles
// the agent's entry allows (FED-30: one bundle per trust domain, never pooled) and our own.
// Through app.request() on the agent-app fixture.
import { describe, expect, it } from 'vitest';
import { parseSpiffeId } from '../../src/spiffeid/index.js';
import {
  OTHER,
  PARTNER,
  TD,
  call,
  createEntry,
  enrol,
  expectError,
  json,
  otherJwt,
  partnerJwt,
  partnerJwtSvid,
  research,
  solo,
  useAgentAppFixture,
} from './agent-app-fixture.js';

useAgentAppFixture();

describe('POST /v1/agent/jwt/validate', () => {
  it('JWT-16: a partner JWT-SVID validates for an agent whose entry federates with the partner', async () => {
    const agent = await enrol(research);
    const token = await partnerJwtSvid(partnerJwt, {
      sub: `spiffe://${PARTNER}/payments`,
      aud: 'research-api',
    });
    const response = await call('/v1/agent/jwt/validate', {
      body: { token, audience: 'research-api' },
      socket: agent.socket,
    });
    expect(response.status).toBe(200);
    const body = await json<{
      spiffeId: string;
      trustDomain: string;
      audience: string[];
      expiresAt: string;
      claims: Record<string, unknown>;
    }>(response);
    expect(body.spiffeId).toBe(`spiffe://${PARTNER}/payments`);
    expect(body.trustDomain).toBe(PARTNER);
    expect(body.audience).toEqual(['research-api']);
    expect(body.claims['sub']).toBe(`spiffe://${PARTNER}/payments`);
    expect(typeof body.claims['exp']).toBe('number');
    expect(new Date((body.claims['exp'] as number) * 1000).toISOString()).toBe(body.expiresAt);
  });

  it('FED-30/JWT-16: the same token for an agent without the partner → 400 ERR_SVID_JWT_NO_BUNDLE', async () => {
    const agent = await enrol(solo);
    const token = await partnerJwtSvid(partnerJwt, {
      sub: `spiffe://${PARTNER}/payments`,
      aud: 'research-api',
    });
    await expectError(
      await call('/v1/agent/jwt/validate', {
        body: { token, audience: 'research-api' },
        socket: agent.socket,
      }),
      400,
      'ERR_SVID_JWT_NO_BUNDLE',
    );
  });

  it('FED-30/JWT-17: a token claiming the partner but signed with another trusted domain key is refused', async () => {
    // OTHER's key is trusted by the broker, and this entry lists both partners: still only
    // PARTNER's own keys may verify PARTNER's IDs (one bundle per trust domain, never pooled).
    const entry = await createEntry('agents/both', { federatesWith: [PARTNER, OTHER] });
    const agent = await enrol(entry);
    const token = await partnerJwtSvid(otherJwt, {
      sub: `spiffe://${PARTNER}/payments`,
      aud: 'research-api',
    });
    await expectError(
      await call('/v1/agent/jwt/validate', {
        body: { token, audience: 'research-api' },
        socket: agent.socket,
      }),
      400,
      'ERR_SVID_JWT_KID_UNKNOWN',
    );
    // The same key signing an OTHER ID is fine for this agent.
    const own = await partnerJwtSvid(otherJwt, {
      sub: `spiffe://${OTHER}/api`,
      aud: 'research-api',
    });
    const response = await call('/v1/agent/jwt/validate', {
      body: { token: own, audience: 'research-api' },
      socket: agent.socket,
    });
    expect(response.status).toBe(200);
    expect((await json<{ trustDomain: string }>(response)).trustDomain).toBe(OTHER);
  });
});

// POST /v1/agent/jwt/validate, continued: refused tokens, our own tokens and bad bodies.
describe('POST /v1/agent/jwt/validate', () => {
  it('JWT-19: wrong audience → 400 ERR_SVID_JWT_AUD', async () => {
    const agent = await enrol(research);
    const token = await partnerJwtSvid(partnerJwt, {
      sub: `spiffe://${PARTNER}/payments`,
      aud: 'someone-else',
    });
    await expectError(
      await call('/v1/agent/jwt/validate', {
        body: { token, audience: 'research-api' },
        socket: agent.socket,
      }),
      400,
      'ERR_SVID_JWT_AUD',
    );
  });

  it('JWT-10: a malformed token → 400 ERR_SVID_JWT_MALFORMED', async () => {
    const agent = await enrol(solo);
    await expectError(
      await call('/v1/agent/jwt/validate', {
        body: { token: 'not-a-jwt', audience: 'x' },
        socket: agent.socket,
      }),
      400,
      'ERR_SVID_JWT_MALFORMED',
    );
  });

  it('our own JWT-SVID validates for another agent', async () => {
    const issuer = await enrol(research);
    const minted = await call('/v1/agent/jwtsvid', {
      body: { audience: ['solo-api'] },
      socket: issuer.socket,
    });
    const { token } = await json<{ token: string }>(minted);
    const verifier = await enrol(solo);
    const response = await call('/v1/agent/jwt/validate', {
      body: { token, audience: 'solo-api' },
      socket: verifier.socket,
    });
    expect(response.status).toBe(200);
    const body = await json<{ spiffeId: string; trustDomain: string }>(response);
    expect(body.spiffeId).toBe(issuer.spiffeId);
    expect(body.trustDomain).toBe(TD);
    expect(parseSpiffeId(body.spiffeId).trustDomain.name).toBe(TD);
  });

  it.each([
    ['missing token', { audience: 'x' }],
    ['missing audience', { token: 'a.b.c' }],
    ['an audience array', { token: 'a.b.c', audience: ['x'] }],
    ['an empty token', { token: '', audience: 'x' }],
    ['an oversize token', { token: 'a'.repeat(16 * 1024 + 1), audience: 'x' }],
    ['an extra field', { token: 'a.b.c', audience: 'x', trustDomain: PARTNER }],
  ])('%s → 400 ERR_API_VALIDATION', async (_name, body) => {
    const agent = await enrol(solo);
    await expectError(
      await call('/v1/agent/jwt/validate', { body, socket: agent.socket }),
      400,
      'ERR_API_VALIDATION',
    );
  });
});
