// The broker's own X509-SVIDs (FED-15, issue 15 finding 4) against a fake issuer: renewals reach
// the listener, a tainted signer is replaced at once, a revoke re-issues first what its authority
// signed (only when another authority is active), and stop() ends the subscriptions.
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Bundle } from '../bundle/index.js';
import type { AuthorityMetadata, OwnSvid } from '../ca/index.js';
import { parseSpiffeId } from '../spiffeid/index.js';
import type { ListenerIdentity } from './listeners.js';
import { keepOwnSvid, KeptOwnSvids, OWN_SVID_TTL_SECONDS } from './own-svid-keeper.js';

const NOW_MS = Date.UTC(2030, 0, 1);
const ID = parseSpiffeId('spiffe://home.test/fedbroker/agent-api');
const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });

function authority(id: string, state: AuthorityMetadata['state']): AuthorityMetadata {
  return { id, kind: 'x509', state, anchorFingerprintSha256: undefined } as AuthorityMetadata;
}

/** An issuer whose active authority signs every own SVID; authority changes are fired by hand. */
function fakeIssuer() {
  const listeners = new Set<() => void>();
  const issuer = {
    authoritiesNow: [authority('a1', 'active')],
    issued: [] as { signer: string; ttlSeconds: number | undefined }[],
    failNext: false,
    async issueOwnSvid(_id: unknown, ttlSeconds?: number): Promise<OwnSvid> {
      if (issuer.failNext) {
        issuer.failNext = false;
        throw new Error('no active authority');
      }
      const signer = issuer.authoritiesNow.find((a) => a.state === 'active')?.id ?? 'none';
      issuer.issued.push({ signer, ttlSeconds });
      return {
        authorityId: signer,
        notAfter: new Date(NOW_MS + 3_600_000),
        chainPem: `chain ${issuer.issued.length} from ${signer}`,
        privateKey,
      } as unknown as OwnSvid;
    },
    authorities: () => issuer.authoritiesNow,
    localBundle: () => ({ x509Authorities: [] }) as unknown as Bundle,
    onAuthorityChange(listener: () => void) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    onBundleChange: () => () => undefined,
    change(next: AuthorityMetadata[]) {
      issuer.authoritiesNow = next;
      for (const listener of listeners) listener();
    },
    listenerCount: () => listeners.size,
  };
  return issuer;
}

function setUp() {
  const issuer = fakeIssuer();
  const warnings: Record<string, unknown>[] = [];
  const errors: string[] = [];
  const kept = new KeptOwnSvids();
  const logger = {
    info: () => undefined,
    warn: (_m: string, fields?: Readonly<Record<string, unknown>>) => warnings.push({ ...fields }),
    error: (m: string) => errors.push(m),
  };
  const deps = { issuer, nowMs: () => NOW_MS, logger, signal: new AbortController().signal, kept };
  return { issuer, warnings, errors, kept, deps, logger };
}

function nextRenewal(svid: { onRenewed(apply: (next: ListenerIdentity) => void): void }) {
  return new Promise<ListenerIdentity>((resolve) => svid.onRenewed(resolve));
}

describe('keepOwnSvid', () => {
  it('FED-15: issues for OWN_SVID_TTL_SECONDS and hands each renewal to the listener', async () => {
    const { issuer, deps } = setUp();
    const svid = await keepOwnSvid(deps, ID);
    expect(issuer.issued).toEqual([{ signer: 'a1', ttlSeconds: OWN_SVID_TTL_SECONDS }]);
    expect(svid.current().cert).toBe('chain 1 from a1');
    expect(svid.current().key).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    const renewed = nextRenewal(svid);
    await svid.renew();
    expect((await renewed).cert).toBe('chain 2 from a1');
    expect(svid.current().cert).toBe('chain 2 from a1');
    svid.stop();
  });

  it('a tainted signer is replaced at once, from the change event (issue 15, finding 4)', async () => {
    const { issuer, deps, warnings } = setUp();
    const svid = await keepOwnSvid(deps, ID);
    const renewed = nextRenewal(svid);
    issuer.change([authority('a1', 'tainted'), authority('a2', 'active')]);
    expect((await renewed).cert).toBe('chain 2 from a2');
    expect(svid.authorityId()).toBe('a2');
    await Promise.resolve();
    expect(warnings).toEqual([
      { spiffeId: ID.toString(), reason: 'signer-tainted', from: 'a1', to: 'a2' },
    ]);
    svid.stop();
  });

  it('a failed re-issue is logged and retried on the next change', async () => {
    const { issuer, deps, errors } = setUp();
    const svid = await keepOwnSvid(deps, ID);
    issuer.failNext = true;
    issuer.change([authority('a1', 'revoked')]);
    await new Promise((done) => setImmediate(done));
    expect(errors).toEqual(['own X509-SVID re-issue failed; retried on the next authority change']);
    const renewed = nextRenewal(svid);
    issuer.change([authority('a1', 'revoked'), authority('a3', 'active')]);
    expect((await renewed).cert).toBe('chain 2 from a3');
    svid.stop();
  });

  it('stop() ends the change subscriptions', async () => {
    const { issuer, deps } = setUp();
    const svid = await keepOwnSvid(deps, ID);
    expect(issuer.listenerCount()).toBe(1);
    svid.stop();
    expect(issuer.listenerCount()).toBe(0);
    issuer.change([authority('a1', 'tainted'), authority('a2', 'active')]);
    expect(issuer.issued).toHaveLength(1);
  });
});

describe('KeptOwnSvids.reissueSignedBy (before a revoke)', () => {
  it('re-issues only the SVIDs the revoked authority signed, when another one is active', async () => {
    const { issuer, deps, kept, logger } = setUp();
    const first = await keepOwnSvid(deps, ID);
    issuer.authoritiesNow = [authority('a1', 'retired'), authority('a2', 'active')];
    const second = await keepOwnSvid(deps, ID);
    await kept.reissueSignedBy('a1', issuer.authoritiesNow, logger);
    expect(first.authorityId()).toBe('a2');
    expect(second.current().cert).toBe('chain 2 from a2');
    expect(issuer.issued.map((i) => i.signer)).toEqual(['a1', 'a2', 'a2']);
    first.stop();
    second.stop();
  });

  it('does nothing while the revoked authority is the only active one', async () => {
    const { issuer, deps, kept, logger } = setUp();
    const svid = await keepOwnSvid(deps, ID);
    await kept.reissueSignedBy('a1', issuer.authoritiesNow, logger);
    expect(issuer.issued).toHaveLength(1);
    svid.stop();
  });

  it('a failed re-issue is logged and does not block the revoke', async () => {
    const { issuer, deps, kept, logger, errors } = setUp();
    const svid = await keepOwnSvid(deps, ID);
    issuer.failNext = true;
    const others = [authority('a1', 'active'), authority('a2', 'active')];
    await expect(kept.reissueSignedBy('a1', others, logger)).resolves.toBeUndefined();
    expect(errors).toEqual(['own X509-SVID re-issue before a revoke failed']);
    svid.stop();
  });
});
