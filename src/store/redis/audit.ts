// The Redis store's AuditLog port: a stream whose entry ids are the record ids, appended by a script
// that checks the last id (optimistic, retried on a lost race), capped by MAXLEN ~ or, with a trim
// builder, trimmed exactly (XTRIM MINID) beside an `audit.trimmed` record in the same script.
import { StoreError } from '../../errors.js';
import {
  auditRecordFromDraft,
  auditTrimCount,
  checkAuditQuery,
  checkStoredAuditRange,
  decodeAudit,
  matchesAuditQuery,
} from '../records.js';
import type {
  AuditDraft,
  AuditLog,
  AuditQuery,
  AuditRecord,
  AuditTrimBuilder,
  StoredAuditPage,
} from '../store.js';
import type { RedisContext } from './scan.js';
import { APPEND_AUDIT } from './scripts.js';

const AUDIT_APPEND_ATTEMPTS = 100;

type AuditBuild = (previous: AuditRecord | undefined, id: number) => AuditDraft;

export interface RedisAuditOptions {
  readonly auditMax: number;
  /** With one, trims are exact and recorded; without, the stream is capped silently (MAXLEN ~). */
  readonly auditTrimmed: AuditTrimBuilder | undefined;
}

function decodeStreamEntry(entry: [string, string[]]): AuditRecord {
  const fields = entry[1];
  const index = fields.indexOf('r');
  const text = index >= 0 ? fields[index + 1] : undefined;
  if (text === undefined) {
    throw new StoreError('ERR_STORE_CORRUPT', `audit entry ${entry[0]} has no record`);
  }
  return decodeAudit(text);
}

async function lastAuditRecord({ conn, keys }: RedisContext): Promise<AuditRecord | undefined> {
  const last = (await conn.client.xrevrange(keys.audit, '+', '-', 'COUNT', 1))[0];
  return last === undefined ? undefined : decodeStreamEntry(last);
}

/**
 * With a trim builder: the `audit.trimmed` record to append after `record` when the stream would
 * pass auditMax, and the first id to keep. Counted by XLEN and read by XRANGE, so a gap left by
 * an XDEL does not throw the range off; the append script's last-id check makes it atomic.
 */
async function trimmedRecord(
  { conn, keys }: RedisContext,
  options: RedisAuditOptions,
  record: AuditRecord,
): Promise<{ record: AuditRecord; keepFromId: number } | 'raced' | undefined> {
  const build = options.auditTrimmed;
  if (build === undefined) return undefined;
  const visible = await conn.client.xlen(keys.audit);
  const count = Math.min(visible, auditTrimCount(visible, 1, options.auditMax));
  if (count === 0) return undefined;
  const entries = await conn.client.xrange(keys.audit, '-', '+', 'COUNT', count);
  const first = entries[0];
  const lastEntry = entries.at(-1);
  // Emptied meanwhile by another appender, whose append then also makes ours lose the race.
  if (first === undefined || lastEntry === undefined) return 'raced';
  const last = decodeStreamEntry(lastEntry);
  const trim = {
    count: entries.length,
    fromId: Number.parseInt(first[0], 10),
    toId: last.id,
    lastTrimmedHash: last.hash,
  };
  return {
    record: auditRecordFromDraft(record.id + 1, build(record, record.id + 1, trim)),
    keepFromId: last.id + 1,
  };
}

async function appendAudit(
  context: RedisContext,
  options: RedisAuditOptions,
  build: AuditBuild,
): Promise<AuditRecord> {
  const { conn, keys } = context;
  for (let attempt = 0; attempt < AUDIT_APPEND_ATTEMPTS; attempt++) {
    const previous = await conn.call('read audit', () => lastAuditRecord(context));
    const id = (previous?.id ?? 0) + 1;
    // The builder runs outside `call`: its own errors reach the caller unchanged.
    const record = auditRecordFromDraft(id, build(previous, id));
    const trim = await conn.call('read audit', () => trimmedRecord(context, options, record));
    const won =
      trim === 'raced'
        ? 0
        : await conn.call('append audit', () =>
            conn.run(
              APPEND_AUDIT,
              [keys.audit],
              [
                String(previous?.id ?? 0),
                String(id),
                // '0': no MAXLEN (explicit trims only, with a trim builder).
                options.auditTrimmed === undefined ? options.auditMax : 0,
                JSON.stringify(record),
                ...(trim === undefined
                  ? []
                  : [String(trim.record.id), JSON.stringify(trim.record), String(trim.keepFromId)]),
              ],
            ),
          );
    if (won === 1) return record;
    // Another appender won; back off a little so a crowd spreads out.
    await new Promise((resolve) =>
      setTimeout(resolve, Math.random() * 5 * Math.min(attempt + 1, 10)),
    );
  }
  throw new StoreError('ERR_STORE_CONFLICT', 'audit append lost the race too many times');
}

async function listAudit({ conn, keys }: RedisContext, query: AuditQuery): Promise<AuditRecord[]> {
  checkAuditQuery(query);
  const backward = query.direction === 'backward';
  const page = Math.min(Math.max(query.limit * 2, 100), 1000);
  return conn.call('list audit', async () => {
    const out: AuditRecord[] = [];
    let bound = query.fromId === undefined ? (backward ? '+' : '-') : `${query.fromId}-0`;
    while (out.length < query.limit) {
      const batch = backward
        ? await conn.client.xrevrange(keys.audit, bound, '-', 'COUNT', page)
        : await conn.client.xrange(keys.audit, bound, '+', 'COUNT', page);
      for (const entry of batch) {
        const record = decodeStreamEntry(entry);
        if (matchesAuditQuery(record, query)) out.push(record);
        if (out.length >= query.limit) break;
      }
      const last = batch.at(-1);
      if (batch.length < page || last === undefined) break;
      const lastId = Number.parseInt(last[0], 10);
      if (backward && lastId <= 1) break;
      bound = `${backward ? lastId - 1 : lastId + 1}-0`;
    }
    return out;
  });
}

async function readStoredAudit(
  { conn, keys }: RedisContext,
  fromId: number,
  limit: number,
): Promise<StoredAuditPage> {
  checkStoredAuditRange(fromId, limit);
  return conn.call('read audit', async (): Promise<StoredAuditPage> => {
    const entries = await conn.client.xrange(keys.audit, `${fromId}-0`, '+', 'COUNT', limit);
    const records: AuditRecord[] = [];
    for (const entry of entries) {
      try {
        records.push(decodeStreamEntry(entry));
      } catch {
        const afterId = records.at(-1)?.id ?? fromId - 1;
        return { records, unreadable: { afterId, where: `stream entry ${entry[0]}` } };
      }
    }
    return { records };
  });
}

export function redisAuditLog(context: RedisContext, options: RedisAuditOptions): AuditLog {
  return {
    appendAudit: async (build: AuditBuild) => appendAudit(context, options, build),
    lastAudit: async () => context.conn.call('read audit', () => lastAuditRecord(context)),
    readStoredAudit: async (fromId: number, limit: number) =>
      readStoredAudit(context, fromId, limit),
    listAudit: async (query: AuditQuery) => listAudit(context, query),
  };
}
