// Store contract, bundles: partner bundles (FED-30..35: sequences, overrides, history, deletion)
// and our own local bundle, which never goes backwards.
import { describe, expect, it } from 'vitest';
import { digestOf } from '../../src/store/index.js';
import { bundleInput, rejection, TD, type ContractContext } from './contract-kit.js';

/** Partner bundles, per trust domain (FED-30..35). */
export function describeBundles(ctx: ContractContext): void {
  describe('bundles (FED-30..35)', () => {
    bundleSequenceCases(ctx);
    bundleHighestSequenceAndHistoryCases(ctx);
  });
}

function bundleSequenceCases({ fresh }: ContractContext): void {
  it('stores a bundle with its digest and metadata, per trust domain', async () => {
    const store = await fresh();
    expect(await store.getBundle(TD)).toBeUndefined();
    const input = bundleInput('1');
    const result = await store.putBundle(input);
    expect(result.outcome).toBe('created');
    expect(result.previous).toBeUndefined();
    const stored = await store.getBundle(TD);
    expect(stored).toEqual({ ...input, digest: digestOf(input.raw), highestSequence: '1' });
    await store.putBundle(bundleInput(null, 'other', 'other.example'));
    const all = await store.listBundles();
    expect(all.map((b) => b.trustDomain).sort()).toEqual(['other.example', TD]);
    expect((await store.getBundle('other.example'))?.sequence).toBeNull();
  });

  it('FED-32: refuses a lower sequence as stale and keeps the stored bundle', async () => {
    const store = await fresh();
    await store.putBundle(bundleInput('6'));
    const error = await rejection(store.putBundle(bundleInput('5', 'older')));
    expect(error.code).toBe('ERR_STORE_STALE_SEQUENCE');
    expect((await store.getBundle(TD))?.sequence).toBe('6');
    expect(await store.bundleHistory(TD)).toHaveLength(1);
  });

  it('FED-32: compares 64-bit sequences losslessly', async () => {
    const store = await fresh();
    await store.putBundle(bundleInput('9007199254740993'));
    expect((await rejection(store.putBundle(bundleInput('9007199254740992')))).code).toBe(
      'ERR_STORE_STALE_SEQUENCE',
    );
    await store.putBundle(bundleInput('18446744073709551615'));
    expect((await rejection(store.putBundle(bundleInput('18446744073709551614')))).code).toBe(
      'ERR_STORE_STALE_SEQUENCE',
    );
    expect((await rejection(store.putBundle(bundleInput('999')))).code).toBe(
      'ERR_STORE_STALE_SEQUENCE',
    );
    expect((await store.getBundle(TD))?.sequence).toBe('18446744073709551615');
  });

  it('FED-32: an operator can force a lower sequence', async () => {
    const store = await fresh();
    await store.putBundle(bundleInput('6'));
    const result = await store.putBundle(bundleInput('2', 'reset'), { force: true });
    expect(result.outcome).toBe('replaced');
    expect(result.previous?.sequence).toBe('6');
    expect((await store.getBundle(TD))?.sequence).toBe('2');
  });

  it('FED-32: equal sequence and equal bytes is a no-op', async () => {
    const store = await fresh();
    await store.putBundle(bundleInput('3'));
    const again = await store.putBundle({ ...bundleInput('3'), fetchedAt: 1_800_000_000_000 });
    expect(again.outcome).toBe('unchanged');
    expect(again.current.fetchedAt).toBe(1_700_000_000_000);
    expect(await store.bundleHistory(TD)).toHaveLength(1);
  });

  it('FED-32: equal sequence with other bytes is applied and flagged', async () => {
    const store = await fresh();
    await store.putBundle(bundleInput('3'));
    const result = await store.putBundle(bundleInput('3', 'changed'));
    expect(result.outcome).toBe('replaced');
    expect(result.sameSequenceChanged).toBe(true);
    expect((await store.getBundle(TD))?.raw).toContain('changed');
  });

  it('FED-32: without sequences the most recent bundle is current', async () => {
    const store = await fresh();
    await store.putBundle(bundleInput('7'));
    expect((await store.putBundle(bundleInput(null, 'a'))).outcome).toBe('replaced');
    expect((await store.putBundle(bundleInput(null, 'b'))).sameSequenceChanged).toBe(false);
    expect((await store.putBundle(bundleInput('7', 'c'))).outcome).toBe('replaced');
    expect((await store.getBundle(TD))?.raw).toContain('"c"');
  });
}

