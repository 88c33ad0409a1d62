// Human tables and JSON output for CLI commands.
import type { CliIo } from './io.js';

/** Prints rows as an aligned text table with a header line. */
export function printTable(
  io: CliIo,
  columns: readonly string[],
  rows: readonly (readonly string[])[],
): void {
  const widths = columns.map((column, i) =>
    Math.max(column.length, ...rows.map((row) => (row[i] ?? '').length)),
  );
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  io.stdout(line(columns.map((c) => c.toUpperCase())) + '\n');
  for (const row of rows) io.stdout(line(row) + '\n');
}

/** Prints `key: value` lines. */
export function printFields(io: CliIo, fields: readonly (readonly [string, string])[]): void {
  const width = Math.max(...fields.map(([key]) => key.length)) + 1;
  for (const [key, value] of fields) io.stdout(`${(key + ':').padEnd(width)} ${value}\n`);
}

/** Prints a value as JSON; bigints become decimal strings so 64-bit sequences stay exact. */
export function printJson(io: CliIo, value: unknown): void {
  io.stdout(
    JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2) +
      '\n',
  );
}
