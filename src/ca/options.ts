// CA options, their SPIRE-like defaults (CA 24 h, X509-SVID 1 h, JWT-SVID 5 min, hint 300 s) and
// the checks that keep rotation sound: the lead time and a full SVID must fit in half a CA lifetime.
import { availableParallelism } from 'node:os';
import { CaError } from '../errors.js';
import { parseTrustDomain, TrustDomain } from '../spiffeid/index.js';
import { isKeyType, type KeyType } from './key-type.js';
import { ACTIVATION_LEAD_REFRESH_HINTS } from './rotation.js';

export interface CaOptions {
  readonly trustDomain: TrustDomain | string;
  /** Broker data directory; the CA keeps its keys and state under `<dataDir>/ca/`. */
  readonly dataDir: string;
  readonly keyType?: KeyType;
  /** Key type of JWT signing keys; defaults to keyType. */
  readonly jwtKeyType?: KeyType;
  readonly caTtlSeconds?: number;
  readonly x509SvidTtlSeconds?: number;
  readonly maxX509SvidTtlSeconds?: number;
  readonly jwtSvidTtlSeconds?: number;
  readonly maxJwtSvidTtlSeconds?: number;
  /** `spiffe_refresh_hint` of our bundle (FED-52). */
  readonly refreshHintSeconds?: number;
  /** Upstream mode: the operator's CA certificate (+ chain) and key, PEM files. */
  readonly upstream?: { readonly certFile: string; readonly keyFile: string };
  /**
   * Worker threads that check CSR signatures when several issuances are under way (1..64). Default:
   * one per core, the fastest for callers in the same process. The broker passes one fewer (see
   * `ca.csrCheckWorkers` in the config schema), keeping a core for the event loop that serves TLS.
   */
  readonly csrCheckWorkers?: number;
  /**
   * X509-14: our CA certificates carry URI name constraints permitting the trust domain only.
   * Off by default: many X.509 stacks refuse certificates with URI name constraints.
   */
  readonly uriNameConstraints?: boolean;
}

export interface ResolvedCaOptions {
  readonly trustDomain: TrustDomain;
  readonly dataDir: string;
  readonly keyType: KeyType;
  readonly jwtKeyType: KeyType;
  readonly caTtlSeconds: number;
  readonly x509SvidTtlSeconds: number;
  readonly maxX509SvidTtlSeconds: number;
  readonly jwtSvidTtlSeconds: number;
  readonly maxJwtSvidTtlSeconds: number;
  readonly refreshHintSeconds: number;
  readonly upstream: { readonly certFile: string; readonly keyFile: string } | undefined;
  readonly csrCheckWorkers: number;
  readonly uriNameConstraints: boolean;
}

export const CA_DEFAULTS = Object.freeze({
  keyType: 'ec-p256' as KeyType,
  caTtlSeconds: 24 * 3600,
  x509SvidTtlSeconds: 3600,
  maxX509SvidTtlSeconds: 24 * 3600,
  jwtSvidTtlSeconds: 300,
  maxJwtSvidTtlSeconds: 3600,
  refreshHintSeconds: 300,
});

function configError(message: string): CaError {
  return new CaError('ERR_CA_CONFIG', message);
}

function seconds(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) {
    throw configError(`${name} must be a positive whole number of seconds, got ${String(v)}`);
  }
  return v;
}

