// Messages between the main thread and the bundle endpoint's worker thread (issue 15 isolation).
// Only plain, structured-cloneable data crosses: bundle bytes and headers, PEM identity, limits.
import type { ListenerLimits } from './listener-limits.js';

/** A ServedBundle as it crosses threads (Buffers arrive as Uint8Arrays). */
export interface WireBundle {
  readonly body: Uint8Array;
  readonly etag: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly notModifiedHeaders: Readonly<Record<string, string>>;
}

export interface WireIdentity {
  readonly cert: string;
  readonly key: string;
}

export interface BundleWorkerData {
  readonly host: string;
  readonly port: number;
  readonly identity: WireIdentity;
  readonly bundle: WireBundle | undefined;
  readonly limits: ListenerLimits;
}

export type ToWorker =
  | { readonly type: 'bundle'; readonly bundle: WireBundle | undefined }
  | { readonly type: 'identity'; readonly identity: WireIdentity }
  | { readonly type: 'close' };

export type FromWorker =
  | { readonly type: 'listening'; readonly port: number }
  | { readonly type: 'listen-error'; readonly errno: string | undefined; readonly message: string }
  | { readonly type: 'closed' };
