// Free loopback ports for servers that must be told their port before they start (config files,
// redis-server --port, the demo's brokers). A port found by listening on port 0 and closing is in
// the kernel's ephemeral range, where any other process's port-0 listener or outgoing connection
// may take it before our server binds it (tests running side by side did). These are taken below
// that range, which the kernel never hands out on its own.
import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { randomInt } from 'node:crypto';

const LOWEST = 10_000;

/** Where ephemeral ports start: /proc/sys/net/ipv4/ip_local_port_range, 32768 by default. */
function ephemeralPortsStart(): number {
  try {
    const text = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8');
    const first = Number(text.trim().split(/\s+/)[0]);
    return Number.isInteger(first) && first > LOWEST + 1000 ? first : 32_768;
  } catch {
    return 32_768;
  }
}

/** `count` distinct ports free on `host`, each held until all are found (none given twice). */
export async function freePorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  const held: Server[] = [];
  const span = ephemeralPortsStart() - LOWEST;
  try {
    for (let tries = 0; held.length < count; tries++) {
      if (tries >= 200)
        throw new Error(`no ${count} free ports on ${host} below the ephemeral range`);
      const server = createServer();
      server.unref();
      const bound = await new Promise<boolean>((done) => {
        server.once('error', () => done(false));
        server.listen(LOWEST + randomInt(span), host, () => done(true));
      });
      if (bound) held.push(server);
    }
    return held.map((server) => (server.address() as AddressInfo).port);
  } finally {
    await Promise.all(held.map((s) => new Promise<void>((done) => s.close(() => done()))));
  }
}

/** One port free on `host` (loopback by default). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const [port] = await freePorts(1, host);
  return port as number;
}
