// Unit tests of connectionTurns (issue 15): pipelined requests on one connection run one at a time,
// in order, with a turn of the event loop between them; separate connections do not wait.
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { connectionTurns } from './connection-turns.js';

function appWithLog(log: string[], options?: Parameters<typeof connectionTurns>[0]): Hono {
  const app = new Hono();
  app.use('*', connectionTurns(options));
  app.get('/:name', async (c) => {
    const name = c.req.param('name');
    log.push(`start ${name}`);
    await Promise.resolve();
    log.push(`end ${name}`);
    return c.text(name);
  });
  return app;
}

describe('connectionTurns', () => {
  it('runs requests of one connection one at a time, in arrival order', async () => {
    const log: string[] = [];
    const app = appWithLog(log);
    const socket = {};
    const env = { incoming: { socket } };
    const answers = await Promise.all(
      ['a', 'b', 'c'].map((name) =>
        Promise.resolve(app.request(`/${name}`, {}, env)).then((r: Response) => r.text()),
      ),
    );
    expect(answers).toEqual(['a', 'b', 'c']);
    expect(log).toEqual(['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
  });

  it('lets another socket run while a pipeliner waits for its turn', async () => {
    const log: string[] = [];
    const app = appWithLog(log);
    const pipeliner = { incoming: { socket: {} } };
    const other = { incoming: { socket: {} } };
    await Promise.all([
      app.request('/p1', {}, pipeliner),
      app.request('/p2', {}, pipeliner),
      app.request('/o1', {}, other),
    ]);
    // o1 is not queued behind p1 and p2: it runs before p2 starts.
    expect(log.indexOf('end o1')).toBeLessThan(log.indexOf('start p2'));
  });

  it('requests without a Node connection (in process) are not held', async () => {
    const log: string[] = [];
    const app = appWithLog(log);
    await Promise.all([app.request('/x'), app.request('/y')]);
    expect(log.slice(0, 2)).toEqual(['start x', 'start y']);
  });

  it('appliesTo: a connection it exempts (an mTLS agent) runs its pipelined requests together', async () => {
    const log: string[] = [];
    const agent = {};
    const stranger = {};
    const seen: object[] = [];
    const app = appWithLog(log, {
      appliesTo: (connection) => {
        seen.push(connection);
        return connection !== agent;
      },
    });
    await Promise.all(
      ['a1', 'a2'].map((n) => app.request(`/${n}`, {}, { incoming: { socket: agent } })),
    );
    expect(log.slice(0, 2)).toEqual(['start a1', 'start a2']);
    log.length = 0;
    await Promise.all(
      ['s1', 's2'].map((n) => app.request(`/${n}`, {}, { incoming: { socket: stranger } })),
    );
    expect(log).toEqual(['start s1', 'end s1', 'start s2', 'end s2']);
    // Decided once per connection, at its first request.
    expect(seen).toEqual([agent, stranger]);
  });
});
