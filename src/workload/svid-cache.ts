// The node's cache of workload SVIDs: one X509-SVID per entry (per process for {instance}
// templates), renewed at half its lifetime with a fresh local key, and JWT-SVIDs per ID and
// audience set until half their lifetime. While the broker is down cached SVIDs are served until
// they expire, never after.
import { createHash } from 'node:crypto';
import { newKeyAndCsr } from '../agent/index.js';
import type { BundleSet } from '../bundle/index.js';
import { verifyX509Svid } from '../svid/index.js';
import type { Clock } from '../clock.js';
import { WorkloadError } from '../errors.js';
import * as grpc from '@grpc/grpc-js';
import { Refusal } from './call-status.js';
import { createGate } from './gate.js';
import { INSTANCE_PLACEHOLDER, type NodeEntry } from './node-state.js';
import type { IssuedJwt, NodeSource, WorkloadInfo } from './source.js';

export interface CachedX509Svid {
  readonly spiffeId: string;
  readonly chainDer: readonly Buffer[];
  /** Unencrypted PKCS#8 DER (WAPI-10); generated here, never sent anywhere but the workload. */
  readonly keyDer: Buffer;
  readonly expiresAtMs: number;
  readonly refreshAtMs: number;
}

interface CachedJwt {
  readonly svid: IssuedJwt;
  readonly refreshAtMs: number;
}

export interface SvidCache {
  x509(
    entry: NodeEntry,
    instance: string | undefined,
    workload: WorkloadInfo,
  ): Promise<CachedX509Svid>;
  jwt(
    entry: NodeEntry,
    instance: string | undefined,
    audience: readonly string[],
    workload: WorkloadInfo,
  ): Promise<IssuedJwt>;
  /** After a CA rotation: every X509-SVID is re-signed on next use (old ones stay as fallback). */
  expireX509(): void;
  clearJwt(): void;
  readonly size: number;
}

export interface SvidCacheOptions {
  readonly now?: Clock;
  /** Most cached SVIDs of each kind; the oldest goes first. Default 10,000. */
  readonly maxEntries?: number;
  /**
   * Broker signings (X.509 and JWT) in flight at once; the others wait in order, X.509 first.
   * Default 16.
   */
  readonly maxConcurrentSignings?: number;
  /** New JWT-SVID audience sets one uid may have waiting or signing at once. Default 32. */
  readonly maxJwtSigningsPerUid?: number;
}

export const DEFAULT_MAX_CONCURRENT_SIGNINGS = 16;
export const DEFAULT_MAX_JWT_SIGNINGS_PER_UID = 32;

export function expectedId(entry: NodeEntry, instance: string | undefined): string {
  return instance === undefined
    ? entry.spiffeId
    : entry.spiffeId.replace(INSTANCE_PLACEHOLDER, instance);
}

/** Cache key of an entry's content: a changed entry (ttl, dns names, ID) gets a new SVID. */
function entryKey(entry: NodeEntry, instance: string | undefined): string {
  return createHash('sha256')
    .update(
      JSON.stringify([entry.id, entry.spiffeId, entry.ttlSeconds, entry.dnsNames, instance ?? '']),
    )
    .digest('base64url');
}

function setBounded<V>(map: Map<string, V>, key: string, value: V, max: number): void {
  map.delete(key);
  while (map.size >= max) map.delete(map.keys().next().value as string);
  map.set(key, value);
}

interface SignDeps {
  readonly source: NodeSource;
  readonly bundles: () => BundleSet | undefined;
  readonly now: Clock;
}

/** Signs a fresh key for `entry` and checks the broker's answer like any SVID (X509-31). */
async function signX509(
  deps: SignDeps,
  entry: NodeEntry,
  instance: string | undefined,
  workload: WorkloadInfo,
): Promise<CachedX509Svid> {
  const { privateKey, csrDer } = newKeyAndCsr();
  const issued = await deps.source.signX509({
    entryId: entry.id,
    csrDer,
    ...(instance === undefined ? {} : { instance }),
    workload,
  });
  const set = deps.bundles();
  if (set === undefined) throw new WorkloadError('ERR_WORKLOAD_STATE_INVALID', 'no bundle yet');
  // The broker's answer is checked like any SVID before a workload gets it (X509-31).
  let verified;
  try {
    verified = verifyX509Svid(issued.chainDer, set, { now: new Date(deps.now()) });
  } catch (cause) {
    throw new WorkloadError('ERR_WORKLOAD_STATE_INVALID', 'the broker signed an invalid SVID', {
      cause,
    });
  }
  const id = verified.spiffeId.toString();
  if (id !== expectedId(entry, instance)) {
    throw new WorkloadError(
      'ERR_WORKLOAD_STATE_INVALID',
      `the broker signed "${id}" for entry "${entry.id}"`,
    );
  }
  const issuedAt = deps.now();
  const expiresAtMs = verified.leaf.notAfter.getTime();
  return {
    spiffeId: id,
    chainDer: [...issued.chainDer],
    keyDer: privateKey.export({ format: 'der', type: 'pkcs8' }),
    expiresAtMs,
    refreshAtMs: issuedAt + (expiresAtMs - issuedAt) / 2,
  };
}

