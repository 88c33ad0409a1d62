// Client certificates that do not verify, counted per source address as they are refused, on the
// listeners that ask for one (the agent API, and the admin API over mTLS). The TLS handshake itself
// is where a stranger's certificate chain costs us: OpenSSL builds a path through every certificate
// it is sent before our own check runs, on the main thread, in time that grows with the square of
// the chain's length (about 28 ms for 150 linked certificates, against 1 ms for a handshake without
// one). Nothing in node bounds the chain, so the address pays instead: past
// REFUSED_PEERS_PER_ADDRESS refusals in a window, its new connections are closed on accept, before
// any TLS work, until the window ends.
//
// Only an address's own refusals block it. The table is the failed-login limiter's, bounded
// (MAX_TRACKED_ADDRESSES) but dropping its oldest window when full instead of sharing an overflow
// entry: an address is never judged by others' counts, so a
// stranger with many addresses cannot get honest agents (never refused, never in the table) closed.
// IPv6 addresses count per /64, the block one host is usually given.
import type { Logger } from '../log.js';
import { createFailedAuthLimiter } from './auth-limit.js';

/** Refused client certificates an address may present per window before its connections are closed. */
export const REFUSED_PEERS_PER_ADDRESS = 20;
export const REFUSED_PEERS_WINDOW_MS = 60_000;
/** Addresses (IPv4, or IPv6 /64 prefixes) counted at once. */
export const MAX_TRACKED_ADDRESSES = 4096;

export interface PeerRefusalGate {
  /** Counts a refused client certificate against the connection's address (for the peer verifier). */
  refused(socket: unknown, code: string): void;
  /** False while `address` is past its limit: the listener closes its new connections on accept. */
  admits(address: string): boolean;
  /** Addresses counted now (at most MAX_TRACKED_ADDRESSES). */
  size(): number;
}

/** The eight 16-bit groups of an IPv6 address in node's text form, or undefined if it is not one. */
function ipv6Groups(address: string): string[] | undefined {
  const halves = address.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] === '' ? [] : (halves[0] as string).split(':');
  const tail = halves.length === 1 || halves[1] === '' ? [] : (halves[1] as string).split(':');
  const missing = 8 - head.length - tail.length;
  if (missing < 0 || (halves.length === 1 && missing !== 0)) return undefined;
  return [...head, ...Array<string>(missing).fill('0'), ...tail];
}

/**
 * What refusals are counted under: an IPv4 address as it is (an IPv4-mapped IPv6 address as the
 * IPv4 one), an IPv6 address as its /64 prefix.
 */
export function refusalKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped !== null) return mapped[1] as string;
  if (!address.includes(':')) return address;
  const groups = ipv6Groups(address.split('%')[0] as string);
  if (groups === undefined) return address;
  return `${groups
    .slice(0, 4)
    .map((g) => g.toLowerCase().replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
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
    maxAddresses: MAX_TRACKED_ADDRESSES,
    whenFull: 'drop-oldest',
  });
  return {
    refused(socket, code) {
      const address = (socket as { remoteAddress?: unknown } | undefined)?.remoteAddress;
      if (typeof address !== 'string') return;
      const key = refusalKey(address);
      const wasBlocked = limiter.retryAfter(key) > 0;
      limiter.fail(key);
      const blockedMs = limiter.retryAfter(key);
      // Once per window: a blocked address opens no new connection to be refused on.
      if (blockedMs > 0 && !wasBlocked) {
        deps.logger.warn(
          `${deps.listener}: too many refused client certificates from one address`,
          {
            address: key,
            code,
            limit: REFUSED_PEERS_PER_ADDRESS,
            retryAfterSeconds: Math.ceil(blockedMs / 1000),
          },
        );
      }
    },
    admits: (address) => limiter.retryAfter(refusalKey(address)) === 0,
    size: () => limiter.size(),
  };
}
