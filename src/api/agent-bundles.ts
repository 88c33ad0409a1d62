// What an agent may see of bundles: our bundle plus the active partners its entry lists (never a
// pooled set: FED-30), as JSON bodies; and the hub behind every watch stream (one subscription per
// source, bodies shared by streams with the same federatesWith).
import { BundleSet, marshalBundle, type Bundle } from '../bundle/index.js';
import type { Entry } from '../registration/index.js';
import type { AgentDeps } from './agent-app.js';
import { RawJson, jsonText, oneLine } from './json-text.js';
import { createWatchLimiter, type WatchLimiter } from './watch-limits.js';

type BundleDeps = Pick<AgentDeps, 'ca' | 'federation'>;

/** How long a serialised /bundles body is shared between streams when no change is signalled. */
const SHARED_BODY_MS = 1000;

export function bundleJson(bundle: Bundle): RawJson {
  return new RawJson(oneLine(marshalBundle(bundle).toString('utf8')));
}

/** Our bundle plus the active partners named; absent partners are simply not there. */
export function bundlesWith(deps: BundleDeps, partners: readonly string[]): BundleSet {
  return new BundleSet([deps.ca.localBundle(), ...deps.federation.trustedBundles(partners)]);
}

/** Our bundle plus the active partners the entry lists. */
export function allowedBundles(deps: BundleDeps, entry: Entry): BundleSet {
  return bundlesWith(deps, entry.federatesWith);
}

/** Each bundle's SPIFFE JSON keyed by trust domain name (FED-30: never one pooled set). */
export function bundleMap(set: BundleSet): Record<string, RawJson> {
  const bundles: Record<string, RawJson> = {};
  for (const bundle of set) bundles[bundle.trustDomain.name] = bundleJson(bundle);
  return bundles;
}

export function bundlesBody(set: BundleSet): string {
  return jsonText({ bundles: bundleMap(set) });
}

/** The subscriptions behind every watch stream, and the serialised /bundles bodies they share. */
export interface WatchHub {
  readonly watch: WatchLimiter;
  /** The allowed set's JSON for an entry, shared by streams with the same federatesWith. */
  readonly sharedBody: (entry: Entry) => string;
}

export function createWatchHub(deps: AgentDeps): WatchHub {
  const watch =
    deps.watch ??
    createWatchLimiter({
      maxStreamsPerAgent: 4,
      maxStreams: 256,
      heartbeatMs: deps.watchHeartbeatMs ?? 15_000,
    });
  // One subscription per source for all streams; the limiter wakes streams in batches.
  const notify = (): void => watch.notify();
  const unsubscribeSources = [
    deps.ca.onBundleChange(notify),
    deps.ca.onAuthorityChange?.(notify),
    deps.federation.onChange(notify),
    deps.registration.onChange?.(notify),
  ];
  deps.signal?.addEventListener(
    'abort',
    () => {
      for (const unsubscribe of unsubscribeSources) unsubscribe?.();
      // Streams end on the abort themselves; wake them so that none waits for its heartbeat.
      watch.notify();
    },
    { once: true },
  );
  // Streams with the same federatesWith share one serialised body per change (issue 15).
  let shared = { generation: -1, at: 0, bodies: new Map<string, string>() };
  const sharedBody = (entry: Entry): string => {
    const now = deps.now();
    if (shared.generation !== watch.generation() || now - shared.at > SHARED_BODY_MS) {
      shared = { generation: watch.generation(), at: now, bodies: new Map() };
    }
    const key = [...entry.federatesWith].sort().join(',');
    let body = shared.bodies.get(key);
    if (body === undefined) {
      body = bundlesBody(allowedBundles(deps, entry));
      shared.bodies.set(key, body);
    }
    return body;
  };
  return { watch, sharedBody };
}
