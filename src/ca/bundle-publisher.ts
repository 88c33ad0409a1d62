// Our own bundle as published now, built from the journal's authorities: rebuilt when they change
// or a published one ages out, its `spiffe_sequence` bumped on every content change only
// (BUNDLE-31) and persisted, and the listeners told of each new bundle.
import { Bundle } from '../bundle/index.js';
import type { TrustDomain } from '../spiffeid/index.js';
import type { Logger } from '../log.js';
import type { AuthorityJournal } from './journal.js';
import { localBundleContent } from './local-bundle.js';

export class BundlePublisher {
  private bundle: Bundle | undefined;
  private validUntil = Number.POSITIVE_INFINITY;
  private readonly listeners = new Set<(bundle: Bundle) => void>();

  constructor(
    private readonly journal: AuthorityJournal,
    private readonly trustDomain: TrustDomain,
    private readonly refreshHintSeconds: number,
    private readonly logger: Pick<Logger, 'info' | 'error'>,
  ) {}

  /** The bundle as published at `t`. */
  current(t: number): Bundle {
    const { journal } = this;
    if (this.bundle !== undefined && !journal.dirty && t < this.validUntil) return this.bundle;
    const { x509, jwt, digest, validUntil } = localBundleContent(
      journal.records.values(),
      this.refreshHintSeconds,
      t,
    );
    const changed = digest !== journal.bundleDigest;
    if (changed) {
      // BUNDLE-31: +1 on every content change only.
      journal.sequence += 1n;
      journal.bundleDigest = digest;
    }
    journal.dirty = false;
    this.validUntil = validUntil;
    if (changed || this.bundle === undefined) {
      this.bundle = new Bundle({
        trustDomain: this.trustDomain,
        x509Authorities: x509,
        jwtAuthorities: jwt,
        sequence: journal.sequence,
        refreshHintSeconds: this.refreshHintSeconds,
      });
    }
    if (changed) this.announce(this.bundle, x509.length, jwt.length);
    return this.bundle;
  }

  /** Called with the new bundle after each content change; returns the unsubscribe function. */
  onChange(listener: (bundle: Bundle) => void): () => void {
    if (typeof listener !== 'function') throw new TypeError('listener must be a function');
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  private announce(bundle: Bundle, x509: number, jwt: number): void {
    const sequence = this.journal.sequence.toString();
    this.logger.info('ca: local bundle changed', { sequence, x509, jwt });
    // Time-driven pruning is deterministic, so a crash before this write re-derives the same
    // sequence on restart; mutations await persist() themselves.
    this.journal
      .persist()
      .catch((error: unknown) =>
        this.logger.error('ca: could not persist the bundle sequence', { error: String(error) }),
      );
    for (const listener of this.listeners) {
      try {
        listener(bundle);
      } catch (error) {
        this.logger.error('ca: bundle listener failed', { error: String(error) });
      }
    }
  }
}
