// The bundle endpoint served from its own worker thread (issue 15): a request flood on the admin or
// agent API cannot starve it. This thread keeps the state and posts bundle and identity changes.
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { ServedBundle } from '../federation/index.js';
import type { Logger } from '../log.js';
import { startBundleServer } from './bundle-server.js';
import type {
  BundleWorkerData,
  FromWorker,
  ToWorker,
  WireBundle,
  WireIdentity,
} from './bundle-worker-protocol.js';
import { DEFAULT_LISTENER_LIMITS, type ListenerLimits } from './listener-limits.js';

/** Restarts of a dead worker allowed within RESTART_WINDOW_MS before it is left down. */
export const MAX_WORKER_RESTARTS = 5;
const RESTART_WINDOW_MS = 60_000;
const RESTART_DELAY_MS = 100;

export interface BundleListenerOptions {
  readonly host: string;
  readonly port: number;
  readonly identity: WireIdentity;
  /** The bundle published at start; later ones go through `publish`. */
  readonly bundle: ServedBundle | undefined;
  readonly limits?: ListenerLimits;
  readonly logger?: Logger;
}

/** What main.ts needs of the bundle endpoint, in-thread or isolated. */
export interface BundleListener {
  readonly url: string;
  readonly port: number;
  /** The bundle served from now on (posted to the worker when isolated). */
  publish(bundle: ServedBundle | undefined): void;
  /** Swaps the certificate for new connections (https_spiffe renewal, https_web file reload). */
  updateIdentity(identity: WireIdentity): void;
  /** Whether the listener is up (false while a dead worker is being restarted, or gave up). */
  state(): { readonly up: boolean; readonly detail: string };
  /** The worker thread serving it now; undefined in-thread (tests make it die). */
  worker(): Worker | undefined;
  close(): Promise<void>;
}

/** A bound bundle endpoint in a worker; `worker()` is the live thread (tests make it die). */
export interface IsolatedBundleListener extends BundleListener {
  worker(): Worker;
}

function urlOf(host: string, port: number): string {
  return `https://${host.includes(':') ? `[${host}]` : host}:${port}/`;
}

function toWire(bundle: ServedBundle | undefined): WireBundle | undefined {
  if (bundle === undefined) return undefined;
  return {
    body: bundle.body,
    etag: bundle.etag,
    headers: bundle.headers,
    notModifiedHeaders: bundle.notModifiedHeaders,
  };
}

/** The bundle endpoint on this thread's event loop (`bundleEndpoint.isolated: false`). */
export async function startInThreadBundleListener(
  options: BundleListenerOptions,
): Promise<BundleListener> {
  let current = options.bundle;
  const server = await startBundleServer({
    host: options.host,
    port: options.port,
    identity: options.identity,
    current: () => current,
    ...(options.limits === undefined ? {} : { limits: options.limits }),
  });
  return {
    url: server.url,
    port: server.port,
    publish: (bundle) => {
      current = bundle;
    },
    updateIdentity: (identity) => server.updateIdentity(identity),
    state: () => ({ up: true, detail: 'ok' }),
    worker: () => undefined,
    close: () => server.close(),
  };
}

/**
 * The worker entry: compiled .js beside this file; from the .ts source (dev, tests) a CommonJS
 * bootstrap loads it through tsx's API (Node 20 workers do not take `--import` loaders).
 */
function spawn(data: BundleWorkerData): Worker {
  if (!import.meta.url.endsWith('.ts')) {
    return new Worker(new URL('./bundle-worker.js', import.meta.url), { workerData: data });
  }
  const entry = new URL('./bundle-worker.ts', import.meta.url).href;
  const api = pathToFileURL(
    createRequire(import.meta.url)
      .resolve('tsx/esm/api')
      .replace(/\.cjs$/, '.mjs'),
  ).href;
  const bootstrap = `import(${JSON.stringify(api)}).then((tsx) => tsx.tsImport(${JSON.stringify(entry)}, ${JSON.stringify(entry)}));`;
  return new Worker(bootstrap, { eval: true, workerData: data });
}

