// Editing a stopped file store's audit trail the way an attacker with disk access would, for the
// tamper tests at store level (test/store/audit-tamper.test.ts) and through the CLI
// (test/cli/audit-tamper.test.ts): the segments read and written back, each record replaced or
// removed in id order, per-line checksums recomputed (or, naively, kept).
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { AuditEvent } from '../../src/audit/index.js';

/** Replaces one event (`null`: removes it); called for every stored event in order. */
export type Tamper = (
  event: AuditEvent,
  index: number,
  all: readonly AuditEvent[],
) => AuditEvent | null;

/** A tamper that changes only the event at `target`. */
export const only =
  (
    target: number,
    change: (event: AuditEvent, all: readonly AuditEvent[]) => AuditEvent | null,
  ): Tamper =>
  (event, index, all) =>
    index === target ? change(event, all) : event;

/** An edited copy of `data`: its first field changed, or one added when it has none. */
export function editedData(data: AuditEvent['data']): AuditEvent['data'] {
  const key = Object.keys(data)[0];
  if (key === undefined) return { injected: true };
  return { ...data, [key]: `${JSON.stringify(data[key])}-edited` };
}

/** The file store's per-line checksum: the first 16 hex characters of SHA-256 over the body. */
export const lineChecksum = (body: string): string =>
  createHash('sha256').update(body, 'utf8').digest('hex').slice(0, 16);

/** Segment file name -> content (audit/<first id>.log, one checksummed record per line). */
export type Segments = ReadonlyMap<string, string>;

export function readSegments(folder: string): Segments {
  const names = readdirSync(folder).sort();
  return new Map(names.map((name) => [name, readFileSync(join(folder, name), 'utf8')]));
}

/** Replaces every segment file in `folder` with `segments` (files not listed are removed). */
export function writeSegments(folder: string, segments: Segments): void {
  for (const name of readdirSync(folder)) {
    if (!segments.has(name)) rmSync(join(folder, name));
  }
  for (const [name, text] of segments) writeFileSync(join(folder, name), text);
}

/**
 * Applies `tamper` to every audit record in the segments, in id order; checksums recomputed unless
 * `naive`. A removed record's line is dropped; file names stay (a segment is named by its first id).
 */
export function tamperSegments(segments: Segments, tamper: Tamper, naive = false): Segments {
  const files = [...segments].map(([name, text]) => {
    const lines = text.split('\n').filter((line) => line !== '');
    const records = lines.map((line) => {
      const body = line.slice(17);
      expect(line.slice(0, 16), 'segment line checksum').toBe(lineChecksum(body));
      return JSON.parse(body) as AuditEvent;
    });
    return { name, lines, records };
  });
  const events = files.flatMap((f) => f.records);
  let index = 0;
  const out = files.map(({ name, lines, records }): [string, string] => {
    const kept = records.flatMap((record, i) => {
      const replaced = tamper(record, index, events);
      index += 1;
      if (replaced === null) return [];
      const body = JSON.stringify(replaced);
      if (body === JSON.stringify(record)) return [lines[i] as string];
      return [`${naive ? (lines[i] as string).slice(0, 16) : lineChecksum(body)} ${body}`];
    });
    return [name, kept.map((line) => `${line}\n`).join('')];
  });
  expect(index, 'audit records found in the segments').toBe(events.length);
  return new Map(out);
}
