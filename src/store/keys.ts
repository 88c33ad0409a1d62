// Every Redis key and channel name, built in one place under a configurable prefix.
// Bundle keys carry a `{trust domain}` hash tag so a bundle's current + history stay in one cluster slot.
import { StoreError } from '../errors.js';

export const DEFAULT_KEY_PREFIX = 'fedbroker:';

/** Prefix characters: no glob specials (SCAN patterns) and no braces (cluster hash tags). */
const PREFIX_PATTERN = /^[A-Za-z0-9._:/-]{0,128}$/;
/** Ids, trust domain names, token hashes, lock and channel names. */
const COMPONENT_PATTERN = /^[A-Za-z0-9._:@+=~-]{1,512}$/;

/** Collections listed with SCAN. */
export type ScannedCollection =
  | 'bundle'
  | 'relationship'
  | 'entry'
  | 'admin'
  | 'session'
  | 'token'
  | 'refreshStatus'
  | 'replicaAuthorities';

/** The access room's collections (named admins, console sessions); anything else is a caller bug. */
export function checkAccessCollection(collection: string): 'admin' | 'session' {
  if (collection !== 'admin' && collection !== 'session') {
    throw new TypeError(`unknown access collection ${JSON.stringify(String(collection))}`);
  }
  return collection;
}

export interface StoreKeys {
  readonly prefix: string;
  bundleCurrent(trustDomain: string): string;
  bundleHistory(trustDomain: string): string;
  relationship(trustDomain: string): string;
  readonly localBundle: string;
  entry(id: string): string;
  /** A named admin or a console session (by the hash of its cookie). */
  access(collection: 'admin' | 'session', id: string): string;
  token(hash: string): string;
  readonly audit: string;
  refreshStatus(trustDomain: string): string;
  replicaAuthorities(replicaId: string): string;
  lock(name: string): string;
  channel(name: string): string;
  /** SCAN MATCH pattern for the main key of every record of a collection. */
  scanPattern(collection: ScannedCollection): string;
  /** The id inside a key matched by `scanPattern`, or undefined for a foreign key. */
  idFromKey(collection: ScannedCollection, key: string): string | undefined;
}

/** Refuses ids that could escape their key (glob characters, braces, spaces, empty). */
export function checkKeyComponent(what: string, value: string): string {
  if (typeof value !== 'string' || !COMPONENT_PATTERN.test(value)) {
    throw new TypeError(
      `${what} must be 1-512 characters of A-Z a-z 0-9 . _ : @ + = ~ -, got ${JSON.stringify(String(value).slice(0, 80))}`,
    );
  }
  return value;
}

export function createStoreKeys(prefix: string = DEFAULT_KEY_PREFIX): StoreKeys {
  if (typeof prefix !== 'string' || !PREFIX_PATTERN.test(prefix)) {
    throw new StoreError(
      'ERR_STORE_CONFIG',
      `key prefix ${JSON.stringify(String(prefix).slice(0, 80))} must be at most 128 characters of A-Z a-z 0-9 . _ : / -`,
    );
  }
  const heads: Record<ScannedCollection, string> = {
    bundle: `${prefix}bundle:{`,
    relationship: `${prefix}relationship:`,
    entry: `${prefix}entry:`,
    admin: `${prefix}admin:`,
    session: `${prefix}session:`,
    token: `${prefix}token:`,
    refreshStatus: `${prefix}refresh-status:`,
    replicaAuthorities: `${prefix}replica-authorities:`,
  };
  const tails: Record<ScannedCollection, string> = {
    bundle: '}:current',
    relationship: '',
    entry: '',
    admin: '',
    session: '',
    token: '',
    refreshStatus: '',
    replicaAuthorities: '',
  };
  return {
    prefix,
    bundleCurrent: (td) => `${heads.bundle}${checkKeyComponent('trust domain', td)}}:current`,
    bundleHistory: (td) => `${heads.bundle}${checkKeyComponent('trust domain', td)}}:history`,
    relationship: (td) => heads.relationship + checkKeyComponent('trust domain', td),
    localBundle: `${prefix}local-bundle`,
    entry: (id) => heads.entry + checkKeyComponent('entry id', id),
    access: (collection, id) =>
      heads[checkAccessCollection(collection)] + checkKeyComponent(`${collection} id`, id),
    token: (hash) => heads.token + checkKeyComponent('token hash', hash),
    audit: `${prefix}audit`,
    refreshStatus: (td) => heads.refreshStatus + checkKeyComponent('trust domain', td),
    replicaAuthorities: (id) => heads.replicaAuthorities + checkKeyComponent('replica id', id),
    lock: (name) => `${prefix}lock:${checkKeyComponent('lock name', name)}`,
    channel: (name) => `${prefix}channel:${checkKeyComponent('channel', name)}`,
    scanPattern: (collection) => `${heads[collection]}*${tails[collection]}`,
    idFromKey: (collection, key) => {
      const head = heads[collection];
      const tail = tails[collection];
      if (!key.startsWith(head) || !key.endsWith(tail)) return undefined;
      const id = key.slice(head.length, key.length - tail.length);
      return COMPONENT_PATTERN.test(id) ? id : undefined;
    },
  };
}