/** Resolves with the bound port once the worker listens; rejects with the bind error's errno. */
function whenListening(worker: Worker): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const onMessage = (message: FromWorker): void => {
      if (message.type === 'listening') {
        cleanup();
        resolve(message.port);
      } else if (message.type === 'listen-error') {
        cleanup();
        void worker.terminate();
        reject(Object.assign(new Error(message.message), { code: message.errno }));
      }
    };
    const onError = (error: Error): void => {
      cleanup();
      reject(error);
    };
    const onExit = (code: number): void => {
      cleanup();
      reject(new Error(`bundle endpoint worker exited (code ${code}) before listening`));
    };
    const cleanup = (): void => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
    };
    worker.on('message', onMessage);
    worker.once('error', onError);
    worker.once('exit', onExit);
  });
}

/**
 * Starts the bundle endpoint in a worker thread and resolves once it listens. A worker that dies is
 * logged and restarted on the same port (at most MAX_WORKER_RESTARTS within a minute); meanwhile
 * `state()` says it is down, for /readyz/bundle-endpoint.
 */
export async function startIsolatedBundleListener(
  options: BundleListenerOptions,
): Promise<IsolatedBundleListener> {
  let bundle = toWire(options.bundle);
  let identity: WireIdentity = { cert: options.identity.cert, key: options.identity.key };
  const dataFor = (port: number): BundleWorkerData => ({
    host: options.host,
    port,
    identity,
    bundle,
    limits: options.limits ?? DEFAULT_LISTENER_LIMITS,
  });
  let worker = spawn(dataFor(options.port));
  const port = await whenListening(worker);
  let up = true;
  let detail = 'ok';
  let closing = false;
  let restarts: number[] = [];
  let retry: NodeJS.Timeout | undefined;

  const post = (message: ToWorker): void => {
    if (up) worker.postMessage(message);
  };
  const restart = async (): Promise<void> => {
    retry = undefined;
    if (closing) return;
    const next = spawn(dataFor(port));
    try {
      await whenListening(next);
    } catch (error) {
      options.logger?.error('bundle endpoint worker failed to restart', {
        error: (error as Error).message,
      });
      onDeath(1);
      return;
    }
    if (closing) {
      void next.terminate();
      return;
    }
    worker = next;
    watch(next);
    up = true;
    // A change made while it was starting is not in its workerData: post the latest of both.
    post({ type: 'bundle', bundle });
    post({ type: 'identity', identity });
    detail = 'ok';
    options.logger?.info('bundle endpoint worker restarted', { port });
  };
  const onDeath = (code: number): void => {
    up = false;
    if (closing) return;
    const now = Date.now();
    restarts = restarts.filter((at) => now - at < RESTART_WINDOW_MS);
    if (restarts.length >= MAX_WORKER_RESTARTS) {
      detail = `bundle endpoint worker died ${restarts.length + 1} times within a minute; not restarted`;
      options.logger?.error('bundle endpoint worker gave up', { code, restarts: restarts.length });
      return;
    }
    restarts.push(now);
    detail = 'bundle endpoint worker restarting';
    options.logger?.error('bundle endpoint worker died; restarting', { code });
    retry = setTimeout(() => void restart(), RESTART_DELAY_MS * restarts.length);
    retry.unref();
  };
  const watch = (live: Worker): void => {
    live.on('error', (error) => {
      options.logger?.error('bundle endpoint worker error', { error: error.message });
    });
    live.once('exit', (code) => {
      if (!closing && live === worker) onDeath(code);
    });
  };
  watch(worker);

  return {
    url: urlOf(options.host, port),
    port,
    worker: () => worker,
    publish(next) {
      bundle = toWire(next);
      post({ type: 'bundle', bundle });
    },
    updateIdentity(next) {
      identity = { cert: next.cert, key: next.key };
      post({ type: 'identity', identity });
    },
    state: () => ({ up, detail }),
    async close() {
      closing = true;
      if (retry !== undefined) clearTimeout(retry);
      if (!up) return;
      const live = worker;
      // The worker closes its server (and every connection), answers 'closed', then exits.
      const closed = new Promise<void>((resolve) => {
        live.on('message', (message: FromWorker) => {
          if (message.type === 'closed') resolve();
        });
        live.once('exit', () => resolve());
      });
      live.postMessage({ type: 'close' } satisfies ToWorker);
      await closed;
      await live.terminate();
    },
  };
}
