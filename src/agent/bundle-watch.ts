// Keeps the agent's bundle set current: follows the broker's server-sent event stream
// (`/v1/agent/bundles/watch`), reconnects with backoff, treats a silent stream as dead, and polls
// `/v1/agent/bundles` while the stream is down.
import type { ClientRequest, IncomingMessage } from 'node:http';
import { parseStrictJson } from '../bundle/index.js';
import { MAX_RESPONSE_BYTES, tooLarge, unreachable } from './broker-connection.js';
import type { Logger } from '../log.js';
import { backoffMs } from './svid-rotation.js';

/** No byte on the watch stream for this long (the broker sends keep-alives every 15 s): reconnect. */
const WATCH_IDLE_MS = 60_000;
export const WATCH_PATH = '/v1/agent/bundles/watch';

export interface BundleWatchDeps {
  /** Opens the event stream (mTLS GET of WATCH_PATH), aborted through `signal`. */
  readonly open: (
    signal: AbortSignal,
    onResponse: (response: IncomingMessage) => void,
  ) => ClientRequest;
  /** Applies one `bundles` event's data (the `/v1/agent/bundles` answer); throws when malformed. */
  readonly apply: (value: unknown) => void;
  /** Fetches the bundle set (the poll while the stream is down). */
  readonly refresh: () => Promise<void>;
  /** Follow the stream at all (CreateAgentOptions.watch); polling runs either way. */
  readonly enabled: boolean;
  readonly pollIntervalMs: number;
  readonly logger?: Pick<Logger, 'warn'> | undefined;
}

export interface BundleWatch {
  /** Starts the stream (when enabled) and the poll. */
  start(): void;
  /** Drops the current stream and opens a new one at once (after the SVID was renewed). */
  restart(): void;
  stop(): void;
}

/** One server-sent event block: its event name (default `message`) and joined data lines. */
export function parseSseBlock(block: string): { event: string; data: string } {
  let event = 'message';
  const data: string[] = [];
  for (const line of block.split(/\r?\n/)) {
    if (line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
  }
  return { event, data: data.join('\n') };
}

export function createBundleWatch(deps: BundleWatchDeps): BundleWatch {
  const logger = deps.logger;
  let stopped = false;
  let current: AbortController | undefined;
  let connected = false;
  let attempt = 0;
  let retryTimer: NodeJS.Timeout | undefined;
  let pollTimer: NodeJS.Timeout | undefined;

  function handleEvent(block: string): void {
    const { event, data } = parseSseBlock(block);
    if (event !== 'bundles') return;
    try {
      deps.apply(parseStrictJson(data));
      attempt = 0;
    } catch (error) {
      logger?.warn('ignoring a malformed bundles event', { error: (error as Error).message });
    }
  }

  /** Splits the stream into event blocks (blank-line separated) as bytes arrive. */
  function follow(request: ClientRequest, response: IncomingMessage, bump: () => void): void {
    let buffer = '';
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => {
      bump();
      buffer += chunk;
      if (buffer.length > MAX_RESPONSE_BYTES) {
        request.destroy(tooLarge());
        return;
      }
      let end: number;
      while ((end = buffer.search(/\r?\n\r?\n/)) !== -1) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, '');
        handleEvent(block);
      }
    });
  }

  function connect(): void {
    if (stopped || !deps.enabled) return;
    const abort = new AbortController();
    current = abort;
    let idle: NodeJS.Timeout | undefined;
    const bump = (): void => {
      clearTimeout(idle);
      idle = setTimeout(() => request.destroy(unreachable('watch stream idle')), WATCH_IDLE_MS);
      idle.unref();
    };
    const done = (reason: string): void => {
      clearTimeout(idle);
      if (current !== abort) return;
      connected = false;
      current = undefined;
      if (stopped) return;
      attempt += 1;
      const delay = backoffMs(attempt);
      logger?.warn('bundle watch stream ended; reconnecting', { reason, inMs: delay });
      retryTimer = setTimeout(connect, delay);
      retryTimer.unref();
    };
    const request = deps.open(abort.signal, (response) => {
      if (response.statusCode !== 200) {
        response.resume();
        done(`HTTP ${response.statusCode}`);
        return;
      }
      connected = true;
      bump();
      follow(request, response, bump);
      response.on('end', () => done('stream closed'));
      response.on('error', () => done('stream failed'));
    });
    request.on('error', (error) => done(error.message));
  }

  const schedulePoll = (): void => {
    if (stopped) return;
    pollTimer = setTimeout(() => {
      const poll = connected ? Promise.resolve() : deps.refresh();
      poll
        .catch((error: unknown) =>
          logger?.warn('bundle poll failed', { error: (error as Error).message }),
        )
        .finally(schedulePoll);
    }, deps.pollIntervalMs);
    pollTimer.unref();
  };

  return {
    start() {
      connect();
      schedulePoll();
    },
    restart() {
      if (!deps.enabled) return;
      const abort = current;
      current = undefined;
      connected = false;
      abort?.abort();
      clearTimeout(retryTimer);
      attempt = 0;
      connect();
    },
    stop() {
      stopped = true;
      clearTimeout(retryTimer);
      clearTimeout(pollTimer);
      current?.abort();
    },
  };
}
