// Audit hash chain tests: any edit, removal or reordering of an event is detected and named.
import { describe, expect, it } from 'vitest';
import { assertChain, canonicalJson, chainEvent, checkChain, type AuditEvent } from './index.js';

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

  it('canonical JSON sorts keys at every level', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, { z: 1, y: 2 }], c: null } })).toBe(
      '{"a":{"c":null,"d":[2,{"y":2,"z":1}]},"b":1}',
    );
  });
});
