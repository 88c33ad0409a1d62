// A console request to a running broker over plain HTTP or TLS (the admin listener's certificate
// chained to the broker's own bundle), optionally with a client X509-SVID; redirects not followed.
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { marshalPem } from '../../src/bundle/index.js';
import type { Broker } from '../../src/main.js';

export interface ConsoleAnswer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** The redirect target, or ''. */
  readonly location: string;
  /** `name=value` of the first Set-Cookie, or ''. */
  readonly cookie: string;
  readonly text: string;
}

/** Reads a response's whole body as UTF-8 text, then calls `done` with it. */
export function onBody(res: IncomingMessage, done: (text: string) => void): void {
  const chunks: Buffer[] = [];
  res.on('data', (c: Buffer) => chunks.push(c));
  res.on('end', () => done(Buffer.concat(chunks).toString('utf8')));
}

/** One console request to `broker`'s admin listener; a form makes it a POST. */
export function consoleCall(
  broker: Broker,
  path: string,
  options: { form?: string; cookie?: string; identity?: { cert: string; key: string } } = {},
): Promise<ConsoleAnswer> {
  const url = new URL(path, broker.adminUrl);
  const roots = marshalPem(broker.ca.localBundle().x509Authorities.map((a) => a.der));
  return new Promise((resolve, reject) => {
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = request(
      {
        host: url.hostname,
        port: Number(url.port),
        path: url.pathname,
        method: options.form === undefined ? 'GET' : 'POST',
        ...(url.protocol === 'https:'
          ? { ca: roots, checkServerIdentity: () => undefined, ...options.identity }
          : {}),
        headers: {
          origin: broker.adminUrl,
          ...(options.cookie === undefined ? {} : { cookie: options.cookie }),
          ...(options.form === undefined
            ? {}
            : { 'content-type': 'application/x-www-form-urlencoded' }),
        },
        agent: false,
      },
      (res) =>
        onBody(res, (text) =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            location: res.headers.location ?? '',
            cookie: (res.headers['set-cookie']?.[0] ?? '').split(';')[0] ?? '',
            text,
          }),
        ),
    );
    req.on('error', reject);
    req.end(options.form);
  });
}
