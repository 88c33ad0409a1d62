// Duration values in configuration: "90s", "5m", "1h", "2d" or a bare number of seconds.
import { z } from 'zod';

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** Parses "1h30m"-style text or a number of seconds into whole seconds; undefined when malformed. */
export function parseDurationSeconds(input: string | number): number | undefined {
  if (typeof input === 'number') {
    return Number.isInteger(input) && input >= 0 ? input : undefined;
  }
  const text = input.trim();
  if (/^\d+$/.test(text)) return Number(text);
  const pattern = /(\d+)([smhd])/gy;
  let total = 0;
  let consumed = 0;
  for (const match of text.matchAll(pattern)) {
    total += Number(match[1]) * (UNIT_SECONDS[match[2] ?? ''] ?? 0);
    consumed += match[0].length;
  }
  return consumed === text.length && consumed > 0 ? total : undefined;
}

/** A zod schema for a duration bounded to [minSeconds, maxSeconds], producing seconds. */
export function durationSeconds(minSeconds: number, maxSeconds: number) {
  return z.union([z.string(), z.number()]).transform((value, ctx) => {
    const seconds = parseDurationSeconds(value);
    if (seconds === undefined) {
      ctx.addIssue({
        code: 'custom',
        message: `"${String(value)}" is not a duration like 30s, 5m, 1h or 2d`,
      });
      return z.NEVER;
    }
    if (seconds < minSeconds || seconds > maxSeconds) {
      ctx.addIssue({
        code: 'custom',
        message: `${String(value)} is outside the allowed range ${formatDuration(minSeconds)}..${formatDuration(maxSeconds)}`,
      });
      return z.NEVER;
    }
    return seconds;
  });
}

/** Formats seconds as the largest exact unit ("3600" → "1h"), for generated config files. */
export function formatDuration(seconds: number): string {
  for (const unit of ['d', 'h', 'm'] as const) {
    const size = UNIT_SECONDS[unit] ?? 1;
    if (seconds > 0 && seconds % size === 0) return `${seconds / size}${unit}`;
  }
  return `${seconds}s`;
}
