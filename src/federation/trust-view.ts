// The trust view agents and validators read: the parsed bundle of each trust domain with an active
// relationship, kept per trust domain and never pooled into one root set (FED-30); re-read from the
// store whenever something changed.
import {
  BundleSet,
  parseBundle,
  parseBundleOrPem,
  type Bundle,
  type BundleSource,
} from '../bundle/index.js';
import { isBrokerError } from '../errors.js';
import { parseTrustDomain } from '../spiffeid/index.js';
import type { FederationLogger, FederationStore } from './ports.js';
import { relationshipFrom } from './records.js';
import { isTrusted } from './relationship.js';

/** One trust domain in the trust view: the parsed bundle and the digest of the stored bytes. */
export interface TrustedEntry {
  readonly bundle: Bundle;
  readonly digest: string;
}

export interface TrustView extends BundleSource {
  /** Bundles of active relationships, optionally restricted to `trustDomains`. */
  trustedBundles(trustDomains?: readonly string[]): BundleSet;
  /**
   * Re-reads one trust domain from the store. `known` is a bundle the caller just parsed; it is
   * used when the store still holds exactly those bytes (same digest), saving a second parse.
   * Reloads of one trust domain are queued so an older read never lands after a newer one.
   */
  reload(trustDomain: string, known?: TrustedEntry): Promise<void>;
  /** The trust domains in the view now. */
  trustDomains(): string[];
  /** The digest of the stored bytes the view holds for `trustDomain`; undefined when it holds none. */
  digestOf(trustDomain: string): string | undefined;
}

export interface TrustViewDeps {
  readonly store: Pick<FederationStore, 'getRelationship' | 'getBundle'>;
  readonly logger: FederationLogger;
  /** Called after the view changed (not when a re-read found the same bytes). */
  readonly onChange: () => void;
}

export function createTrustView(deps: TrustViewDeps): TrustView {
  /** Active relationships → parsed current bundle and the digest of its stored bytes. */
  const trusted = new Map<string, TrustedEntry>();
  /** The reload in progress per trust domain. */
  const reloads = new Map<string, Promise<void>>();

  async function readIntoView(trustDomain: string, known: TrustedEntry | undefined): Promise<void> {
    const entry = await readTrusted(deps, trustDomain, () => trusted.get(trustDomain), known);
    // Applied with no await since the view was last read: refreshes run concurrently, and a copy of
    // the map taken before an await would drop the other trust domains' updates (FED-34).
    const before = trusted.get(trustDomain);
    if (entry === undefined) {
      if (before === undefined) return;
      trusted.delete(trustDomain);
    } else {
      // Same stored bytes: keep the parsed value and do not wake the listeners for nothing.
      if (before !== undefined && before.digest === entry.digest) return;
      trusted.set(trustDomain, entry);
    }
    deps.onChange();
  }

  return {
    getBundleForTrustDomain(trustDomain) {
      return trusted.get(trustDomain.name)?.bundle;
    },
    trustedBundles(trustDomains) {
      const selected =
        trustDomains === undefined
          ? [...trusted.values()].map((entry) => entry.bundle)
          : trustDomains.flatMap((td) => {
              const bundle = trusted.get(td)?.bundle;
              return bundle === undefined ? [] : [bundle];
            });
      return new BundleSet(selected);
    },
    reload(trustDomain, known) {
      const previous = reloads.get(trustDomain);
      const run = (
        previous === undefined ? Promise.resolve() : previous.catch(() => undefined)
      ).then(() => readIntoView(trustDomain, known));
      reloads.set(trustDomain, run);
      const clear = (): void => {
        if (reloads.get(trustDomain) === run) reloads.delete(trustDomain);
      };
      run.then(clear, clear);
      return run;
    },
    trustDomains: () => [...trusted.keys()],
    digestOf: (trustDomain) => trusted.get(trustDomain)?.digest,
  };
}

/**
 * What the view should hold for one trust domain: nothing unless the relationship is active and a
 * bundle is stored; the entry in hand when its digest matches the stored bytes; else a fresh parse.
 */
async function readTrusted(
  deps: Pick<TrustViewDeps, 'store' | 'logger'>,
  trustDomain: string,
  inView: () => TrustedEntry | undefined,
  known: TrustedEntry | undefined,
): Promise<TrustedEntry | undefined> {
  const found = await deps.store.getRelationship(trustDomain);
  if (found === undefined || !isTrusted(relationshipFrom(found.value))) return undefined;
  const stored = await deps.store.getBundle(trustDomain);
  if (stored === undefined) return undefined;
  const current = inView();
  if (current !== undefined && current.digest === stored.digest) return current;
  if (known !== undefined && known.digest === stored.digest) return known;
  const td = parseTrustDomain(trustDomain);
  try {
    return { bundle: parseBundle(stored.raw, td), digest: stored.digest };
  } catch (error) {
    // Operator-forced PEM bundles are stored as PEM.
    try {
      return { bundle: parseBundleOrPem(stored.raw, td), digest: stored.digest };
    } catch {
      deps.logger.warn('stored bundle does not parse; not trusted', {
        trustDomain,
        code: isBrokerError(error) ? error.code : 'unknown',
      });
      return undefined;
    }
  }
}
