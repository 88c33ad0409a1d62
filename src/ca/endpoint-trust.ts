// Whether partners can already trust our https_spiffe bundle endpoint. A partner checks the
// endpoint's X509-SVID against the bundle of ours it last fetched (FED-23), so an endpoint whose SVID
// chains to an authority partners have not fetched yet fails their refresh. That happens when a new
// replica starts with authorities of its own: they reach partners only through the merged bundle,
// at the partners' next refresh. We count the authority as known to partners once it has been in
// the bundle we serve for one refresh hint (FED-52: the interval we ask partners to refresh at).
import type { Bundle } from '../bundle/index.js';
import type { AuthorityMetadata } from './authority.js';

export interface EndpointTrust {
  readonly ready: boolean;
  /** 'ok', or why not yet (for `/readyz/bundle-endpoint`). */
  readonly detail: string;
  /** Seconds until it is ready, when only time is missing. */
  readonly readyInSeconds?: number;
}

export interface EndpointTrustTracker {
  /** Records which anchors the served bundle holds; call it with every bundle served. */
  observe(bundle: Bundle, at: number): void;
  /** Readiness of an endpoint whose SVID the `authority` signed (undefined: none issued yet). */
  check(authority: AuthorityMetadata | undefined, at: number): EndpointTrust;
}

export function createEndpointTrustTracker(refreshHintSeconds: number): EndpointTrustTracker {
  if (!Number.isSafeInteger(refreshHintSeconds) || refreshHintSeconds <= 0) {
    throw new TypeError('refreshHintSeconds must be a positive whole number');
  }
  const hintMs = refreshHintSeconds * 1000;
  /** Anchor fingerprint -> when it entered the served bundle, as seen by this process. */
  const since = new Map<string, number>();
  /** Anchors already served at the first observation: they count from their publication. */
  const fromStart = new Set<string>();
  let observed = false;

  return {
    observe(bundle, at) {
      const now = new Set(bundle.x509Authorities.map((a) => a.fingerprintSha256));
      for (const fingerprint of [...since.keys()]) {
        if (!now.has(fingerprint)) {
          since.delete(fingerprint);
          fromStart.delete(fingerprint);
        }
      }
      for (const fingerprint of now) {
        if (since.has(fingerprint)) continue;
        since.set(fingerprint, at);
        // Served before this process started (a restart): partners have had it since it was
        // published. One that appears later (a replica's new authority merged in) counts from now.
        if (!observed) fromStart.add(fingerprint);
      }
      observed = true;
    },

    check(authority, at) {
      if (authority === undefined) {
        return { ready: false, detail: 'no endpoint X509-SVID issued yet' };
      }
      const anchor = authority.anchorFingerprintSha256;
      const seen = anchor === undefined ? undefined : since.get(anchor);
      if (anchor === undefined || seen === undefined) {
        return {
          ready: false,
          detail: `x509 authority ${authority.id} that signs the endpoint X509-SVID is not in the served bundle yet`,
        };
      }
      const start = fromStart.has(anchor) ? Math.min(seen, authority.publishedAt.getTime()) : seen;
      const waitMs = start + hintMs - at;
      if (waitMs <= 0) return { ready: true, detail: 'ok' };
      const readyInSeconds = Math.ceil(waitMs / 1000);
      return {
        ready: false,
        detail:
          `x509 authority ${authority.id} has been in the served bundle for ` +
          `${Math.max(0, Math.floor((at - start) / 1000))} s; partners refresh every ` +
          `${refreshHintSeconds} s, ready in ${readyInSeconds} s`,
        readyInSeconds,
      };
    },
  };
}
