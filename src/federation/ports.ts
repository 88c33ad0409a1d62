// The ports the federation pieces share (relationships, refresh, trust view, notifications): the store
// methods they use, the audit sink, the logger, and who is acting.
import type { Logger } from '../log.js';
import type { Store } from '../store/index.js';

/** The store ports the federation service uses. */
export type FederationStore = Pick<
  Store,
  | 'getRelationship'
  | 'listRelationships'
  | 'putRelationship'
  | 'deleteRelationship'
  | 'getBundle'
  | 'putBundle'
  | 'deleteBundle'
  | 'bundleHistory'
  | 'getRefreshStatus'
  | 'putRefreshStatus'
  | 'deleteRefreshStatus'
  | 'publish'
  | 'subscribe'
> &
  // Optional so narrower stores still fit; with it, due() and list() read every status in one go.
  Partial<Pick<Store, 'listRefreshStatuses'>>;

export interface AuditSink {
  (event: {
    type: string;
    actor: string;
    trustDomain?: string;
    details?: Record<string, unknown>;
  }): Promise<void>;
}

export type FederationLogger = Pick<Logger, 'info' | 'warn'>;

export interface ActorContext {
  readonly actor: string;
  readonly reason?: string;
}
