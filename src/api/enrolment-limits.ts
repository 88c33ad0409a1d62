// Enrolment (POST /v1/agent/attest) is open to anyone: what a caller without a valid join token
// can make it do is counted per source address as it happens. A refused token, a token lookup the
// store could not answer (503: it still cost a store call) and a refused CSR (whose check runs before
// the token is looked at) all count; past the limit the address gets 429.
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

/** Failures of one enrolment step that count against the source: code -> how the log names it. */
type CountedRefusal = ReadonlyMap<string, string>;

/**
 * A refused token, and a lookup the store could not answer: without the latter, a caller with
 * bogus tokens could keep a stalled store's connection busy without ever being limited.
 */
const TOKEN_REFUSED: CountedRefusal = new Map([
  ['ERR_REGISTRATION_TOKEN_INVALID', 'join token not valid'],
  ['ERR_STORE_UNAVAILABLE', 'store unavailable'],
]);

/** CSR refusals that cost a signature check or a key import. */
const CSR_REFUSED: CountedRefusal = new Map(
  ['ERR_CA_CSR_INVALID', 'ERR_CA_CSR_SIGNATURE', 'ERR_CA_KEY_UNSUPPORTED'].map((code) => [
    code,
    'csr not accepted',
  ]),
);

/**
 * Runs one step of an enrolment; a `refusal` counts against `source` and is logged, and once the
 * source is past its limit it becomes 429. Anything else is rethrown as it is.
 */
async function counted<T>(
  deps: EnrolmentDeps,
  limiter: FailedAuthLimiter,
  source: string,
  refusal: CountedRefusal,
  step: () => Promise<T>,
): Promise<T> {
  try {
    return await step();
  } catch (error) {
    if (!isBrokerError(error)) throw error;
    const what = refusal.get(error.code);
    if (what === undefined) throw error;
    const retryMs = limiter.fail(source);
    deps.logger.warn(`agent enrolment refused: ${what}`, {
      source,
      code: error.code,
      limited: retryMs > 0,
    });
    throw retryMs > 0 ? rateLimited(retryMs) : error;
  }
}

/**
 * Enrols with a join token; a refused token, or one the store could not look up, counts against
 * `source` (429 once past its limit).
 */
export function enrolCounted(
  deps: EnrolmentDeps,
  limiter: FailedAuthLimiter,
  source: string,
  joinToken: string,
): ReturnType<Registration['enrol']> {
  return counted(deps, limiter, source, TOKEN_REFUSED, () => deps.registration.enrol(joinToken));
}

/**
 * The CSR's proof of possession, checked before a join token is spent; a refused CSR counts against
 * `source` like a refused token (429 once past its limit), so a caller without a token cannot have
 * us check signatures without end.
 */
export function checkCsrCounted(
  deps: EnrolmentDeps,
  limiter: FailedAuthLimiter,
  source: string,
  der: Buffer,
): Promise<CheckedCsr> {
  return counted(deps, limiter, source, CSR_REFUSED, () => deps.ca.checkCsr(der));
}
