// Worker-thread entry of the isolated bundle endpoint (issue 15): runs startBundleServer on its own
// event loop; the main thread owns state and posts the served bundle and TLS identity on each change.
import { parentPort, workerData } from 'node:worker_threads';
import type { ServedBundle } from '../federation/index.js';
import { startBundleServer, type BundleServer } from './bundle-server.js';
import type { BundleWorkerData, ToWorker, WireBundle } from './bundle-worker-protocol.js';

/** Rebuilds the Buffers that structured cloning turned into plain Uint8Arrays. */
function fromWire(wire: WireBundle | undefined): ServedBundle | undefined {
  if (wire === undefined) return undefined;
  return Object.freeze({
    body: Buffer.from(wire.body.buffer, wire.body.byteOffset, wire.body.byteLength),
    etag: wire.etag,
    headers: Object.freeze({ ...wire.headers }),
    notModifiedHeaders: Object.freeze({ ...wire.notModifiedHeaders }),
  });
}

async function run(): Promise<void> {
  const port = parentPort;
  if (port === null) throw new Error('bundle-worker.ts runs only as a worker thread');
  const data = workerData as BundleWorkerData;
  let current = fromWire(data.bundle);
  let server: BundleServer;
  try {
    server = await startBundleServer({
      host: data.host,
      port: data.port,
      identity: data.identity,
      current: () => current,
      limits: data.limits,
    });
  } catch (error) {
    const errno = (error as NodeJS.ErrnoException).code;
    port.postMessage({ type: 'listen-error', errno, message: (error as Error).message });
    return;
  }
  port.on('message', (message: ToWorker) => {
    switch (message.type) {
      case 'bundle':
        current = fromWire(message.bundle);
        break;
      case 'identity':
        server.updateIdentity(message.identity);
        break;
      case 'close':
        void server.close().then(() => {
          port.postMessage({ type: 'closed' });
          port.close();
        });
        break;
    }
  });
  port.postMessage({ type: 'listening', port: server.port });
}

await run();
