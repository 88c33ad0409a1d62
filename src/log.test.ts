// The JSON-lines logger: the level filter, the time stamp from an injected Clock (milliseconds) and
// the field encoding (bigint as text, an Error as its message).
import { describe, expect, it } from 'vitest';
import { createLogger } from './log.js';

function capture(level: 'debug' | 'info' | 'warn' | 'error'): {
  lines: Record<string, unknown>[];
  logger: ReturnType<typeof createLogger>;
} {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({
    level,
    now: () => Date.UTC(2030, 0, 1, 12, 30, 0, 250),
    base: { replica: 'r1' },
    write: (line) => lines.push(JSON.parse(line) as Record<string, unknown>),
  });
  return { lines, logger };
}

describe('createLogger', () => {
  it('stamps each line with the injected clock (milliseconds) as ISO 8601', () => {
    const { lines, logger } = capture('info');
    logger.info('started', { port: 8443 });
    expect(lines).toEqual([
      {
        time: '2030-01-01T12:30:00.250Z',
        level: 'info',
        msg: 'started',
        replica: 'r1',
        port: 8443,
      },
    ]);
  });

  it('drops lines below the level and writes bigint and Error fields as text', () => {
    const { lines, logger } = capture('warn');
    logger.debug('hidden');
    logger.info('hidden');
    logger.warn('kept', { sequence: 12n, error: new Error('boom') });
    expect(lines.map((l) => [l['level'], l['msg'], l['sequence'], l['error']])).toEqual([
      ['warn', 'kept', '12', 'boom'],
    ]);
  });
});
