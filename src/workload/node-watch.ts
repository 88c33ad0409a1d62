// Follows GET /v1/agent/node/watch (contract 17): server-sent `state` events, each the complete
// node state; reconnects with capped, jittered backoff and after 60 s without a byte.
import { backoffMs, parseSseBlock } from '../agent/index.js';
import type { BrokerClient } from './broker-client.js';
import { MAX_RESPONSE_BYTES } from './broker-client.js';

/** The broker sends a heartbeat comment well within this. */
const WATCH_IDLE_MS = 60_000;

// The node agent backs off and reads server-sent events as the SDK agent does (one copy each).
export { backoffMs };

/**
 * Calls `onState` with each state event's data (it throws on a bad one, which is logged and
 * skipped); returns the stop function.
 */
export function followNodeWatch(
  client: BrokerClient,
  onState: (data: string) => void,
  warn: (message: string, fields?: Record<string, unknown>) => void,
): () => void {
  let stopped = false;
  let attempt = 0;
  let retry: NodeJS.Timeout | undefined;

  function start(): void {
    if (stopped) return;
    let buffer = '';
    let finished = false;
    let idle: NodeJS.Timeout | undefined;
    const done = (reason: string): void => {
      if (finished) return;
      finished = true;
      clearTimeout(idle);
      if (stopped) return;
      attempt += 1;
      const delay = backoffMs(attempt);
      warn('node watch ended; reconnecting', { reason, inMs: delay });
      retry = setTimeout(start, delay);
      retry.unref();
    };
    const request = client.open(
      '/v1/agent/node/watch',
      (response) => {
        if (response.statusCode !== 200) {
          response.resume();
          done(`HTTP ${response.statusCode}`);
          return;
        }
        const bump = (): void => {
          clearTimeout(idle);
          idle = setTimeout(() => request.destroy(new Error('watch idle')), WATCH_IDLE_MS);
          idle.unref();
        };
        bump();
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          bump();
          buffer += chunk;
          if (buffer.length > MAX_RESPONSE_BYTES) {
            request.destroy(new Error('watch event too large'));
            return;
          }
          let end: number;
          while ((end = buffer.search(/\r?\n\r?\n/)) !== -1) {
            const block = parseSseBlock(buffer.slice(0, end));
            buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, '');
            if (block.event !== 'state') continue;
            try {
              onState(block.data);
              attempt = 0;
            } catch (error) {
              warn('ignoring a malformed node state', { error: (error as Error).message });
            }
          }
        });
        response.on('end', () => done('stream closed'));
        response.on('error', () => done('stream failed'));
      },
      (error) => done(error.message),
    );
  }

  start();
  return () => {
    stopped = true;
    clearTimeout(retry);
  };
}
