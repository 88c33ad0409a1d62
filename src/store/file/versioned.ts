// The file store's versioned records: relationships, registration entries, named admins and console
// sessions, each write compare-and-set on the record's version (a mismatch is ERR_STORE_CONFLICT).
import { checkAccessCollection, checkKeyComponent } from '../keys.js';
import { checkExpectedVersion, conflictError, encodeObject } from '../records.js';
import type {
  AccessCollection,
  AccessStore,
  EntryStore,
  ExpectedVersion,
  JsonObject,
  RelationshipStore,
} from '../store.js';
import type { FileRecordContext } from './journal.js';

type VersionedCollection = 'relationship' | 'entry' | AccessCollection;

export function fileVersionedStore({
  journal,
  checkOpen,
}: FileRecordContext): RelationshipStore & EntryStore & AccessStore {
  const state = journal.state;

  function versionedPut(
    coll: VersionedCollection,
    what: string,
    id: string,
    value: object,
    expected: ExpectedVersion,
  ): Promise<number> {
    checkKeyComponent(what, id);
    checkExpectedVersion(expected, true);
    const parsed = JSON.parse(encodeObject(what, value)) as JsonObject;
    return journal.write((view) => {
      const current = view.get(coll, id);
      if (
        (expected === null && current !== undefined) ||
        (typeof expected === 'number' && current?.version !== expected)
      ) {
        throw conflictError(what, id, expected);
      }
      const version = (current?.version ?? 0) + 1;
      return {
        changes: [{ op: 'put', coll, id, value: { value: parsed, version } }],
        result: version,
      };
    });
  }

  function versionedDelete(
    coll: VersionedCollection,
    what: string,
    id: string,
    expected: number | 'any',
  ): Promise<boolean> {
    checkKeyComponent(what, id);
    checkExpectedVersion(expected, false);
    return journal.write((view) => {
      const current = view.get(coll, id);
      if (current === undefined) return { changes: [], result: false };
      if (expected !== 'any' && current.version !== expected) {
        throw conflictError(what, id, expected);
      }
      return { changes: [{ op: 'del', coll, id }], result: true };
    });
  }

  return {
    getRelationship: async (td) => {
      checkOpen();
      return state.relationship.get(checkKeyComponent('trust domain', td));
    },
    listRelationships: async () => {
      checkOpen();
      return [...state.relationship.values()];
    },
    putRelationship: async (td, value, expected) =>
      versionedPut('relationship', 'trust domain', td, value, expected),
    deleteRelationship: async (td, expected) =>
      versionedDelete('relationship', 'trust domain', td, expected),

    getEntry: async (id) => {
      checkOpen();
      return state.entry.get(checkKeyComponent('entry id', id));
    },
    listEntries: async () => {
      checkOpen();
      return [...state.entry].map(([id, versioned]) => ({ id, ...versioned }));
    },
    putEntry: async (id, value, expected) => versionedPut('entry', 'entry id', id, value, expected),
    deleteEntry: async (id, expected) => versionedDelete('entry', 'entry id', id, expected),

    getAccess: async (coll, id) => {
      checkOpen();
      return state[checkAccessCollection(coll)].get(checkKeyComponent(`${coll} id`, id));
    },
    listAccess: async (coll) => {
      checkOpen();
      return [...state[checkAccessCollection(coll)]].map(([id, versioned]) => ({
        id,
        ...versioned,
      }));
    },
    putAccess: async (coll, id, value, expected) =>
      versionedPut(checkAccessCollection(coll), `${coll} id`, id, value, expected),
    deleteAccess: async (coll, id, expected) =>
      versionedDelete(checkAccessCollection(coll), `${coll} id`, id, expected),
  };
}
