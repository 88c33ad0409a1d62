// A server-sent events reader for GET /v1/agent/node/watch over real mTLS (node:https, no SDK):
// events queue up until taken with next(); comment lines (heartbeats) are skipped.
import type { IncomingMessage } from 'node:http';
import { request } from 'node:https';
import type { AgentTls, IssuedSvid } from './agent-api.js';

export interface SseEvent {
  readonly event: string;
  readonly data: string;
}

export interface NodeWatch {
  readonly status: number;
  /** The next event; rejects when none arrives within `ms`. */
  next(ms?: number): Promise<SseEvent>;
  close(): void;
}

export function openNodeWatch(
  baseUrl: string,
  tls: AgentTls,
  svid: IssuedSvid,
): Promise<NodeWatch> {
  return new Promise((resolve, reject) => {
    const url = new URL('/v1/agent/node/watch', baseUrl);
    const queue: SseEvent[] = [];
    let waiter: (() => void) | undefined;
    const req = request(url, {
      agent: false,
      ca: tls.anchorsPem,
      cert: svid.certPem,
      key: svid.keyPem,
      checkServerIdentity: () => undefined,
    });
    req.on('error', reject);
    req.on('response', (res: IncomingMessage) => {
      let buffer = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let at: number;
        while ((at = buffer.indexOf('\n\n')) !== -1) {
          const block = buffer.slice(0, at);
          buffer = buffer.slice(at + 2);
          const lines = block.split('\n').filter((line) => !line.startsWith(':'));
          if (lines.length === 0) continue;
          const event = lines.find((l) => l.startsWith('event: '))?.slice(7) ?? 'message';
          const data = lines
            .filter((l) => l.startsWith('data: '))
            .map((l) => l.slice(6))
            .join('\n');
          queue.push({ event, data });
          waiter?.();
        }
      });
      resolve({
        status: res.statusCode ?? 0,
        close: () => req.destroy(),
        next: async (ms = 10_000) => {
          const deadline = Date.now() + ms;
          while (queue.length === 0) {
            if (Date.now() > deadline) throw new Error('no watch event in time');
            await new Promise<void>((done) => {
              const timer = setTimeout(done, 200);
              waiter = () => {
                clearTimeout(timer);
                done();
              };
            });
          }
          const event = queue.shift();
          if (event === undefined) throw new Error('queue empty');
          return event;
        },
      });
    });
    req.end();
  });
}
