// BundleSet: one Bundle per trust domain, never pooled (FED-30); immutable, like go-spiffe's set
// but copy-on-write so a reader holding a set never sees it change.
import { TrustDomain } from '../spiffeid/index.js';
import { Bundle, type BundleSource } from './bundle.js';

/**
 * An immutable map trust domain -> Bundle. `set` and `delete` return a new set and leave this one
 * untouched, so a set can be shared with validators while a newer one is being built (FED-31:
 * a new bundle replaces the old one whole). Iteration is in ascending trust domain name order.
 */
export class BundleSet implements BundleSource, Iterable<Bundle> {
  readonly #bundles: ReadonlyMap<string, Bundle>;

  /** Builds a set; a trust domain given twice is a caller mistake (TypeError). */
  constructor(bundles: Iterable<Bundle> = []) {
    const map = new Map<string, Bundle>();
    for (const bundle of bundles) {
      if (!(bundle instanceof Bundle)) throw new TypeError('BundleSet holds Bundle values only');
      if (map.has(bundle.trustDomain.name)) {
        throw new TypeError(`two bundles for trust domain "${bundle.trustDomain.name}"`);
      }
      map.set(bundle.trustDomain.name, bundle);
    }
    this.#bundles = new Map([...map].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    Object.freeze(this);
  }

  get size(): number {
    return this.#bundles.size;
  }

  /** BundleSource: the bundle of exactly this trust domain, never another one's (FED-30). */
  getBundleForTrustDomain(trustDomain: TrustDomain): Bundle | undefined {
    return this.#bundles.get(checkTrustDomain(trustDomain).name);
  }

  get(trustDomain: TrustDomain): Bundle | undefined {
    return this.getBundleForTrustDomain(trustDomain);
  }

  has(trustDomain: TrustDomain): boolean {
    return this.#bundles.has(checkTrustDomain(trustDomain).name);
  }

  /** A new set where `bundle` replaces any bundle of its trust domain (FED-31). */
  set(bundle: Bundle): BundleSet {
    if (!(bundle instanceof Bundle)) throw new TypeError('BundleSet holds Bundle values only');
    const next = new Map(this.#bundles);
    next.set(bundle.trustDomain.name, bundle);
    return new BundleSet(next.values());
  }

  /** A new set without the bundle of `trustDomain` (FED-60); this set when there was none. */
  delete(trustDomain: TrustDomain): BundleSet {
    const name = checkTrustDomain(trustDomain).name;
    if (!this.#bundles.has(name)) return this;
    const next = new Map(this.#bundles);
    next.delete(name);
    return new BundleSet(next.values());
  }

  /** Trust domains of the set, in ascending name order. */
  trustDomains(): TrustDomain[] {
    return [...this.#bundles.values()].map((bundle) => bundle.trustDomain);
  }

  /** Bundles of the set, in ascending trust domain name order. */
  bundles(): Bundle[] {
    return [...this.#bundles.values()];
  }

  [Symbol.iterator](): Iterator<Bundle> {
    return this.#bundles.values();
  }
}

function checkTrustDomain(trustDomain: TrustDomain): TrustDomain {
  if (!(trustDomain instanceof TrustDomain)) {
    throw new TypeError('trustDomain must be a TrustDomain');
  }
  return trustDomain;
}
