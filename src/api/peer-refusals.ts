// Client certificates that do not verify, counted per source address as they are refused, on the
// listeners that ask for one (the agent API, and the admin API over mTLS). The TLS handshake itself
// is where a stranger's certificate chain costs us: OpenSSL builds a path through every certificate
// it is sent before our own check runs, on the main thread, in time that grows with the square of
// the chain's length (about 28 ms for 150 linked certificates, against 1 ms for a handshake without
// one). Nothing in node bounds the chain, so the address pays instead: past
// REFUSED_PEERS_PER_ADDRESS refusals in a window, its new connections are closed on accept, before
// any TLS work, until the window ends.
import type { Logger } from '../log.js';
import { createFailedAuthLimiter } from './auth-limit.js';

/** Refused client certificates an address may present per window before its connections are closed. */
export const REFUSED_PEERS_PER_ADDRESS = 20;
export const REFUSED_PEERS_WINDOW_MS = 60_000;

export interface PeerRefusalGate {
  /** Counts a refused client certificate against the connection's address (for the peer verifier). */
  refused(socket: unknown, code: string): void;
  /** False while `address` is past its limit: the listener closes its new connections on accept. */
  admits(address: string): boolean;
}

export function createPeerRefusalGate(deps: {
  readonly now: () => number;
  readonly logger: Pick<Logger, 'warn'>;
  /** The listener's name, for the log line. */
  readonly listener: string;
}): PeerRefusalGate {
  const limiter = createFailedAuthLimiter({
    now: deps.now,
    limit: REFUSED_PEERS_PER_ADDRESS,
    windowMs: REFUSED_PEERS_WINDOW_MS,
  });
  return {
    refused(socket, code) {
      const address = (socket as { remoteAddress?: unknown } | undefined)?.remoteAddress;
      if (typeof address !== 'string') return;
      const wasBlocked = limiter.retryAfter(address) > 0;
      limiter.fail(address);
      const blockedMs = limiter.retryAfter(address);
      // Once per window: a blocked address opens no new connection to be refused on.
      if (blockedMs > 0 && !wasBlocked) {
        deps.logger.warn(
          `${deps.listener}: too many refused client certificates from one address`,
          {
            address,
            code,
            limit: REFUSED_PEERS_PER_ADDRESS,
            retryAfterSeconds: Math.ceil(blockedMs / 1000),
          },
        );
      }
    },
    admits: (address) => limiter.retryAfter(address) === 0,
  };
}
