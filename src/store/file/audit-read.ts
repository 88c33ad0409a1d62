// Reading the file store's audit segment files: their names, their record lines, and the re-read of
// what is on disk now (not the memory copy) that `audit verify` checks, so an edit made on disk shows.
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { AuditRecord, StoredAuditPage } from '../store.js';
import { errnoOf, readChecksummedLine, unavailable } from './durable-file.js';

const SEGMENT_NAME = /^(\d{20})\.log$/;

/** `00000000000000000001.log`: named by the first id the segment holds, so names sort by id. */
export function segmentName(firstId: number): string {
  return `${String(firstId).padStart(20, '0')}.log`;
}

/** The segment file names in `folder`, in id order. */
export async function segmentNames(folder: string): Promise<string[]> {
  return (await readdir(folder)).filter((name) => SEGMENT_NAME.test(name)).sort();
}

/** The record of one segment line, or undefined when torn, damaged or without a valid id. */
export function parseRecordLine(line: string): AuditRecord | undefined {
  const record = readChecksummedLine(line) as AuditRecord | null | undefined;
  if (record === null || typeof record !== 'object') return undefined;
  return Number.isSafeInteger(record.id) && record.id >= 1 ? record : undefined;
}

/**
 * Reads up to `limit` records with id >= `fromId` from the segment files as they are on disk now.
 * A line without its newline at the very end is an append in flight and is left out; any other
 * line that does not parse (checksum, JSON, id) stops the read and is reported, never thrown.
 */
export async function readStoredSegments(
  folder: string,
  fromId: number,
  limit: number,
): Promise<StoredAuditPage> {
  const names = await segmentNames(folder);
  // The last segment whose first id is <= fromId holds it (names sort by first id).
  let start = 0;
  for (const [index, name] of names.entries()) {
    if (Number(name.slice(0, 20)) <= fromId) start = index;
  }
  const out: AuditRecord[] = [];
  let afterId = 0;
  for (const name of names.slice(start)) {
    const path = join(folder, name);
    let text: Buffer;
    try {
      text = await readFile(path);
    } catch (error) {
      if (errnoOf(error) === 'ENOENT') continue; // unlinked by a trim meanwhile
      throw unavailable(`cannot read audit segment "${path}"`, error);
    }
    let offset = 0;
    while (offset < text.length) {
      const end = text.indexOf(0x0a, offset);
      if (end < 0) break;
      const record = parseRecordLine(text.toString('utf8', offset, end));
      if (record === undefined) {
        return { records: out, unreadable: { afterId, where: `${path} at byte ${offset}` } };
      }
      afterId = record.id;
      if (record.id >= fromId) {
        out.push(record);
        if (out.length >= limit) return { records: out };
      }
      offset = end + 1;
    }
  }
  return { records: out };
}
