// Audit hash chain tests: any edit, removal or reordering of an event is detected and named.
import { describe, expect, it } from 'vitest';
import {
  AUDIT_ANCHOR_PATTERN,
  assertChain,
  canonicalJson,
  chainEvent,
  checkAnchor,
  checkChain,
  hashEvent,
  parseAuditAnchor,
  type AuditEvent,
} from './index.js';
import { parseSpiffeId } from '../spiffeid/index.js';

function buildChain(length: number): AuditEvent[] {
  const events: AuditEvent[] = [];
  for (let i = 0; i < length; i++) {
    events.push(
      chainEvent(
        events.at(-1),
        {
          type: 'relationship.approved',
          actor: `admin-${i}`,
          trustDomain: 'b.test',
          details: { n: i },
        },
        1000 + i,
      ),
    );
  }
  return events;
}

describe('audit chain', () => {
  it('an untouched chain verifies', () => {
    const events = buildChain(5);
    expect(checkChain(events)).toEqual({
      ok: true,
      checked: 5,
      head: { id: 5, hash: events[4]?.hash },
    });
    expect(events[0]?.id).toBe(1);
    expect(events[1]?.previousHash).toBe(events[0]?.hash);
    expect(events[0]?.previousHash).toBeNull();
  });

  it.each([
    [
      'an edited actor',
      (e: AuditEvent[]) => e.map((x) => (x.id === 3 ? { ...x, actor: 'mallory' } : x)),
      3,
    ],
    [
      'edited details',
      (e: AuditEvent[]) => e.map((x) => (x.id === 2 ? { ...x, data: { n: 99 } } : x)),
      2,
    ],
    ['a removed event', (e: AuditEvent[]) => e.filter((x) => x.id !== 3), 4],
    ['swapped events', (e: AuditEvent[]) => [e[0]!, e[2]!, e[1]!, e[3]!, e[4]!], 3],
  ])('detects %s and names the first bad event', (_name, tamper, badId) => {
    const result = checkChain(tamper(buildChain(5)));
    expect(result.ok).toBe(false);
    expect(result.brokenAt?.id).toBe(badId);
    expect(() => assertChain(tamper(buildChain(5)))).toThrow(
      expect.objectContaining({ code: 'ERR_AUDIT_CHAIN_BROKEN' }),
    );
  });

  it('a re-hashed edit is still caught by the next event', () => {
    const events = buildChain(4);
    const edited = chainEvent(events[0], { type: 'relationship.approved', actor: 'mallory' }, 1001);
    expect(checkChain([events[0]!, edited, events[2]!, events[3]!]).brokenAt?.id).toBe(3);
  });

  describe('anchors kept outside the broker', () => {
    const anchorOf = (e: AuditEvent | undefined): { id: number; hash: string } => ({
      id: e?.id as number,
      hash: e?.hash as string,
    });

    it('an anchored event still stored with its hash holds, wherever it is in the chain', () => {
      const events = buildChain(5);
      for (const event of events) expect(checkAnchor(events, anchorOf(event))).toBeUndefined();
      // A trimmed log (oldest events dropped) still holds anchors it keeps.
      expect(checkAnchor(events.slice(2), anchorOf(events[3]))).toBeUndefined();
    });

    it('sees the newest events removed, which the chain alone cannot', () => {
      const events = buildChain(5);
      const cut = events.slice(0, 3);
      expect(checkChain(cut).ok).toBe(true);
      expect(checkAnchor(cut, anchorOf(events[4]))).toBe(
        'anchored event 5 is missing: the log ends at event 3 (newest events removed)',
      );
      expect(checkAnchor([], anchorOf(events[0]))).toBe(
        'anchored event 1 is missing: the audit log is empty',
      );
    });

    it('sees the newest event rewritten with a recomputed hash, which the chain alone cannot', () => {
      const events = buildChain(3);
      const { hash: _hash, ...rest } = { ...(events[2] as AuditEvent), actor: 'mallory' };
      const rewritten = [events[0]!, events[1]!, { ...rest, hash: hashEvent(rest) }];
      expect(checkChain(rewritten).ok).toBe(true);
      expect(checkAnchor(rewritten, anchorOf(events[2]))).toBe(
        `anchored event 3 has hash ${rewritten[2]?.hash}, not the anchored ${events[2]?.hash} (rewritten)`,
      );
    });

    it('an anchor older than the oldest stored event fails: removal and trimming look alike', () => {
      const events = buildChain(5);
      expect(checkAnchor(events.slice(2), anchorOf(events[0]))).toBe(
        'anchored event 1 is older than the oldest stored event 3 (removed, or trimmed: anchor a newer head)',
      );
    });

    it('reads ID:HASH and refuses anything else', () => {
      const hash = 'ab'.repeat(32);
      expect(AUDIT_ANCHOR_PATTERN.test(`12:${hash}`)).toBe(true);
      expect(parseAuditAnchor(`12:${hash}`)).toEqual({ id: 12, hash });
      for (const bad of [
        `0:${hash}`,
        `-1:${hash}`,
        `012:${hash}`,
        `12:${hash.toUpperCase()}`,
        `12:${hash.slice(1)}`,
        `12 ${hash}`,
        `#12 ${hash}`,
        `1234567890123456:${hash}`,
        `12:${hash}\n`,
        '',
      ]) {
        expect(AUDIT_ANCHOR_PATTERN.test(bad), bad).toBe(false);
      }
    });
  });

  it('canonical JSON sorts keys at every level', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, { z: 1, y: 2 }], c: null } })).toBe(
      '{"a":{"c":null,"d":[2,{"y":2,"z":1}]},"b":1}',
    );
  });

  it('the hash of a fixed event never changes (stored chains must keep verifying)', () => {
    const event = chainEvent(
      undefined,
      {
        type: 'svid.issued',
        actor: 'spiffe://a.test/x',
        trustDomain: 'b.test',
        details: {
          z: [1, { y: '\u00e9', b: null, u: undefined }],
          a: 2n as unknown as number,
          '\u043a\u043b\u044e\u0447': 'v',
          '\u{1F600}': true,
          k: 1.5,
        },
      },
      1_700_000_000_000,
      7,
    );
    expect(event.hash).toBe('fc36ff8d131bbe33fc44d344b4330834d901dae56d0d2a7f2033eaab6f3e25bf');
  });

  it('hashes the details as they are stored: values with toJSON (Date, SpiffeId) verify after a JSON round trip', () => {
    const event = chainEvent(
      undefined,
      {
        type: 'entry.updated',
        actor: 'admin:root',
        details: {
          at: new Date(0),
          spiffeId: parseSpiffeId('spiffe://a.test/agent'),
          nested: [{ when: new Date(1000), skip: undefined, fn: () => 1 }],
        },
      },
      1000,
    );
    const stored = JSON.parse(JSON.stringify(event)) as AuditEvent;
    expect(stored.data).toEqual({
      at: '1970-01-01T00:00:00.000Z',
      spiffeId: 'spiffe://a.test/agent',
      nested: [{ when: '1970-01-01T00:00:01.000Z' }],
    });
    expect(event.data).toEqual(stored.data);
    expect(checkChain([stored])).toMatchObject({ ok: true, checked: 1 });
  });

  it('canonical JSON matches the reference form on random nested values', () => {
    // The first implementation, kept here as the specification of the bytes that get hashed.
    const reference = (value: unknown): string => {
      if (value === null || typeof value !== 'object') {
        return typeof value === 'bigint'
          ? JSON.stringify(value.toString())
          : (JSON.stringify(value) ?? 'null');
      }
      if (Array.isArray(value)) return `[${value.map(reference).join(',')}]`;
      const entries = Object.entries(value as Record<string, unknown>)
        .filter(([, v]) => v !== undefined)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${reference(v)}`).join(',')}}`;
    };
    let seed = 12345;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const keys = [
      'a',
      'B',
      'b',
      '10',
      '9',
      '',
      'é',
      'e\u0301',
      '\u{1F600}',
      '\uFFFF',
      'k"q',
      'z\n',
    ];
    const leaf = (): unknown =>
      [null, undefined, true, false, 0, -1.5, 1e21, NaN, 'text', '"\\\u0000', 7n, () => 1][
        rand(12)
      ];
    const value = (depth: number): unknown => {
      const kind = depth > 3 ? 2 : rand(3);
      if (kind === 0) return Array.from({ length: rand(4) }, () => value(depth + 1));
      if (kind === 1) {
        const o: Record<string, unknown> = {};
        for (let i = rand(6); i > 0; i--) o[keys[rand(keys.length)] as string] = value(depth + 1);
        return o;
      }
      return leaf();
    };
    for (let i = 0; i < 2000; i++) {
      const v = value(0);
      expect(canonicalJson(v)).toBe(reference(v));
    }
  });
});