export function resolveCaOptions(options: CaOptions): ResolvedCaOptions {
  if (typeof options !== 'object' || options === null) throw new TypeError('options are required');
  let trustDomain: TrustDomain;
  if (options.trustDomain instanceof TrustDomain) {
    trustDomain = options.trustDomain;
  } else {
    try {
      trustDomain = parseTrustDomain(options.trustDomain);
    } catch (cause) {
      throw new CaError('ERR_CA_CONFIG', 'trustDomain is not a valid trust domain name', { cause });
    }
  }
  if (typeof options.dataDir !== 'string' || options.dataDir === '') {
    throw configError('dataDir is required');
  }
  const keyType = options.keyType ?? CA_DEFAULTS.keyType;
  const jwtKeyType = options.jwtKeyType ?? keyType;
  for (const [name, value] of [
    ['keyType', keyType],
    ['jwtKeyType', jwtKeyType],
  ] as const) {
    if (!isKeyType(value)) {
      throw configError(`${name} "${String(value)}" is not ec-p256, ec-p384, rsa-2048 or rsa-4096`);
    }
  }
  const caTtlSeconds = seconds('caTtlSeconds', options.caTtlSeconds, CA_DEFAULTS.caTtlSeconds);
  const maxX509SvidTtlSeconds = seconds(
    'maxX509SvidTtlSeconds',
    options.maxX509SvidTtlSeconds,
    Math.min(CA_DEFAULTS.maxX509SvidTtlSeconds, caTtlSeconds),
  );
  const maxJwtSvidTtlSeconds = seconds(
    'maxJwtSvidTtlSeconds',
    options.maxJwtSvidTtlSeconds,
    Math.min(CA_DEFAULTS.maxJwtSvidTtlSeconds, caTtlSeconds),
  );
  const x509SvidTtlSeconds = seconds(
    'x509SvidTtlSeconds',
    options.x509SvidTtlSeconds,
    Math.min(CA_DEFAULTS.x509SvidTtlSeconds, maxX509SvidTtlSeconds),
  );
  const jwtSvidTtlSeconds = seconds(
    'jwtSvidTtlSeconds',
    options.jwtSvidTtlSeconds,
    Math.min(CA_DEFAULTS.jwtSvidTtlSeconds, maxJwtSvidTtlSeconds),
  );
  const refreshHintSeconds = seconds(
    'refreshHintSeconds',
    options.refreshHintSeconds,
    CA_DEFAULTS.refreshHintSeconds,
  );
  if (x509SvidTtlSeconds > maxX509SvidTtlSeconds) {
    throw configError('x509SvidTtlSeconds exceeds maxX509SvidTtlSeconds');
  }
  if (jwtSvidTtlSeconds > maxJwtSvidTtlSeconds) {
    throw configError('jwtSvidTtlSeconds exceeds maxJwtSvidTtlSeconds');
  }
  // The successor is prepared at half-life and activated after the FED-50 lead time; the current
  // authority must still cover a full default-TTL SVID then (longer requests are cut at its notAfter).
  const lead = ACTIVATION_LEAD_REFRESH_HINTS * refreshHintSeconds;
  const needed = 2 * (lead + Math.max(x509SvidTtlSeconds, jwtSvidTtlSeconds));
  if (caTtlSeconds < needed) {
    throw configError(
      `caTtlSeconds ${caTtlSeconds} is too short: rotation needs at least 2 × (5 × refresh hint + svid ttl) = ${needed} s`,
    );
  }
  const csrCheckWorkers = options.csrCheckWorkers ?? availableParallelism();
  if (!Number.isSafeInteger(csrCheckWorkers) || csrCheckWorkers < 1 || csrCheckWorkers > 64) {
    throw configError(
      `csrCheckWorkers must be a whole number from 1 to 64, got ${String(csrCheckWorkers)}`,
    );
  }
  if (options.upstream !== undefined) {
    const { certFile, keyFile } = options.upstream;
    if (typeof certFile !== 'string' || typeof keyFile !== 'string' || !certFile || !keyFile) {
      throw configError('upstream needs certFile and keyFile');
    }
  }
  return Object.freeze({
    trustDomain,
    dataDir: options.dataDir,
    keyType,
    jwtKeyType,
    caTtlSeconds,
    x509SvidTtlSeconds,
    maxX509SvidTtlSeconds,
    jwtSvidTtlSeconds,
    maxJwtSvidTtlSeconds,
    refreshHintSeconds,
    upstream: options.upstream === undefined ? undefined : { ...options.upstream },
    csrCheckWorkers,
    uriNameConstraints: options.uriNameConstraints === true,
  });
}
