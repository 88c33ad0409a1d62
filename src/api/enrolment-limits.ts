// Enrolment (POST /v1/agent/attest) is open to anyone: what a caller without a valid join token
// can make it do is counted per source address as it happens. A refused token and a refused CSR
// (whose check runs before the token is looked at) both count; past the limit the address gets 429.
import type { Ca, CheckedCsr } from '../ca/index.js';
import { isBrokerError } from '../errors.js';
import type { Registration } from '../registration/index.js';
import type { Logger } from '../log.js';
import type { FailedAuthLimiter } from './auth-limit.js';
import { rateLimited } from './auth.js';

export interface EnrolmentDeps {
  readonly ca: Pick<Ca, 'checkCsr'>;
  readonly registration: Pick<Registration, 'enrol'>;
  readonly logger: Pick<Logger, 'warn'>;
}

/** Enrols with a join token; a refused token counts against `source` (429 once past its limit). */
export async function enrolCounted(
  deps: EnrolmentDeps,
  limiter: FailedAuthLimiter,
  source: string,
  joinToken: string,
): ReturnType<Registration['enrol']> {
  try {
    return await deps.registration.enrol(joinToken);
  } catch (error) {
    if (!isBrokerError(error) || error.code !== 'ERR_REGISTRATION_TOKEN_INVALID') throw error;
    const retryMs = limiter.fail(source);
    deps.logger.warn('agent enrolment refused: join token not valid', {
      source,
      limited: retryMs > 0,
    });
    throw retryMs > 0 ? rateLimited(retryMs) : error;
  }
}

/** CSR refusals that cost a signature check or a key import; each counts like a refused token. */
const COUNTED_CSR_CODES: ReadonlySet<string> = new Set([
  'ERR_CA_CSR_INVALID',
  'ERR_CA_CSR_SIGNATURE',
  'ERR_CA_KEY_UNSUPPORTED',
]);

/**
 * The CSR's proof of possession, checked before a join token is spent; a refused CSR counts against
 * `source` like a refused token (429 once past its limit), so a caller without a token cannot have
 * us check signatures without end.
 */
export async function checkCsrCounted(
  deps: EnrolmentDeps,
  limiter: FailedAuthLimiter,
  source: string,
  der: Buffer,
): Promise<CheckedCsr> {
  try {
    return await deps.ca.checkCsr(der);
  } catch (error) {
    if (!isBrokerError(error) || !COUNTED_CSR_CODES.has(error.code)) throw error;
    const retryMs = limiter.fail(source);
    deps.logger.warn('agent enrolment refused: csr not accepted', {
      source,
      code: error.code,
      limited: retryMs > 0,
    });
    throw retryMs > 0 ? rateLimited(retryMs) : error;
  }
}
