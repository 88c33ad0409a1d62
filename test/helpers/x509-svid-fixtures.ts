// Shared fixtures of the verifyX509Svid rule tests (src/svid/verify-x509-svid*.test.ts): real CAs,
// leaves and bundles from pki.ts at a fixed NOW, and the helpers that run a chain and read its code.
import { bundleOf, createCa, createLeaf, sourceOf, type TestCert } from './pki.js';
import type { BundleSource } from '../../src/bundle/index.js';
import { verifyX509Svid } from '../../src/svid/index.js';

export const NOW = new Date(Date.UTC(2030, 0, 15, 12, 0, 0));
export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;
export const valid = {
  notBefore: new Date(NOW.getTime() - DAY),
  notAfter: new Date(NOW.getTime() + DAY),
};
export const caValid = {
  notBefore: new Date(NOW.getTime() - 30 * DAY),
  notAfter: new Date(NOW.getTime() + 365 * DAY),
};
export const past = {
  notBefore: new Date(NOW.getTime() - 10 * DAY),
  notAfter: new Date(NOW.getTime() - 2 * HOUR),
};
export const future = {
  notBefore: new Date(NOW.getTime() + 2 * HOUR),
  notAfter: new Date(NOW.getTime() + 10 * DAY),
};

export const A = 'a.example';
export const B = 'b.example';

// --- fixtures (real keys and signatures) ---
export const rootA = await createCa({ trustDomain: A, ...caValid });
export const rootB = await createCa({ trustDomain: B, ...caValid });
export const rootA2 = await createCa({ trustDomain: A, ...caValid }); // same TD, not in the bundle
export const interA = await createCa({ issuer: rootA, trustDomain: A, ...caValid });
export const leafA = await createLeaf(rootA, valid);
export const leafViaInter = await createLeaf(interA, valid);
export const bundleA = bundleOf(A, [rootA]);
export const bundleB = bundleOf(B, [rootB]);
export const both = sourceOf(bundleA, bundleB);

export const leafOf = (issuer: TestCert, options: Parameters<typeof createLeaf>[1] = {}) =>
  createLeaf(issuer, { ...valid, ...options });

export function verify(chain: readonly Uint8Array[], source: BundleSource = both) {
  return verifyX509Svid(chain, source, { now: NOW });
}

export function flipLastByte(der: Buffer): Buffer {
  const copy = Buffer.from(der);
  copy[copy.length - 1] = (copy[copy.length - 1] as number) ^ 0x01;
  return copy;
}
