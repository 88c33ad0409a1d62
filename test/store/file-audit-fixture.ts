// Shared fixture of the file-audit-*.test.ts files: a temporary root with one fresh store directory per
// test (nextDir), the segment line format (checksum, name), and readers of the segments on disk.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import type { AuditRecord, Store } from '../../src/store/index.js';
import { lineChecksum } from '../helpers/audit-tamper.js';
import { chained } from './contract.js';

let root = '';
let n = 0;
/** A new directory under the file's temporary root (removed after all). */
export const nextDir = (): string => join(root, `a${n++}`);

/** Registers the calling test file's hooks: the temporary root made before all and removed after all. */
export function useFileAuditWorld(): void {
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'fedbroker-file-audit-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });
}

export const line = (body: string): string => `${lineChecksum(body)} ${body}\n`;
export const segmentName = (firstId: number): string => `${String(firstId).padStart(20, '0')}.log`;

export function quietLogger(warnings: string[] = []) {
  return { logger: { info: () => undefined, warn: (message: string) => warnings.push(message) } };
}

export async function appendMany(store: Store, count: number, type = 'x'): Promise<AuditRecord[]> {
  const out: AuditRecord[] = [];
  for (let i = 0; i < count; i++) out.push(await store.appendAudit(chained(type)));
  return out;
}

/** Segment file names in `<dir>/audit` and the records each holds (checksums verified). */
export async function segments(dir: string): Promise<{ name: string; ids: number[] }[]> {
  const folder = join(dir, 'audit');
  const names = (await readdir(folder)).sort();
  return Promise.all(
    names.map(async (name) => {
      const lines = (await readFile(join(folder, name), 'utf8')).split('\n').slice(0, -1);
      const ids = lines.map((l) => {
        expect(l.slice(0, 16)).toBe(lineChecksum(l.slice(17)));
        return (JSON.parse(l.slice(17)) as AuditRecord).id;
      });
      return { name, ids };
    }),
  );
}

export const all = (store: Store): Promise<AuditRecord[]> => store.listAudit({ limit: 10_000 });
export const range = (from: number, to: number): number[] =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);
