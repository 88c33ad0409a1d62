// The Workload API's accepted connections: the peer's credentials (SO_PEERCRED) and start time read
// at accept, the uid's fair share of connections checked there (admission.ts), a connection id
// grpc-js reports as the call's peer, and a deadline for the first call.
import type { Socket } from 'node:net';
import type { Admission, WarnFn } from './admission.js';
import type { Attestor } from './attest.js';
import type { GateConnection } from './call-gate.js';
import { socketFd, type PeerCred, type PeerCredReader } from './peercred.js';

export interface Connection extends GateConnection {
  readonly cred: PeerCred;
  readonly startTime: string;
}

export interface ConnectionTable {
  /** Registers an accepted socket; false when it was refused (and destroyed). */
  accept(socket: Socket): boolean;
  get(peer: string): Connection | undefined;
}

export function createConnectionTable(options: {
  readonly peerCred: PeerCredReader;
  readonly attestor: Pick<Attestor, 'startTime'>;
  readonly admission: Admission;
  readonly firstCallMs: number;
  readonly warn?: WarnFn;
}): ConnectionTable {
  const { admission } = options;
  const table = new Map<string, Connection>();
  let nextId = 0;

  return {
    get: (peer) => table.get(peer),
    accept(socket) {
      let cred: PeerCred;
      let startTime: string;
      try {
        cred = options.peerCred(socketFd(socket));
        startTime = options.attestor.startTime(cred.pid);
      } catch (error) {
        options.warn?.('refused a connection without peer credentials', {
          error: (error as Error).message,
        });
        socket.destroy();
        return false;
      }
      // Taken back when the pool is full and another uid holds fewer (the newest of this uid's).
      const holder = { evict: () => socket.destroy() };
      if (!admission.admitConnection(cred.uid, holder)) {
        socket.destroy();
        return false;
      }
      const id = `wapi-connection-${++nextId}`;
      // grpc-js reports the session socket's remoteAddress as call.getPeer(): our connection id.
      Object.defineProperty(socket, 'remoteAddress', { value: id, configurable: true });
      let firstCall: NodeJS.Timeout | undefined = setTimeout(() => {
        admission.note('connection closed (no call in time)', cred.uid);
        socket.destroy();
      }, options.firstCallMs);
      firstCall.unref();
      table.set(id, {
        cred,
        startTime,
        uid: cred.uid,
        called() {
          clearTimeout(firstCall);
          firstCall = undefined;
        },
      });
      socket.once('close', () => {
        clearTimeout(firstCall);
        table.delete(id);
        admission.releaseConnection(cred.uid, holder);
      });
      return true;
    },
  };
}
