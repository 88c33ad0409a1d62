// open(2) flags of this process's descriptors on a file, read from /proc (Linux only): shows how a
// store opened its files (O_APPEND, O_DSYNC) without trusting its own bookkeeping.
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

/** Flags of every descriptor this process holds on `path` (none open: an empty list). */
export function openFlagsOf(path: string): number[] {
  return readdirSync('/proc/self/fd').flatMap((fd) => {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) !== path) return [];
      const info = readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
      return [parseInt(/^flags:\s*([0-7]+)$/m.exec(info)?.[1] ?? '0', 8)];
    } catch {
      // A descriptor closed between the listing and the read.
      return [];
    }
  });
}
