// Applying a fetched (or operator-forced) partner bundle: strict parse bound to the configured trust
// domain, freshness rules, atomic replace with history (FED-26, FED-31..35). Failures never touch the
// stored bundle: the last good one keeps validating (FED-41).
import {
  bundleContentEquals,
  parseBundle,
  parseBundleOrPem,
  type Bundle,
} from '../bundle/index.js';
import { FederationError, isBrokerError } from '../errors.js';
import type { TrustDomain } from '../spiffeid/index.js';
import type { BundleStore, StoredBundle } from '../store/index.js';

export interface BundleUpdate {
  readonly outcome: 'created' | 'replaced' | 'unchanged';
  /** The parsed bundle now current for the trust domain. */
  readonly bundle: Bundle;
  readonly stored: StoredBundle;
  /** FED-32: same sequence, different content (applied, but the partner broke its own rule). */
  readonly anomaly: 'same-sequence-changed' | null;
}

export interface ApplyBundleInput {
  readonly trustDomain: TrustDomain;
  /** The document exactly as received. */
  readonly body: Uint8Array | string;
  /** Fetch URL; null for an operator-forced bundle (FED-33). */
  readonly sourceUrl: string | null;
  /** Operator override of the rollback check (FED-32). */
  readonly force?: boolean;
  /** Accept PEM as well as SPIFFE JSON (bootstrap and operator bundles, FED-1). */
  readonly allowPem?: boolean;
  readonly nowMs: number;
}

/**
 * FED-32, stricter reading (issue 15, finding 13): the store keeps the highest `spiffe_sequence`
 * ever accepted from the partner, through sequence-less bundles, restarts and replicas; a lower
 * one is a rollback even when the bundle stored just before carried no sequence (stored 30, then
 * none, then 1 is refused). Only an operator's force restarts it (FED-33).
 *
 * Parses `body` strictly as the bundle of `trustDomain` (nothing in the body chooses the trust domain,
 * FED-26) and stores it if it is fresh. Throws the BundleError of an invalid document,
 * ERR_FEDERATION_BUNDLE_STALE for a rollback, or the store's error; none of them changes stored state.
 */
export async function applyBundle(
  store: Pick<BundleStore, 'putBundle'>,
  input: ApplyBundleInput,
): Promise<BundleUpdate> {
  const bundle =
    input.allowPem === true
      ? parseBundleOrPem(input.body, input.trustDomain)
      : parseBundle(input.body, input.trustDomain);
  const raw =
    typeof input.body === 'string' ? input.body : Buffer.from(input.body).toString('utf8');
  let result;
  try {
    result = await store.putBundle(
      {
        trustDomain: input.trustDomain.name,
        raw,
        sequence: bundle.sequence === undefined ? null : bundle.sequence.toString(),
        fetchedAt: input.nowMs,
        sourceUrl: input.sourceUrl,
        refreshHintSeconds: bundle.refreshHintSeconds ?? null,
      },
      { force: input.force === true },
    );
  } catch (error) {
    if (isBrokerError(error) && error.code === 'ERR_STORE_STALE_SEQUENCE') {
      throw new FederationError(
        'ERR_FEDERATION_BUNDLE_STALE',
        `refused bundle of "${input.trustDomain.name}" with spiffe_sequence ${String(bundle.sequence)}: lower than the highest one accepted (rollback, FED-32)`,
        {
          cause: error,
          context: {
            sequence: String(bundle.sequence),
            highestSequence: String(error.context?.['storedSequence'] ?? null),
          },
        },
      );
    }
    throw error;
  }
  let anomaly: BundleUpdate['anomaly'] = null;
  if (result.sameSequenceChanged && result.previous !== undefined) {
    // Same sequence, different bytes: only an anomaly when the content really differs (re-serialised
    // identical content is harmless).
    let previous: Bundle | undefined;
    try {
      previous = parseBundle(result.previous.raw, input.trustDomain);
    } catch {
      previous = undefined;
    }
    if (previous === undefined || !bundleContentEquals(previous, bundle))
      anomaly = 'same-sequence-changed';
  }
  return { outcome: result.outcome, bundle, stored: result.current, anomaly };
}
