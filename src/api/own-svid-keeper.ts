// The broker's own X509-SVIDs for its TLS listeners (FED-15): issued at start, renewed on a timer at
// half their lifetime, re-issued at once when their signer is tainted, revoked or gone from the
// published bundle (issue 15, finding 4). Each renewal is handed to the listener that presents it.
import { ownSvidReissueReason, type Ca } from '../ca/index.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { SpiffeId } from '../spiffeid/index.js';
import type { ListenerIdentity } from './listeners.js';

/** Lifetime of the broker's own X509-SVIDs (bundle endpoint, agent API); renewed at half of it (FED-15). */
export const OWN_SVID_TTL_SECONDS = 3600;

export interface OwnSvidKeeperDeps {
  /**
   * The issuer the APIs use: `localBundle()` is the bundle published for every replica, so a signer
   * that has left it is noticed, and `on*Change` fire for it.
   */
  readonly issuer: Pick<
    Ca,
    'issueOwnSvid' | 'authorities' | 'localBundle' | 'onAuthorityChange' | 'onBundleChange'
  >;
  readonly nowMs: Clock;
  readonly logger: Pick<Logger, 'info' | 'warn' | 'error'>;
  /** Renewals stop being scheduled once it aborts. */
  readonly signal: AbortSignal;
  /** Every kept SVID joins it, so a revoke can re-issue those its authority signed first. */
  readonly kept: KeptOwnSvids;
}

/** One own X509-SVID, kept current. */
export interface KeptOwnSvid {
  current(): ListenerIdentity;
  /** Issues a fresh SVID now and hands it on (the timer keeps running). */
  renew(): Promise<void>;
  /** The x509 authority that signed the current SVID. */
  authorityId(): string;
  /** Who is handed each renewal (one listener; a later call replaces it). */
  onRenewed(apply: (next: ListenerIdentity) => void): void;
  /** Stops the renewal timer and the change subscriptions. */
  stop(): void;
}

interface Reissuable {
  authorityId(): string;
  reissue(reason: string): Promise<void>;
}

/** Every own SVID this broker keeps, for the revoke path. */
export class KeptOwnSvids {
  readonly #kept: Reissuable[] = [];

  add(svid: Reissuable): void {
    this.#kept.push(svid);
  }

  /**
   * Issue 15, finding 4: own SVIDs signed by an x509 authority about to be revoked are re-issued
   * first (when another one is active), so none is presented once it has left the bundle. A failed
   * re-issue does not block the revoke (logged; the change listeners retry it afterwards).
   */
  async reissueSignedBy(
    authorityId: string,
    x509Authorities: readonly { id: string; state: string }[],
    logger: Pick<Logger, 'error'>,
  ): Promise<void> {
    if (!x509Authorities.some((a) => a.state === 'active' && a.id !== authorityId)) return;
    await Promise.all(
      this.#kept
        .filter((svid) => svid.authorityId() === authorityId)
        .map((svid) =>
          svid.reissue('signer-being-revoked').catch((error: unknown) =>
            logger.error('own X509-SVID re-issue before a revoke failed', {
              error: (error as Error).message,
            }),
          ),
        ),
    );
  }
}

/** Issues `id`'s first SVID and keeps it current until `stop()` (or the signal) ends it. */
export async function keepOwnSvid(deps: OwnSvidKeeperDeps, id: SpiffeId): Promise<KeptOwnSvid> {
  const { issuer, logger, signal } = deps;
  const spiffeId = id.toString();
  let authorityId = '';
  let renewInMs = 0;
  const issue = async (): Promise<ListenerIdentity> => {
    const own = await issuer.issueOwnSvid(id, OWN_SVID_TTL_SECONDS);
    authorityId = own.authorityId;
    renewInMs = Math.max(1000, Math.floor((own.notAfter.getTime() - deps.nowMs()) / 2));
    return {
      cert: own.chainPem,
      key: own.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    };
  };
  let identity = await issue();
  let apply = (_next: ListenerIdentity): void => undefined;
  let timer: NodeJS.Timeout | undefined;
  let reissuing: Promise<void> | undefined;
  const renew = async (): Promise<void> => {
    identity = await issue();
    apply(identity);
  };
  const schedule = (): void => {
    timer = setTimeout(() => {
      renew()
        .then(() => logger.info('renewed own X509-SVID', { spiffeId }))
        .catch((error: unknown) =>
          logger.error('own X509-SVID renewal failed', {
            spiffeId,
            error: (error as Error).message,
          }),
        )
        .finally(() => {
          if (!signal.aborted) schedule();
        });
    }, renewInMs);
    timer.unref();
  };
  schedule();
  /** Re-issues now, swaps it in and restarts the renewal timer (issue 15, finding 4). */
  const reissue = (reason: string): Promise<void> => {
    const from = authorityId;
    reissuing ??= renew()
      .then(() => {
        logger.warn('re-issued own X509-SVID at once', { spiffeId, reason, from, to: authorityId });
        clearTimeout(timer);
        schedule();
      })
      .finally(() => {
        reissuing = undefined;
      });
    return reissuing;
  };
  // Re-checked on every authority or bundle change: a tainted or revoked signer, or one gone from the
  // bundle served now (shared by every replica). A failure (no active authority yet) is retried on
  // the next change.
  const recheck = (): void => {
    if (reissuing !== undefined || signal.aborted) return;
    const reason = ownSvidReissueReason(
      authorityId,
      issuer.authorities('x509'),
      issuer.localBundle(),
    );
    if (reason === undefined) return;
    reissue(reason).catch((error: unknown) =>
      logger.error('own X509-SVID re-issue failed; retried on the next authority change', {
        spiffeId,
        reason,
        error: (error as Error).message,
      }),
    );
  };
  const unsubscribe = [issuer.onAuthorityChange(recheck), issuer.onBundleChange(recheck)];
  deps.kept.add({ authorityId: () => authorityId, reissue });
  return {
    current: () => identity,
    renew,
    authorityId: () => authorityId,
    onRenewed(next) {
      apply = next;
    },
    stop() {
      clearTimeout(timer);
      for (const off of unsubscribe) off();
    },
  };
}
