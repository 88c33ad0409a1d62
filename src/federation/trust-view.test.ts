// Trust view tests (FED-30, FED-34): one parsed bundle per trust domain of an active relationship,
// listeners woken only by real changes, and reloads of one trust domain landing in order.
import { describe, expect, it } from 'vitest';
import { Bundle, marshalBundle, bundleDigest, type JsonObject } from '../bundle/index.js';
import { parseTrustDomain } from '../spiffeid/index.js';
import type { StoredBundle, Versioned } from '../store/index.js';
import { createRelationship, transitionRelationship, type Relationship } from './relationship.js';
import { createTrustView, type TrustViewDeps } from './trust-view.js';

const own = parseTrustDomain('us.test');

function relationship(trustDomain: string, active: boolean): Relationship {
  const created = createRelationship(
    { trustDomain, url: `https://${trustDomain}/bundle`, profile: 'https_web' },
    { ownTrustDomain: own, source: 'api', actor: 'admin:a', nowMs: 1_000 },
  );
  if (!active) return created;
  return transitionRelationship(created, 'approve', {
    actor: 'admin:a',
    nowMs: 2_000,
    requiredApprovals: 1,
  });
}

function stored(trustDomain: string, sequence: bigint): StoredBundle {
  const raw = marshalBundle(new Bundle({ trustDomain: parseTrustDomain(trustDomain), sequence }));
  return {
    trustDomain,
    raw: raw.toString('utf8'),
    sequence: sequence.toString(),
    digest: bundleDigest(raw),
    fetchedAt: 3_000,
    sourceUrl: null,
    refreshHintSeconds: null,
  };
}

/** Holds one getBundle call after it has read the bytes: `entered` resolves then, `release` lets it go on. */
interface Gate {
  readonly entered: () => void;
  readonly released: Promise<void>;
}

/** The two store reads the view makes, over maps the test edits; a queued gate holds a getBundle call. */
function fakeStore() {
  const relationships = new Map<string, Relationship>();
  const bundles = new Map<string, StoredBundle>();
  const gates: Gate[] = [];
  const store: TrustViewDeps['store'] = {
    async getRelationship(trustDomain): Promise<Versioned | undefined> {
      const found = relationships.get(trustDomain);
      return found === undefined
        ? undefined
        : { value: found as unknown as JsonObject, version: 1 };
    },
    async getBundle(trustDomain) {
      const found = bundles.get(trustDomain);
      const gate = gates.shift();
      if (gate !== undefined) {
        gate.entered();
        await gate.released;
      }
      return found;
    },
  };
  return { store, relationships, bundles, gates };
}

function harness() {
  const fake = fakeStore();
  const warnings: { message: string; fields: Record<string, unknown> }[] = [];
  let changes = 0;
  const view = createTrustView({
    store: fake.store,
    logger: {
      info() {},
      warn: (message, fields = {}) => warnings.push({ message, fields }),
    },
    onChange: () => {
      changes += 1;
    },
  });
  return { ...fake, view, warnings, changes: () => changes };
}

describe('createTrustView', () => {
  it('FED-30 keeps one bundle per trust domain and never pools them', async () => {
    const h = harness();
    for (const td of ['a.test', 'b.test']) {
      h.relationships.set(td, relationship(td, true));
      h.bundles.set(td, stored(td, 1n));
      await h.view.reload(td);
    }
    const a = parseTrustDomain('a.test');
    const b = parseTrustDomain('b.test');
    expect(h.view.getBundleForTrustDomain(a)?.trustDomain.name).toBe('a.test');
    const onlyA = h.view.trustedBundles(['a.test']);
    expect(onlyA.getBundleForTrustDomain(a)?.trustDomain.name).toBe('a.test');
    expect(onlyA.getBundleForTrustDomain(b)).toBeUndefined();
    expect(h.view.trustedBundles().getBundleForTrustDomain(b)?.trustDomain.name).toBe('b.test');
    expect(h.view.trustDomains().sort()).toEqual(['a.test', 'b.test']);
  });

  it('FED-1 a pending relationship is not trusted, even with a stored bundle', async () => {
    const h = harness();
    h.relationships.set('a.test', relationship('a.test', false));
    h.bundles.set('a.test', stored('a.test', 1n));
    await h.view.reload('a.test');
    expect(h.view.getBundleForTrustDomain(parseTrustDomain('a.test'))).toBeUndefined();
    expect(h.changes()).toBe(0);
  });

  it('wakes listeners once per real change, not for the same stored bytes', async () => {
    const h = harness();
    h.relationships.set('a.test', relationship('a.test', true));
    h.bundles.set('a.test', stored('a.test', 1n));
    await h.view.reload('a.test');
    await h.view.reload('a.test');
    expect(h.changes()).toBe(1);
    h.bundles.set('a.test', stored('a.test', 2n));
    await h.view.reload('a.test');
    expect(h.changes()).toBe(2);
    expect(h.view.getBundleForTrustDomain(parseTrustDomain('a.test'))?.sequence).toBe(2n);
  });

  it('FED-60 a deleted relationship leaves the view', async () => {
    const h = harness();
    h.relationships.set('a.test', relationship('a.test', true));
    h.bundles.set('a.test', stored('a.test', 1n));
    await h.view.reload('a.test');
    h.relationships.delete('a.test');
    await h.view.reload('a.test');
    expect(h.view.getBundleForTrustDomain(parseTrustDomain('a.test'))).toBeUndefined();
    expect(h.view.trustDomains()).toEqual([]);
    expect(h.changes()).toBe(2);
  });

  it('a stored bundle that does not parse is not trusted; the log carries its code', async () => {
    const h = harness();
    h.relationships.set('a.test', relationship('a.test', true));
    h.bundles.set('a.test', { ...stored('a.test', 1n), raw: '{not json', digest: 'x' });
    await h.view.reload('a.test');
    expect(h.view.getBundleForTrustDomain(parseTrustDomain('a.test'))).toBeUndefined();
    expect(h.warnings).toEqual([
      {
        message: 'stored bundle does not parse; not trusted',
        fields: { trustDomain: 'a.test', code: expect.stringMatching(/^ERR_BUNDLE_/) },
      },
    ]);
  });

  it('FED-34 reloads of one trust domain land in the order asked: an older read never wins', async () => {
    const h = harness();
    h.relationships.set('a.test', relationship('a.test', true));
    h.bundles.set('a.test', stored('a.test', 1n));
    let release = (): void => {};
    const entered = new Promise<void>((resolveEntered) => {
      h.gates.push({
        entered: resolveEntered,
        released: new Promise<void>((resolve) => (release = resolve)),
      });
    });
    const older = h.view.reload('a.test');
    // The first read has the old bytes in hand and is held; the bytes change; a second reload is asked.
    await entered;
    h.bundles.set('a.test', stored('a.test', 2n));
    const newer = h.view.reload('a.test');
    release();
    await Promise.all([older, newer]);
    expect(h.view.getBundleForTrustDomain(parseTrustDomain('a.test'))?.sequence).toBe(2n);
  });
});
