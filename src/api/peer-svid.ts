// The X509-SVID a TLS client presented to one of our listeners (agent API, admin API over mTLS),
// verified against OUR bundle only (X509-31): callers of these listeners are always our workloads.
// The result is kept per connection while our bundle is unchanged (and, verified, while the SVID is
// valid): a chain cannot change within one TLS connection (renegotiation is not allowed). A refusal
// is kept too, so a connection presenting a chain that fails costs its verification once, not once
// per request.
//
// The leaf is read alone first: node turns every certificate a peer sent into objects on the main
// thread (getPeerCertificate(true) and getPeerX509Certificate() alike), at a cost that grows with the
// square of the chain's length: about 50 ms for a stranger's chain of 150 linked certificates. Our
// own SVIDs are signed by an authority in our bundle, so the leaf alone verifies; only with an
// upstream CA (our authorities are intermediates the peer sends) is the rest of the chain read, and
// only when the leaf alone did not verify.
import type { TLSSocket } from 'node:tls';
import { BundleSet, type Bundle } from '../bundle/index.js';
import type { Ca } from '../ca/index.js';
import type { Clock } from '../clock.js';
import { isBrokerError } from '../errors.js';
import type { SpiffeId } from '../spiffeid/index.js';
import { chainFromPeerCertificate, verifyX509Svid } from '../svid/index.js';

export interface PeerSvid {
  readonly spiffeId: SpiffeId;
  readonly expiresAt: Date;
}

/** Absent: no client certificate. Refused: one was presented and did not verify (code, message). */
export type PeerCheck =
  | { readonly kind: 'absent' }
  | { readonly kind: 'refused'; readonly code: string; readonly message: string }
  | ({ readonly kind: 'verified' } & PeerSvid);

/** The peer's certificates as sent in the handshake, leaf first (node's detailed peer certificate). */
export function peerChainDer(socket: unknown): Buffer[] | undefined {
  const tls = socket as Partial<Pick<TLSSocket, 'getPeerCertificate'>> | undefined;
  if (typeof tls?.getPeerCertificate !== 'function') return undefined;
  const chain = chainFromPeerCertificate(tls.getPeerCertificate(true));
  return chain.length === 0 ? undefined : chain;
}

/**
 * The leaf certificate the peer sent, DER: node makes an object of the leaf alone, however long the
 * chain behind it.
 */
export function peerLeafDer(socket: unknown): Buffer | undefined {
  const tls = socket as Partial<Pick<TLSSocket, 'getPeerCertificate'>> | undefined;
  if (typeof tls?.getPeerCertificate !== 'function') return undefined;
  const raw = (tls.getPeerCertificate(false) as { raw?: unknown } | undefined)?.raw;
  return Buffer.isBuffer(raw) && raw.length > 0 ? raw : undefined;
}

/** How long a refusal is kept for a connection (a certificate not yet valid may become valid). */
const REFUSAL_KEPT_MS = 60_000;

/** Checks the client certificate of a connection (a TLS socket). */
export type PeerVerifier = (socket: unknown) => PeerCheck;

export interface PeerVerifierOptions {
  /**
   * True when our SVIDs reach our bundle through intermediates their holder sends (an upstream CA:
   * `ca.upstream`): only then is the peer's chain past the leaf read. Default false.
   */
  readonly intermediates?: boolean;
  /** Told of each refusal when it is made (at most once per connection per REFUSAL_KEPT_MS). */
  readonly onRefused?: (socket: unknown, code: string) => void;
}

function verifyAgainst(chain: Buffer[], own: Bundle, nowMs: number): PeerCheck {
  try {
    const result = verifyX509Svid(chain, new BundleSet([own]), { now: new Date(nowMs) });
    return { kind: 'verified', spiffeId: result.spiffeId, expiresAt: result.expiresAt };
  } catch (error) {
    if (!isBrokerError(error)) throw error;
    return { kind: 'refused', code: error.code, message: error.message };
  }
}

/** A verifier with a per-connection cache; one per listener, shared by the listener's apps. */
export function createPeerVerifier(
  ownBundle: () => Bundle,
  now: Clock,
  options: PeerVerifierOptions = {},
): PeerVerifier {
  const checked = new WeakMap<
    object,
    { readonly check: PeerCheck; readonly bundle: Bundle; readonly atMs: number }
  >();
  return (socket) => {
    const own = ownBundle();
    const nowMs = now();
    const key = typeof socket === 'object' && socket !== null ? socket : undefined;
    const cached = key === undefined ? undefined : checked.get(key);
    if (cached !== undefined && cached.bundle === own) {
      const { check } = cached;
      const fresh =
        check.kind === 'verified'
          ? nowMs < check.expiresAt.getTime()
          : nowMs - cached.atMs < REFUSAL_KEPT_MS;
      if (fresh) return check;
    }
    const leaf = peerLeafDer(socket);
    if (leaf === undefined) return { kind: 'absent' };
    let check = verifyAgainst([leaf], own, nowMs);
    if (check.kind === 'refused' && options.intermediates === true) {
      const chain = peerChainDer(socket);
      if (chain !== undefined && chain.length > 1) check = verifyAgainst(chain, own, nowMs);
    }
    if (key !== undefined) checked.set(key, { check, bundle: own, atMs: nowMs });
    if (check.kind === 'refused') options.onRefused?.(socket, check.code);
    return check;
  };
}

/**
 * The peer check of a listener that serves `ca`'s own SVIDs: the leaf alone, unless the CA's
 * authorities sit under an upstream CA; refusals told to `peerRefused`.
 */
export function caPeerVerifier(deps: {
  readonly ca: Pick<Ca, 'localBundle' | 'options'>;
  readonly now: Clock;
  readonly peerRefused?: (socket: unknown, code: string) => void;
}): PeerVerifier {
  return createPeerVerifier(() => deps.ca.localBundle(), deps.now, {
    intermediates: deps.ca.options.upstream !== undefined,
    ...(deps.peerRefused === undefined ? {} : { onRefused: deps.peerRefused }),
  });
}
