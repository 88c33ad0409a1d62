// The bundle endpoint: our published bundle serialised once per change, the listener (its own worker
// thread by default, issue 15) with its identity: our own X509-SVID (https_spiffe, renewed without
// restart) or the operator's certificate files (https_web, reloaded); whether partners can trust it.
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { marshalBundle, type Bundle } from '../bundle/index.js';
import {
  createEndpointTrustTracker,
  type Ca,
  type EndpointTrust,
  type EndpointTrustTracker,
} from '../ca/index.js';
import type { Clock } from '../clock.js';
import { readConfiguredFile, type BrokerConfig } from '../config/index.js';
import { serveBundle, type ServedBundle } from '../federation/index.js';
import type { Logger } from '../log.js';
import type { SpiffeId } from '../spiffeid/index.js';
import {
  startInThreadBundleListener,
  startIsolatedBundleListener,
  type BundleListener,
} from './isolated-bundle-server.js';
import {
  bindListener,
  listenerLimitsFromConfig,
  LISTENERS,
  splitListen,
  type ListenerIdentity,
} from './listeners.js';
import { keepOwnSvid, type OwnSvidKeeperDeps } from './own-svid-keeper.js';
import type { StopOrder } from './teardown.js';

/** How often https_web certificate files are checked for changes. */
export const CERT_FILE_POLL_MS = 10_000;

/** Our published bundle as partners get it (serialised once per change, FED-12). */
export interface OwnBundleServing {
  served(): ServedBundle | undefined;
  /** Notes when each authority entered it, for /readyz/bundle-endpoint and /readyz/agent-api. */
  readonly trust: EndpointTrustTracker;
  /** Hands the bundle endpoint each new bundle (maybe in its worker thread), the current one now. */
  sendTo(listener: BundleListener): void;
}

export interface BundleEndpointDeps {
  readonly config: BrokerConfig['bundleEndpoint'];
  /** The config file's folder: certFile and keyFile are relative to it. */
  readonly configDir: string;
  /** https_spiffe: the SPIFFE ID on its SVID; undefined for https_web. */
  readonly spiffeId: SpiffeId | undefined;
  readonly ownSvids: OwnSvidKeeperDeps;
  readonly bundle: OwnBundleServing;
  readonly teardown: StopOrder;
  readonly nowMs: Clock;
  readonly logger: Logger;
}

/** A bound bundle endpoint, what partners are told it is at, and whether they can trust it yet. */
export interface BundleEndpoint {
  readonly listener: BundleListener;
  /** bundleEndpoint.url, else the listener's own address. */
  readonly publicUrl: string;
  /** https_spiffe: issues a fresh endpoint X509-SVID now; a no-op for https_web. */
  renewSvid(): Promise<void>;
  /**
   * https_web: ready (partners check it against their own Web PKI roots, FED-22); https_spiffe: once
   * the authority behind its SVID has been served for a refresh hint. Never while its worker is down.
   */
  trust(): EndpointTrust;
}

/** Binds the bundle endpoint; a refusal is ERR_CONFIG_LISTEN naming bundleEndpoint.listen. */
function startListener(
  deps: BundleEndpointDeps,
  identity: ListenerIdentity,
): Promise<BundleListener> {
  const { config } = deps;
  const start = config.isolated ? startIsolatedBundleListener : startInThreadBundleListener;
  return bindListener(LISTENERS.bundle, config.listen, () =>
    start({
      ...splitListen(config.listen),
      identity: { cert: identity.cert, key: identity.key },
      bundle: deps.bundle.served(),
      limits: listenerLimitsFromConfig(config.limits),
      logger: deps.logger,
    }),
  );
}

