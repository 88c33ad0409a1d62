// Structured JSON-lines logging to stderr with a level filter. Callers pass facts, never secrets.
import { systemClock, type Clock } from './clock.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  debug(message: string, fields?: Readonly<Record<string, unknown>>): void;
  info(message: string, fields?: Readonly<Record<string, unknown>>): void;
  warn(message: string, fields?: Readonly<Record<string, unknown>>): void;
  error(message: string, fields?: Readonly<Record<string, unknown>>): void;
}

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export function createLogger(options: {
  level: LogLevel;
  write: (line: string) => void;
  /** Stamps each line (milliseconds since the epoch); default the system clock. */
  now?: Clock;
  base?: Readonly<Record<string, unknown>>;
}): Logger {
  const threshold = ORDER[options.level];
  const now = options.now ?? systemClock;
  const emit = (
    level: LogLevel,
    message: string,
    fields?: Readonly<Record<string, unknown>>,
  ): void => {
    if (ORDER[level] < threshold) return;
    const record = {
      time: new Date(now()).toISOString(),
      level,
      msg: message,
      ...options.base,
      ...fields,
    };
    options.write(
      JSON.stringify(record, (_key, value: unknown) =>
        typeof value === 'bigint'
          ? value.toString()
          : value instanceof Error
            ? value.message
            : value,
      ) + '\n',
    );
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
  };
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