export function createSvidCache(
  source: NodeSource,
  bundles: () => BundleSet | undefined,
  options: SvidCacheOptions = {},
): SvidCache {
  const now = options.now ?? Date.now;
  const max = options.maxEntries ?? 10_000;
  const x509s = new Map<string, CachedX509Svid>();
  const x509Pending = new Map<string, Promise<CachedX509Svid>>();
  const jwts = new Map<string, CachedJwt>();
  const jwtPending = new Map<string, Promise<IssuedJwt>>();
  const signDeps: SignDeps = { source, bundles, now };
  // Each new audience set is a new signing: without a bound, one caller's burst of distinct
  // audiences became as many broker requests at once (review 10 F6).
  const signing = createGate(options.maxConcurrentSignings ?? DEFAULT_MAX_CONCURRENT_SIGNINGS);
  const maxJwtSigningsPerUid = options.maxJwtSigningsPerUid ?? DEFAULT_MAX_JWT_SIGNINGS_PER_UID;
  /** New JWT-SVID audience sets waiting or signing, per caller uid. */
  const jwtSigningsOf = new Map<number, number>();

  return {
    get size() {
      return x509s.size + jwts.size;
    },

    async x509(entry, instance, workload) {
      const key = entryKey(entry, instance);
      const cached = x509s.get(key);
      const at = now();
      if (cached !== undefined && at < cached.refreshAtMs) return cached;
      let pending = x509Pending.get(key);
      if (pending === undefined) {
        pending = signing
          .run(() => signX509(signDeps, entry, instance, workload), true)
          .finally(() => x509Pending.delete(key));
        x509Pending.set(key, pending);
      }
      try {
        const fresh = await pending;
        setBounded(x509s, key, fresh, max);
        return fresh;
      } catch (error) {
        // Outage: keep serving what we have while it is valid; never an expired SVID.
        const fallback = x509s.get(key);
        if (fallback !== undefined && now() < fallback.expiresAtMs) return fallback;
        if (fallback !== undefined) x509s.delete(key);
        throw error;
      }
    },

    async jwt(entry, instance, audience, workload) {
      const key = `${entryKey(entry, instance)}|${JSON.stringify([...new Set(audience)].sort())}`;
      const cached = jwts.get(key);
      if (cached !== undefined && now() < cached.refreshAtMs) return cached.svid;
      let pending = jwtPending.get(key);
      if (pending === undefined) {
        const request = {
          entryId: entry.id,
          audience,
          ...(instance === undefined ? {} : { instance }),
          workload,
        };
        // A caller that gives up does not take its signing back: each uid may have only so many
        // new audience sets waiting or signing at once (review 14 F3), beyond that it is refused.
        const uid = workload.uid;
        const held = jwtSigningsOf.get(uid) ?? 0;
        if (held >= maxJwtSigningsPerUid) {
          // A token still valid (past its refresh time) is better than a refusal.
          if (cached !== undefined && now() < cached.svid.expiresAt.getTime()) return cached.svid;
          throw new Refusal(
            grpc.status.RESOURCE_EXHAUSTED,
            `more than ${maxJwtSigningsPerUid} JWT-SVID signings in progress for this uid; retry later`,
          );
        }
        jwtSigningsOf.set(uid, held + 1);
        pending = signing
          .run(() => source.signJwt(request))
          .finally(() => {
            jwtPending.delete(key);
            const left = (jwtSigningsOf.get(uid) ?? 1) - 1;
            if (left > 0) jwtSigningsOf.set(uid, left);
            else jwtSigningsOf.delete(uid);
          });
        jwtPending.set(key, pending);
      }
      try {
        const svid = await pending;
        if (svid.spiffeId !== expectedId(entry, instance)) {
          throw new WorkloadError(
            'ERR_WORKLOAD_STATE_INVALID',
            `the broker signed "${svid.spiffeId}" for entry "${entry.id}"`,
          );
        }
        const issuedAt = now();
        setBounded(
          jwts,
          key,
          { svid, refreshAtMs: issuedAt + (svid.expiresAt.getTime() - issuedAt) / 2 },
          max,
        );
        return svid;
      } catch (error) {
        const fallback = jwts.get(key);
        if (fallback !== undefined && now() < fallback.svid.expiresAt.getTime())
          return fallback.svid;
        throw error;
      }
    },

    expireX509() {
      for (const [key, value] of x509s) x509s.set(key, { ...value, refreshAtMs: 0 });
    },

    clearJwt() {
      jwts.clear();
    },
  };
}
