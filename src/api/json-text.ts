// JSON text helpers for responses that embed SPIFFE bundle JSON verbatim (sequence numbers may
// exceed 2^53, so bundles are never round-tripped through JSON.parse) or lossless claim values.
import { JsonNumber } from '../bundle/index.js';

/** A JSON value whose text is already serialised and trusted (our own marshalBundle output). */
export class RawJson {
  constructor(readonly text: string) {}
}

/** JSON.stringify that keeps JsonNumber literals exactly and splices RawJson text in place. */
export function jsonText(value: unknown): string {
  if (value instanceof RawJson) return value.text;
  if (value instanceof JsonNumber) return value.raw;
  if (value === undefined) return 'null';
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (value instanceof Date) return JSON.stringify(value.toISOString());
  if (Array.isArray(value)) return `[${value.map((item: unknown) => jsonText(item)).join(',')}]`;
  const parts: string[] = [];
  for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
    if (item === undefined) continue;
    parts.push(`${JSON.stringify(key)}:${jsonText(item)}`);
  }
  return `{${parts.join(',')}}`;
}

/** JSON text on one line (SSE data lines cannot hold newlines; JSON strings never contain raw ones). */
export function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, '');
}