function bundleHighestSequenceAndHistoryCases({ opened, open, fresh }: ContractContext): void {
  // Issue 15, finding 13: the stricter FED-32 reading keeps the highest sequence ever accepted.
  it('FED-32 (stricter): a sequence-less bundle does not open a rollback', async () => {
    const store = await fresh();
    await store.putBundle(bundleInput('30'));
    const sequenceLess = await store.putBundle(bundleInput(null, 'no-sequence'));
    expect(sequenceLess.outcome).toBe('replaced');
    expect(sequenceLess.current.highestSequence).toBe('30');
    expect((await rejection(store.putBundle(bundleInput('1', 'rollback')))).code).toBe(
      'ERR_STORE_STALE_SEQUENCE',
    );
    expect((await store.getBundle(TD))?.raw).toContain('no-sequence');
    expect((await store.putBundle(bundleInput('31', 'next'))).current.highestSequence).toBe('31');
  });

  it('FED-32 (stricter): the highest sequence survives a restart', async () => {
    const first = await fresh();
    await first.putBundle(bundleInput('30'));
    await first.putBundle(bundleInput(null, 'no-sequence'));
    await first.close();
    opened.splice(opened.indexOf(first), 1);
    const second = await open();
    expect((await second.getBundle(TD))?.highestSequence).toBe('30');
    expect((await rejection(second.putBundle(bundleInput('29', 'rollback')))).code).toBe(
      'ERR_STORE_STALE_SEQUENCE',
    );
  });

  it('FED-32 (stricter): an operator override restarts the highest sequence', async () => {
    const store = await fresh();
    await store.putBundle(bundleInput('30'));
    await store.putBundle(bundleInput(null, 'no-sequence'));
    const forced = await store.putBundle(bundleInput('1', 'reset'), { force: true });
    expect(forced.current.highestSequence).toBe('1');
    expect((await store.putBundle(bundleInput('2', 'after-reset'))).outcome).toBe('replaced');
  });

  it('FED-35: an empty bundle replaces the stored one', async () => {
    const store = await fresh();
    await store.putBundle(bundleInput('1'));
    await store.putBundle({ ...bundleInput('2'), raw: '{"keys":[],"spiffe_sequence":2}' });
    expect((await store.getBundle(TD))?.raw).toBe('{"keys":[],"spiffe_sequence":2}');
  });

  it('keeps the last 10 versions, newest first, the first being current', async () => {
    const store = await fresh();
    for (let i = 1; i <= 13; i++) await store.putBundle(bundleInput(String(i)));
    const history = await store.bundleHistory(TD);
    expect(history.map((b) => b.sequence)).toEqual([
      '13',
      '12',
      '11',
      '10',
      '9',
      '8',
      '7',
      '6',
      '5',
      '4',
    ]);
    expect(history[0]).toEqual(await store.getBundle(TD));
  });

  it('deletes a bundle with its history', async () => {
    const store = await fresh();
    await store.putBundle(bundleInput('1'));
    await store.putBundle(bundleInput('1', 'x', 'other.example'));
    expect(await store.deleteBundle(TD)).toBe(true);
    expect(await store.deleteBundle(TD)).toBe(false);
    expect(await store.getBundle(TD)).toBeUndefined();
    expect(await store.bundleHistory(TD)).toEqual([]);
    expect((await store.listBundles()).map((b) => b.trustDomain)).toEqual(['other.example']);
  });

  it('refuses malformed input as caller mistakes', async () => {
    const store = await fresh();
    await expect(store.putBundle(bundleInput('01'))).rejects.toBeInstanceOf(TypeError);
    await expect(store.putBundle(bundleInput('18446744073709551616'))).rejects.toBeInstanceOf(
      TypeError,
    );
    await expect(store.putBundle(bundleInput('1', 'k', 'a*b'))).rejects.toBeInstanceOf(TypeError);
    await expect(store.getBundle('x}{')).rejects.toBeInstanceOf(TypeError);
  });
}

/** Our own bundle: only higher sequences are written. */
export function describeLocalBundle({ fresh }: ContractContext): void {
  describe('local bundle (never goes backwards)', () => {
    it('writes only higher sequences; the same bytes again is a no-op', async () => {
      const store = await fresh();
      expect(await store.getLocalBundle()).toBeUndefined();
      const v1 = { raw: '{"keys":[1]}', sequence: '1', publishedAt: 10 };
      expect(await store.putLocalBundle(v1)).toBe('written');
      expect(await store.putLocalBundle(v1)).toBe('unchanged');
      expect((await rejection(store.putLocalBundle({ ...v1, raw: '{"keys":[9]}' }))).code).toBe(
        'ERR_STORE_STALE_SEQUENCE',
      );
      expect(
        await store.putLocalBundle({ raw: '{"keys":[2]}', sequence: '2', publishedAt: 20 }),
      ).toBe('written');
      expect((await rejection(store.putLocalBundle(v1))).code).toBe('ERR_STORE_STALE_SEQUENCE');
      expect(await store.getLocalBundle()).toEqual({
        raw: '{"keys":[2]}',
        sequence: '2',
        digest: digestOf('{"keys":[2]}'),
        publishedAt: 20,
      });
    });
  });
}
