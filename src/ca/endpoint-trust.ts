// Whether partners can already verify what we present with the bundle of ours they hold. A partner
// checks our https_spiffe bundle endpoint's X509-SVID (FED-23), and our agents' X509-SVIDs and
// JWT-SVIDs, against the bundle of ours it last fetched. So what an authority signed fails at
// partners until they have fetched a bundle with it. That happens when a new replica starts with
// authorities of its own: they reach partners only through the merged bundle, at the partners' next
// refresh. We count an authority as known to partners once it has been in the bundle we serve for
// one refresh hint (FED-52: the interval we ask partners to refresh at).
import type { Bundle } from '../bundle/index.js';
import type { AuthorityMetadata } from './authority.js';

export interface EndpointTrust {
  readonly ready: boolean;
  /** 'ok', or why not yet (for the `/readyz/bundle-endpoint` and `/readyz/agent-api` answers). */
  readonly detail: string;
  /** Seconds until it is ready, when only time is missing. */
  readonly readyInSeconds?: number;
}

export interface EndpointTrustTracker {
  /** Records which anchors and JWT keys the served bundle holds; call it with every bundle served. */
  observe(bundle: Bundle, at: number): void;
  /**
   * Whether partners have had time to fetch `authority` (x509: its bundle anchor; jwt: its key).
   * `missing` says what undefined means (e.g. no endpoint SVID issued yet).
   */
  check(authority: AuthorityMetadata | undefined, at: number, missing?: string): EndpointTrust;
}

/** All of `checks` at once: ready when each is; otherwise every reason, and the longest wait. */
export function allTrusted(checks: readonly EndpointTrust[]): EndpointTrust {
  const waiting = checks.filter((c) => !c.ready);
  if (waiting.length === 0) return { ready: true, detail: 'ok' };
  const waits = waiting.map((c) => c.readyInSeconds);
  const onlyTime = waits.every((w) => w !== undefined);
  return {
    ready: false,
    detail: waiting.map((c) => c.detail).join('; '),
    ...(onlyTime ? { readyInSeconds: Math.max(...(waits as number[])) } : {}),
  };
}

/** What the served bundle holds of an authority: its anchor (x509) or its key id (jwt). */
function keyOf(authority: AuthorityMetadata): string | undefined {
  if (authority.kind === 'jwt') return `jwt:${authority.id}`;
  return authority.anchorFingerprintSha256 === undefined
    ? undefined
    : `x509:${authority.anchorFingerprintSha256}`;
}

export function createEndpointTrustTracker(refreshHintSeconds: number): EndpointTrustTracker {
  if (!Number.isSafeInteger(refreshHintSeconds) || refreshHintSeconds <= 0) {
    throw new TypeError('refreshHintSeconds must be a positive whole number');
  }
  const hintMs = refreshHintSeconds * 1000;
  /**
   * `x509:<anchor fingerprint>` or `jwt:<kid>` -> when it entered the served bundle, as seen here,
   * and whether it was already served at the first observation (then it counts from publication).
   */
  const since = new Map<string, { readonly at: number; readonly servedAtStart: boolean }>();
  let observed = false;

  return {
    observe(bundle, at) {
      const now = new Set([
        ...bundle.x509Authorities.map((a) => `x509:${a.fingerprintSha256}`),
        ...[...bundle.jwtAuthorities.keys()].map((kid) => `jwt:${kid}`),
      ]);
      for (const key of [...since.keys()]) {
        if (!now.has(key)) since.delete(key);
      }
      for (const key of now) {
        if (since.has(key)) continue;
        // Served before this process started (a restart): partners have had it since it was
        // published. One that appears later (a replica's new authority merged in) counts from now.
        since.set(key, { at, servedAtStart: !observed });
      }
      observed = true;
    },

    check(authority, at, missing = 'no active authority') {
      if (authority === undefined) return { ready: false, detail: missing };
      const anchor = keyOf(authority);
      const seen = anchor === undefined ? undefined : since.get(anchor);
      if (anchor === undefined || seen === undefined) {
        return {
          ready: false,
          detail: `${authority.kind} authority ${authority.id} is not in the served bundle yet`,
        };
      }
      const start = seen.servedAtStart
        ? Math.min(seen.at, authority.publishedAt.getTime())
        : seen.at;
      const waitMs = start + hintMs - at;
      if (waitMs <= 0) return { ready: true, detail: 'ok' };
      const readyInSeconds = Math.ceil(waitMs / 1000);
      return {
        ready: false,
        detail:
          `${authority.kind} authority ${authority.id} has been in the served bundle for ` +
          `${Math.max(0, Math.floor((at - start) / 1000))} s; partners refresh every ` +
          `${refreshHintSeconds} s, ready in ${readyInSeconds} s`,
        readyInSeconds,
      };
    },
  };
}
