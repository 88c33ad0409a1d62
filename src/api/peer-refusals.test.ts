// The refused-certificate gate: an address is closed only by its own refusals, never by a shared
// overflow (a stranger with thousands of addresses must not get honest agents closed), IPv6 counts
// per /64, IPv4-mapped addresses as IPv4, and one warn line per blocked window.
import { describe, expect, it } from 'vitest';
import {
  createPeerRefusalGate,
  MAX_TRACKED_ADDRESSES,
  REFUSED_PEERS_PER_ADDRESS,
  REFUSED_PEERS_WINDOW_MS,
  refusalKey,
} from './peer-refusals.js';

function gateAt(nowMs: { value: number }) {
  const warnings: Record<string, unknown>[] = [];
  const gate = createPeerRefusalGate({
    now: () => nowMs.value,
    logger: {
      warn: (_message: string, fields?: Record<string, unknown>) => warnings.push(fields ?? {}),
    },
    listener: 'agent API',
  });
  const refuse = (address: string, times = 1): void => {
    for (let i = 0; i < times; i++)
      gate.refused({ remoteAddress: address }, 'ERR_SVID_CHAIN_UNTRUSTED');
  };
  return { gate, refuse, warnings };
}

describe('peer refusal gate', () => {
  it('closes an address after its own refusals, for the rest of the window, with one warning', () => {
    const clock = { value: 1_000_000 };
    const { gate, refuse, warnings } = gateAt(clock);
    refuse('192.0.2.7', REFUSED_PEERS_PER_ADDRESS - 1);
    expect(gate.admits('192.0.2.7')).toBe(true);
    refuse('192.0.2.7', 3);
    expect(gate.admits('192.0.2.7')).toBe(false);
    expect(gate.admits('192.0.2.8')).toBe(true);
    expect(warnings).toEqual([expect.objectContaining({ address: '192.0.2.7' })]);
    clock.value += REFUSED_PEERS_WINDOW_MS;
    expect(gate.admits('192.0.2.7')).toBe(true);
  });

  it('never closes an address for others: thousands of addresses refused once each close nobody', () => {
    const clock = { value: 1_000_000 };
    const { gate, refuse } = gateAt(clock);
    refuse('198.51.100.1', REFUSED_PEERS_PER_ADDRESS);
    for (let i = 0; i < MAX_TRACKED_ADDRESSES + 25; i++) {
      refuse(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    }
    expect(gate.size()).toBe(MAX_TRACKED_ADDRESSES);
    // An honest agent, never refused, is admitted; so is every one-time stranger.
    expect(gate.admits('203.0.113.9')).toBe(true);
    expect(gate.admits('10.0.0.5')).toBe(true);
  });

  it('counts IPv6 per /64 and IPv4-mapped addresses as IPv4', () => {
    expect(refusalKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(refusalKey('2001:0db8:0001:0002:0:0:0:ffff')).toBe('2001:db8:1:2::/64');
    expect(refusalKey('::1')).toBe('0:0:0:0::/64');
    expect(refusalKey('::ffff:192.0.2.1')).toBe('192.0.2.1');
    expect(refusalKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    const { gate, refuse } = gateAt({ value: 5 });
    for (let i = 0; i < REFUSED_PEERS_PER_ADDRESS; i++)
      refuse(`2001:db8:1:2::${(i + 1).toString(16)}`);
    expect(gate.admits('2001:db8:1:2:ffff::1')).toBe(false);
    expect(gate.admits('2001:db8:1:3::1')).toBe(true);
    refuse('::ffff:192.0.2.1', REFUSED_PEERS_PER_ADDRESS);
    expect(gate.admits('192.0.2.1')).toBe(false);
  });
});
