// Reading relationship and refresh-status records from the store: the reads that the lifecycle, the
// refresh and the trust view share. Records another replica or an older version wrote are read as-is.
import type { Clock } from '../clock.js';
import { FederationError } from '../errors.js';
import type { FederationStore } from './ports.js';
import type { Relationship } from './relationship.js';
import { statusFromJson, type RefreshStatus } from './status.js';

export function relationshipFrom(value: Readonly<Record<string, unknown>>): Relationship {
  return value as unknown as Relationship;
}

export function relationshipNotFound(trustDomain: string): FederationError {
  return new FederationError(
    'ERR_FEDERATION_RELATIONSHIP_NOT_FOUND',
    `no relationship for "${trustDomain}"`,
  );
}

export interface VersionedRelationship {
  readonly relationship: Relationship;
  /** The store's compare-and-set version. */
  readonly version: number;
}

export interface RelationshipRecord extends VersionedRelationship {
  readonly status: RefreshStatus;
}

export interface RelationshipRecords {
  /** The stored relationship; ERR_FEDERATION_RELATIONSHIP_NOT_FOUND when there is none. */
  read(trustDomain: string): Promise<VersionedRelationship>;
  /** The stored relationship, if any. */
  find(trustDomain: string): Promise<Relationship | undefined>;
  /**
   * The relationship now stored for the trust domain, if any; whether it is still `relationship`
   * (not deleted and created again); and its compare-and-set version (which any change moves).
   */
  current(relationship: Relationship): Promise<{
    current: Relationship | undefined;
    same: boolean;
    version: number | undefined;
  }>;
  /** The refresh status (the initial one when none is stored). */
  status(trustDomain: string): Promise<RefreshStatus>;
  /** Every relationship with its status. */
  all(): Promise<RelationshipRecord[]>;
}

export type RecordsStore = Pick<
  FederationStore,
  'getRelationship' | 'listRelationships' | 'getRefreshStatus' | 'listRefreshStatuses'
>;

export function createRelationshipRecords(store: RecordsStore, now: Clock): RelationshipRecords {
  const find = async (trustDomain: string): Promise<Relationship | undefined> => {
    const found = await store.getRelationship(trustDomain);
    return found === undefined ? undefined : relationshipFrom(found.value);
  };
  const status = async (trustDomain: string): Promise<RefreshStatus> =>
    statusFromJson(await store.getRefreshStatus(trustDomain), now());

  return {
    async read(trustDomain) {
      const found = await store.getRelationship(trustDomain);
      if (found === undefined) throw relationshipNotFound(trustDomain);
      return { relationship: relationshipFrom(found.value), version: found.version };
    },
    find,
    async current(relationship) {
      const found = await store.getRelationship(relationship.trustDomain);
      const current = found === undefined ? undefined : relationshipFrom(found.value);
      // Deleted and created again: a new record with its own creation time.
      return {
        current,
        same: current?.createdAtMs === relationship.createdAtMs,
        version: found?.version,
      };
    },
    status,
    /**
     * One listing of each when the store can list statuses (a Redis round trip per relationship
     * made due() and list() grow with the partner count); one status read per relationship
     * otherwise, issued together rather than one after another.
     */
    async all() {
      const [records, statuses] = await Promise.all([
        store.listRelationships(),
        store.listRefreshStatuses?.(),
      ]);
      const byTrustDomain =
        statuses === undefined
          ? undefined
          : new Map(statuses.map((s) => [s.trustDomain, s.status]));
      const at = now();
      return Promise.all(
        records.map(async (record) => {
          const relationship = relationshipFrom(record.value);
          const recordStatus =
            byTrustDomain === undefined
              ? await status(relationship.trustDomain)
              : statusFromJson(byTrustDomain.get(relationship.trustDomain), at);
          return { relationship, version: record.version, status: recordStatus };
        }),
      );
    },
  };
}