/** Starts the bundle endpoint; closed on stop before everything started earlier. */
export async function startBundleEndpoint(deps: BundleEndpointDeps): Promise<BundleEndpoint> {
  const { config, teardown } = deps;
  let listener: BundleListener;
  let renewSvid = async (): Promise<void> => undefined;
  let trust = (): EndpointTrust => ({ ready: true, detail: 'ok' });
  if (deps.spiffeId !== undefined) {
    const own = await keepOwnSvid(deps.ownSvids, deps.spiffeId);
    teardown.last(() => own.stop());
    listener = await startListener(deps, own.current());
    own.onRenewed((next) => listener.updateIdentity(next));
    renewSvid = own.renew;
    trust = () =>
      deps.bundle.trust.check(
        deps.ownSvids.issuer.authorities('x509').find((a) => a.id === own.authorityId()),
        deps.nowMs(),
        'no endpoint X509-SVID issued yet',
      );
  } else {
    const base = deps.configDir;
    const files = {
      certFile: resolve(base, config.certFile ?? ''),
      keyFile: resolve(base, config.keyFile ?? ''),
    };
    const read = (): ListenerIdentity => ({
      cert: readConfiguredFile('bundle endpoint certificate', files.certFile, base),
      key: readConfiguredFile('bundle endpoint key', files.keyFile, base),
    });
    const watched = watchCertificateFiles(files, read, deps.logger);
    listener = await startListener(deps, read());
    teardown.last(watched.start((next) => listener.updateIdentity(next)));
  }
  deps.bundle.sendTo(listener);
  teardown.first(() => listener.close());
  return {
    listener,
    publicUrl: config.url ?? listener.url,
    renewSvid,
    // A dead bundle endpoint worker (being restarted, or given up) makes it not ready.
    trust: () => {
      const state = listener.state();
      return state.up ? trust() : { ready: false, detail: state.detail };
    },
  };
}

/**
 * Checks `certFile` and `keyFile` every CERT_FILE_POLL_MS once started (against the modification
 * times recorded now) and hands a changed pair, as `read` reads it, to `apply`. A failed check is
 * logged and the old certificate kept. `start` returns the function that stops checking.
 */
export function watchCertificateFiles(
  files: { readonly certFile: string; readonly keyFile: string },
  read: () => ListenerIdentity,
  logger: Pick<Logger, 'info' | 'warn'>,
): { start(apply: (next: ListenerIdentity) => void): () => void } {
  const stamp = (): string =>
    `${statSync(files.certFile).mtimeMs}:${statSync(files.keyFile).mtimeMs}`;
  let lastStamp = stamp();
  return {
    start(apply) {
      const poll = setInterval(() => {
        try {
          const next = stamp();
          if (next === lastStamp) return;
          lastStamp = next;
          apply(read());
          logger.info('reloaded bundle endpoint certificate files', { certFile: files.certFile });
        } catch (error) {
          logger.warn('could not reload bundle endpoint certificate files', {
            error: (error as Error).message,
          });
        }
      }, CERT_FILE_POLL_MS);
      poll.unref();
      return () => clearInterval(poll);
    },
  };
}

/**
 * Serialises the published bundle once per change (FED-12) for the bundle endpoint, and notes when
 * each authority entered it. Stops following the issuer on stop.
 */
export function serveOwnBundle(deps: {
  readonly issuer: Pick<Ca, 'localBundle' | 'onBundleChange'>;
  readonly config: Pick<BrokerConfig['bundleEndpoint'], 'refreshHint'>;
  readonly teardown: StopOrder;
  readonly nowMs: Clock;
  readonly logger: Pick<Logger, 'info'>;
}): OwnBundleServing {
  let served: ServedBundle | undefined;
  let send = (_bundle: ServedBundle | undefined): void => undefined;
  const trust = createEndpointTrustTracker(deps.config.refreshHint);
  const publish = (bundle: Bundle): void => {
    served = serveBundle(marshalBundle(bundle), bundle.refreshHintSeconds);
    trust.observe(bundle, deps.nowMs());
    send(served);
    deps.logger.info('serving local bundle', {
      sequence: bundle.sequence?.toString() ?? '0',
      x509: bundle.x509Authorities.length,
      jwt: bundle.jwtAuthorities.size,
    });
  };
  publish(deps.issuer.localBundle());
  deps.teardown.last(deps.issuer.onBundleChange(publish));
  return {
    served: () => served,
    trust,
    sendTo(listener) {
      send = (next) => listener.publish(next);
      listener.publish(served); // a change made while it was binding
    },
  };
}
