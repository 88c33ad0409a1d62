// Agent SDK test support: X509-SVIDs from test/helpers/pki certs, a source whose SVID and bundles a
// test can swap (rotation, suspension), loopback listeners and bounded waits.
import type { AddressInfo, Server } from 'node:net';
import './reflect-shim.js';
import * as x509 from '@peculiar/x509';
import type { BundleSet } from '../../src/bundle/index.js';
import type { X509Source, X509SvidWithKey } from '../../src/agent/index.js';
import { parseSpiffeId } from '../../src/spiffeid/index.js';
import type { TestCert } from './pki.js';

/** PKCS#8 PEM of a test certificate's private key. */
export function keyPemOf(cert: TestCert): string {
  return cert.nodePrivateKey().export({ format: 'pem', type: 'pkcs8' }) as string;
}

/** An X509SvidWithKey for `leaf` (its single URI SAN as the ID) with `intermediates` after it. */
export function svidOf(leaf: TestCert, intermediates: readonly TestCert[] = []): X509SvidWithKey {
  const san = leaf.certificate.getExtension(x509.SubjectAlternativeNameExtension);
  const uri = san?.names.items.find((name) => name.type === 'url')?.value;
  if (uri === undefined) throw new TypeError('leaf has no uri san');
  return {
    spiffeId: parseSpiffeId(uri),
    chainDer: [leaf.der, ...intermediates.map((c) => c.der)],
    privateKeyPem: keyPemOf(leaf),
  };
}

/** An X509Source whose answers the test changes by assigning `svid` / `bundles`. */
export interface MutableSource extends X509Source {
  svid: X509SvidWithKey;
  bundleSet: BundleSet;
  /** How many times x509Svid() / bundles() were called. */
  readonly reads: { svid: number; bundles: number };
}

export function mutableSource(svid: X509SvidWithKey, bundleSet: BundleSet): MutableSource {
  const reads = { svid: 0, bundles: 0 };
  const source: MutableSource = {
    svid,
    bundleSet,
    reads,
    x509Svid() {
      reads.svid += 1;
      return source.svid;
    },
    bundles() {
      reads.bundles += 1;
      return source.bundleSet;
    },
  };
  return source;
}

/** Listens on 127.0.0.1 with an ephemeral port; resolves with the port. */
export async function listenLoopback(server: Server): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

/** Closes a server, dropping its open connections, bounded by `ms`. */
export async function closeServer(server: Server, ms = 5_000): Promise<void> {
  (server as Server & { closeAllConnections?: () => void }).closeAllConnections?.();
  await within(new Promise<void>((resolve) => server.close(() => resolve())), ms, 'server close');
}

/** Rejects when `promise` has not settled after `ms`. */
export async function within<T>(promise: Promise<T>, ms: number, label: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${label}: no result within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
