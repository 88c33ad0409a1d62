// The node agent's own SVID on disk (--data-dir, 0700; node-svid.json, 0600): a restart resumes
// with it while it is valid, without a new join token. Written atomically (temp file + rename).
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { marshalBundle, parseBundle, BundleSet, type Bundle } from '../bundle/index.js';
import { parseTrustDomain, type SpiffeId } from '../spiffeid/index.js';
import { verifyX509Svid } from '../svid/index.js';

export interface NodeSvid {
  readonly spiffeId: SpiffeId;
  readonly chainDer: readonly Buffer[];
  readonly privateKeyPem: string;
  readonly expiresAt: Date;
  /** Our trust domain's bundle: authenticates the broker after a restart. */
  readonly bundle: Bundle;
}

export const NODE_SVID_FILE = 'node-svid.json';
/** A stored SVID this close to expiry is not resumed (a token enrols again). */
const RESUME_MARGIN_MS = 5_000;

function prepareDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
}

export function saveNodeSvid(dir: string, svid: NodeSvid): void {
  prepareDir(dir);
  const file = join(dir, NODE_SVID_FILE);
  const body = JSON.stringify({
    trustDomain: svid.bundle.trustDomain.name,
    chain: svid.chainDer.map((der) => der.toString('base64')),
    key: svid.privateKeyPem,
    bundle: JSON.parse(marshalBundle(svid.bundle).toString('utf8')) as unknown,
  });
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, body, { mode: 0o600 });
  renameSync(temp, file);
}

/** The stored SVID when it still verifies against the stored bundle; otherwise undefined. */
export function loadNodeSvid(dir: string, nowMs: number): NodeSvid | undefined {
  const file = join(dir, NODE_SVID_FILE);
  if (!existsSync(file)) return undefined;
  try {
    const raw = JSON.parse(readFileSync(file, 'utf8')) as {
      trustDomain: string;
      chain: string[];
      key: string;
      bundle: unknown;
    };
    const bundle = parseBundle(JSON.stringify(raw.bundle), parseTrustDomain(raw.trustDomain));
    const chainDer = raw.chain.map((c) => Buffer.from(c, 'base64'));
    const verified = verifyX509Svid(chainDer, new BundleSet([bundle]), {
      now: new Date(nowMs + RESUME_MARGIN_MS),
    });
    if (typeof raw.key !== 'string' || !raw.key.includes('PRIVATE KEY')) return undefined;
    return {
      spiffeId: verified.spiffeId,
      chainDer,
      privateKeyPem: raw.key,
      expiresAt: verified.leaf.notAfter,
      bundle,
    };
  } catch {
    return undefined;
  }
}
