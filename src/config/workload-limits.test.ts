// The node agent's Workload API limit settings: defaults kept, flags' strings read as whole
// numbers, each per-uid share within its pool, ceilings enforced, every refusal ERR_CONFIG_INVALID.
import { describe, expect, it } from 'vitest';
import { isBrokerError } from '../errors.js';
import { parseWorkloadApiLimits, type WorkloadApiLimitSettings } from './workload-limits.js';

const DEFAULTS: WorkloadApiLimitSettings = {
  maxConnections: 4096,
  maxConnectionsPerUid: 128,
  maxCallsPerUid: 1024,
  maxReceiving: 512,
  maxReceivingPerUid: 128,
  maxStreams: 4096,
};

function codeOf(raw: Record<string, unknown>): string | undefined {
  try {
    parseWorkloadApiLimits(raw as never, DEFAULTS);
    return undefined;
  } catch (error) {
    return isBrokerError(error) ? error.code : 'not a BrokerError';
  }
}

describe('workload API limit settings', () => {
  it('keeps the defaults and reads whole numbers from strings', () => {
    expect(parseWorkloadApiLimits({}, DEFAULTS)).toEqual(DEFAULTS);
    expect(
      parseWorkloadApiLimits({ maxCallsPerUid: '4096', maxConnections: 8192 }, DEFAULTS),
    ).toEqual({ ...DEFAULTS, maxCallsPerUid: 4096, maxConnections: 8192 });
  });

  it('a share may equal its pool; raising a share needs its pool raised too', () => {
    expect(
      parseWorkloadApiLimits({ maxReceivingPerUid: '512', maxCallsPerUid: '512' }, DEFAULTS),
    ).toMatchObject({ maxReceivingPerUid: 512 });
    expect(codeOf({ maxReceivingPerUid: '1024', maxCallsPerUid: '2048' })).toBe(
      'ERR_CONFIG_INVALID',
    );
    expect(
      parseWorkloadApiLimits(
        { maxReceivingPerUid: '1024', maxReceiving: '2048', maxCallsPerUid: '2048' },
        DEFAULTS,
      ),
    ).toMatchObject({ maxReceivingPerUid: 1024, maxReceiving: 2048 });
  });

  it.each([
    ['a share above its pool', { maxConnectionsPerUid: '4097' }],
    ['arriving above calls per uid', { maxCallsPerUid: '64' }],
    ['not a number', { maxStreams: 'many' }],
    ['an exponent', { maxStreams: '1e3' }],
    ['empty', { maxStreams: '' }],
    ['zero', { maxStreams: '0' }],
    ['negative', { maxStreams: -5 }],
    ['a fraction', { maxStreams: 1.5 }],
    ['over the ceiling', { maxReceiving: '8193' }],
    ['an unknown key', { maxWhatever: '1' }],
  ])('refuses %s with ERR_CONFIG_INVALID', (_name, raw) => {
    expect(codeOf(raw)).toBe('ERR_CONFIG_INVALID');
  });
});
