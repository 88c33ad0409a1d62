// Tests of BundleSet: one bundle per trust domain, never pooled (FED-30), copy-on-write updates (FED-31).
import { describe, expect, it } from 'vitest';
import { parseTrustDomain } from '../spiffeid/index.js';
import { Bundle, BundleSet, type BundleSource } from './index.js';

const td = (name: string) => parseTrustDomain(name);
const bundle = (name: string, sequence?: bigint): Bundle =>
  new Bundle({ trustDomain: td(name), sequence });

describe('BundleSet', () => {
  it('FED-30 answers each trust domain with its own bundle only', () => {
    const acme = bundle('acme.example');
    const partner = bundle('partner.example');
    const set = new BundleSet([acme, partner]);
    expect(set.get(td('acme.example'))).toBe(acme);
    expect(set.getBundleForTrustDomain(td('partner.example'))).toBe(partner);
    expect(set.get(td('other.example'))).toBeUndefined();
    expect(set.has(td('acme.example'))).toBe(true);
    expect(set.has(td('acme.example.'))).toBe(false);
    expect(set.size).toBe(2);
  });

  it('FED-30 is a BundleSource, as a single Bundle is', () => {
    const sources: BundleSource[] = [
      bundle('acme.example'),
      new BundleSet([bundle('acme.example')]),
    ];
    for (const source of sources) {
      expect(source.getBundleForTrustDomain(td('acme.example'))?.trustDomain.name).toBe(
        'acme.example',
      );
      expect(source.getBundleForTrustDomain(td('partner.example'))).toBeUndefined();
    }
  });

  it('FED-31 set returns a new set in which the new bundle replaces the old one; the old set is unchanged', () => {
    const first = bundle('acme.example', 1n);
    const second = bundle('acme.example', 2n);
    const before = new BundleSet([first]);
    const after = before.set(second);
    expect(after).not.toBe(before);
    expect(after.get(td('acme.example'))).toBe(second);
    expect(before.get(td('acme.example'))).toBe(first);
    expect(after.size).toBe(1);
  });

  it('FED-60 delete returns a new set without the trust domain', () => {
    const before = new BundleSet([bundle('acme.example'), bundle('partner.example')]);
    const after = before.delete(td('partner.example'));
    expect(after.has(td('partner.example'))).toBe(false);
    expect(before.has(td('partner.example'))).toBe(true);
    expect(after.delete(td('missing.example'))).toBe(after);
  });

  it('iterates and lists trust domains in ascending name order', () => {
    const set = new BundleSet([
      bundle('zeta.example'),
      bundle('alpha.example'),
      bundle('mid.example'),
    ]);
    expect(set.trustDomains().map((t) => t.name)).toEqual([
      'alpha.example',
      'mid.example',
      'zeta.example',
    ]);
    expect([...set].map((b) => b.trustDomain.name)).toEqual([
      'alpha.example',
      'mid.example',
      'zeta.example',
    ]);
    expect(set.bundles()).toHaveLength(3);
  });

  it('is empty by default and frozen', () => {
    const set = new BundleSet();
    expect(set.size).toBe(0);
    expect([...set]).toEqual([]);
    expect(Object.isFrozen(set)).toBe(true);
  });

  it.each([
    [
      'two bundles of one trust domain',
      () => new BundleSet([bundle('a.example'), bundle('a.example')]),
    ],
    ['a value that is not a Bundle', () => new BundleSet([{} as Bundle])],
    ['set() with a value that is not a Bundle', () => new BundleSet().set({} as Bundle)],
    [
      'get() with a string',
      () => new BundleSet().get('a.example' as unknown as ReturnType<typeof td>),
    ],
  ])('throws TypeError for %s (caller mistake)', (_name, run) => {
    expect(run).toThrow(TypeError);
  });
});
