// The Redis store's AuditLog port: a stream whose entry ids are the record ids (an entry whose record
// says otherwise is ERR_STORE_CORRUPT), appended in group commits by ./audit-append.ts, capped by
// MAXLEN ~ or, with a trim builder, trimmed exactly (XTRIM MINID) beside an `audit.trimmed` record.
import { StoreError } from '../../errors.js';
import {
  checkAuditQuery,
  checkStoredAuditRange,
  decodeAudit,
  matchesAuditQuery,
} from '../records.js';
import type { AuditLog, AuditQuery, AuditRecord, StoredAuditPage } from '../store.js';
import { RedisAuditAppender, type AuditBuild, type RedisAuditOptions } from './audit-append.js';
import type { RedisContext } from './scan.js';

export type { RedisAuditOptions } from './audit-append.js';

function decodeStreamEntry(entry: [string, string[]]): AuditRecord {
  const fields = entry[1];
  const index = fields.indexOf('r');
  const text = index >= 0 ? fields[index + 1] : undefined;
  if (text === undefined) {
    throw new StoreError('ERR_STORE_CORRUPT', `audit entry ${entry[0]} has no record`);
  }
  const record = decodeAudit(text);
  if (entry[0] !== `${record.id}-0`) {
    throw new StoreError(
      'ERR_STORE_CORRUPT',
      `audit stream entry ${entry[0]} holds the record of id ${record.id}`,
    );
  }
  return record;
}

async function lastAuditRecord({ conn, keys }: RedisContext): Promise<AuditRecord | undefined> {
  const last = (await conn.client.xrevrange(keys.audit, '+', '-', 'COUNT', 1))[0];
  return last === undefined ? undefined : decodeStreamEntry(last);
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
  const appender = new RedisAuditAppender(
    context,
    options,
    () => lastAuditRecord(context),
    decodeStreamEntry,
  );
  return {
    appendAudit: async (build: AuditBuild) => appender.append(build),
    lastAudit: async () => context.conn.call('read audit', () => lastAuditRecord(context)),
    readStoredAudit: async (fromId: number, limit: number) =>
      readStoredAudit(context, fromId, limit),
    listAudit: async (query: AuditQuery) => listAudit(context, query),
  };
}
