// Counting wrappers wired in main.ts, so the wrapped rooms stay free of metrics: partner refresh
// outcomes, SVIDs signed by the CA, failing store calls and the time of each audit append.
import type { Ca } from '../../ca/index.js';
import { isBrokerError } from '../../errors.js';
import type { FederationDeps } from '../../federation/index.js';
import type { BrokerMetrics } from './broker-metrics.js';

/** Counts refresh attempts by result. Refreshes the service starts itself (unknown key) are not seen. */
export function countBundleFetches(
  metrics: BrokerMetrics,
): NonNullable<FederationDeps['onRefreshed']> {
  return (trustDomain, outcome) => {
    metrics.bundleFetches.inc({
      trust_domain: trustDomain,
      result: outcome.ok ? 'success' : 'failure',
    });
    if (!outcome.ok) {
      metrics.bundleFetchFailures.inc({
        trust_domain: trustDomain,
        code: outcome.error?.code ?? 'unknown',
      });
    }
  };
}

/** Counts SVIDs signed, whoever asks (admin API, agent API, the bundle endpoint's own SVID). */
export function instrumentCa(ca: Ca, metrics: BrokerMetrics): Ca {
  return {
    ...ca,
    async issueX509Svid(request) {
      const issued = await ca.issueX509Svid(request);
      metrics.svidsIssued.inc({ kind: 'x509' });
      return issued;
    },
    async issueJwtSvid(request) {
      const issued = await ca.issueJwtSvid(request);
      metrics.svidsIssued.inc({ kind: 'jwt' });
      return issued;
    },
    async issueOwnSvid(spiffeId, ttlSeconds) {
      const issued = await ca.issueOwnSvid(spiffeId, ttlSeconds);
      metrics.svidsIssued.inc({ kind: 'x509' });
      return issued;
    },
  };
}

/**
 * Counts every failing call of a store (a plain object of methods), by method name and error code,
 * and times audit appends (the durable write every audited request waits for).
 */
export function instrumentStore<S extends object>(store: S, metrics: BrokerMetrics): S {
  const count = (operation: string, error: unknown): void => {
    metrics.storeErrors.inc({ operation, code: isBrokerError(error) ? error.code : 'unknown' });
  };
  const wrapped: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(store)) {
    if (typeof value !== 'function') {
      wrapped[key] = value;
      continue;
    }
    const method = value as (...args: unknown[]) => unknown;
    const timed = key === 'appendAudit';
    wrapped[key] = (...args: unknown[]): unknown => {
      const startedMs = timed ? performance.now() : 0;
      let result: unknown;
      try {
        result = method.apply(store, args);
      } catch (error) {
        count(key, error);
        throw error;
      }
      if (result instanceof Promise) {
        return result.then(
          (value: unknown) => {
            if (timed) {
              metrics.auditAppendDuration.observe({}, (performance.now() - startedMs) / 1000);
            }
            return value;
          },
          (error: unknown) => {
            count(key, error);
            throw error;
          },
        );
      }
      return result;
    };
  }
  return wrapped as S;
}
