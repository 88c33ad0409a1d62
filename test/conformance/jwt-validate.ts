// The catalogue's JWT validation calls (HARNESS_CONTRACT §4.2): validate through the control port,
// and the positive control every negative case runs first (TEST_CATALOGUE §2.1).
import { expect } from 'vitest';
import { AUDIENCE } from './fixtures.js';
import { control, type Ports } from './suite-client.js';

export async function validate(ports: Ports, token: string, audience = AUDIENCE) {
  return control(ports, '/v1/jwt/validate', { token, audience });
}

/** The harness accepts `token` and reports `sub` as its SPIFFE ID. */
export async function expectAccepted(ports: Ports, token: string, sub: string): Promise<void> {
  const answer = await validate(ports, token);
  expect([answer.status, answer.json['status'], answer.json['spiffe_id']]).toEqual([
    200,
    'ok',
    sub,
  ]);
}

/** A positive control (`good` accepted), then `token` answered `422 rejected` (never 500). */
export async function expectRejected(
  ports: Ports,
  good: { token: string; sub: string },
  token: string,
): Promise<void> {
  await expectAccepted(ports, good.token, good.sub);
  const answer = await validate(ports, token);
  expect([answer.status, answer.json['status']]).toEqual([422, 'rejected']);
}
