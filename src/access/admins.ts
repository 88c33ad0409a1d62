// The admin directory: add, list, remove (ending the admin's console sessions at once) and rotate
// named admins in the store, and authenticate their personal tokens.
import { AccessError } from '../errors.js';
import type { AccessStore } from '../store/index.js';
import {
  adminFromValue,
  newAdminToken,
  parseAdminName,
  parseAdminRole,
  principalOf,
  sameHash,
  hashSecret,
  splitAdminToken,
  type AdminRecord,
  type AdminView,
  type Principal,
} from './admin.js';
import type { Clock } from '../clock.js';
import { adminNameOfActor } from './lineage.js';

export interface AdminDirectory {
  /** Returns the personal token: shown once, stored only hashed. */
  add(
    name: string,
    role: string,
    context: { actor: string },
  ): Promise<{ admin: AdminView; token: string }>;
  list(): Promise<AdminView[]>;
  get(name: string): Promise<AdminView>;
  /** Removes the admin and every console session of theirs; their past audit events stay. */
  remove(name: string): Promise<{ sessionsEnded: number }>;
  /** A new token; the old one stops working at once, and so do the admin's sessions. */
  rotate(name: string): Promise<{ admin: AdminView; token: string }>;
  /** The principal of a personal token, or undefined when it is not a valid one. */
  authenticate(token: string): Promise<Principal | undefined>;
}

function viewOf(record: AdminRecord): AdminView {
  const { tokenHash: _hash, ...view } = record;
  return view;
}

function notFound(name: string): AccessError {
  return new AccessError('ERR_ACCESS_ADMIN_NOT_FOUND', `no admin named "${name}"`);
}

export function createAdminDirectory(deps: {
  readonly store: AccessStore;
  readonly now: Clock;
  /** Ends the sessions of one admin (the session room's job); returns how many. */
  readonly endSessions: (name: string) => Promise<number>;
}): AdminDirectory {
  const read = async (name: string): Promise<{ record: AdminRecord; version: number }> => {
    const found = await deps.store.getAccess('admin', parseAdminName(name));
    const record = found === undefined ? undefined : adminFromValue(found.value);
    if (found === undefined || record === undefined) throw notFound(name);
    return { record, version: found.version };
  };
  return {
    async add(name, role, context) {
      const record: Omit<AdminRecord, 'tokenHash'> = {
        name: parseAdminName(name),
        role: parseAdminRole(role),
        createdAtMs: deps.now(),
        createdBy: context.actor,
        // Two-person rule: who added whom (`root`, a named admin, an mTLS admin's name).
        addedBy: adminNameOfActor(context.actor),
        rotatedAtMs: null,
      };
      const { token, tokenHash } = newAdminToken(record.name);
      try {
        await deps.store.putAccess('admin', record.name, { ...record, tokenHash }, null);
      } catch (error) {
        if ((error as { code?: unknown }).code === 'ERR_STORE_CONFLICT') {
          throw new AccessError('ERR_ACCESS_ADMIN_EXISTS', `admin "${record.name}" already exists`);
        }
        throw error;
      }
      return { admin: record, token };
    },
    async list() {
      const all = await deps.store.listAccess('admin');
      return all
        .map((v) => adminFromValue(v.value))
        .filter((r): r is AdminRecord => r !== undefined)
        .map(viewOf)
        .sort((a, b) => a.name.localeCompare(b.name));
    },
    async get(name) {
      return viewOf((await read(name)).record);
    },
    async remove(name) {
      const { version } = await read(name);
      if (!(await deps.store.deleteAccess('admin', name, version))) throw notFound(name);
      return { sessionsEnded: await deps.endSessions(name) };
    },
    async rotate(name) {
      const { record, version } = await read(name);
      const { token, tokenHash } = newAdminToken(record.name);
      const next: AdminRecord = { ...record, tokenHash, rotatedAtMs: deps.now() };
      await deps.store.putAccess('admin', record.name, next, version);
      await deps.endSessions(record.name);
      return { admin: viewOf(next), token };
    },
    async authenticate(token) {
      const parts = splitAdminToken(token);
      if (parts === undefined) return undefined;
      const found = await deps.store.getAccess('admin', parts.name);
      const record = found === undefined ? undefined : adminFromValue(found.value);
      // Hash anyway so that an unknown name and a wrong secret take the same work.
      const presented = hashSecret(parts.secret);
      if (record === undefined || !sameHash(presented, record.tokenHash)) return undefined;
      return principalOf(record.name, record.role, 'token');
    },
  };
}
