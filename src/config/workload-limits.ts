// The node agent's Workload API limits an operator may set (`agent serve --max-...`): per-uid
// shares for workloads that share a uid, pools for hosts with many uids; validated against each
// other and against ceilings that keep the agent's memory and descriptors bounded.
import { z } from 'zod';
import { ConfigError } from '../errors.js';

/** The settable limits, named as in the Workload API server's limits. */
export interface WorkloadApiLimitSettings {
  readonly maxConnections: number;
  readonly maxConnectionsPerUid: number;
  readonly maxCallsPerUid: number;
  readonly maxReceiving: number;
  readonly maxReceivingPerUid: number;
  readonly maxStreams: number;
}

/** Each setting's `agent serve` flag (without `--`). */
export const WORKLOAD_API_LIMIT_FLAGS: Readonly<Record<keyof WorkloadApiLimitSettings, string>> = {
  maxConnections: 'max-connections',
  maxConnectionsPerUid: 'max-connections-per-uid',
  maxCallsPerUid: 'max-calls-per-uid',
  maxReceiving: 'max-arriving',
  maxReceivingPerUid: 'max-arriving-per-uid',
  maxStreams: 'max-streams',
};

/**
 * Ceilings: 65,536 connections or streams (a descriptor each, or about 17 KiB of heap a stream);
 * 8,192 arriving requests (x 66 KiB = 528 MiB of messages, about twice that held).
 */
const CEILINGS: Readonly<Record<keyof WorkloadApiLimitSettings, number>> = {
  maxConnections: 65_536,
  maxConnectionsPerUid: 65_536,
  maxCallsPerUid: 65_536,
  maxReceiving: 8_192,
  maxReceivingPerUid: 8_192,
  maxStreams: 65_536,
};

const flagOf = (key: keyof WorkloadApiLimitSettings): string =>
  `--${WORKLOAD_API_LIMIT_FLAGS[key]}`;

function setting(key: keyof WorkloadApiLimitSettings, fallback: number) {
  // A flag's value is a string: digits only ('1e3', '12x' and '' are refused, not coerced).
  return z
    .preprocess(
      (value) => (typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value),
      z
        .number({ error: 'expected a whole number' })
        .int('expected a whole number')
        .min(1, 'must be at least 1')
        .max(CEILINGS[key], `must be at most ${CEILINGS[key].toLocaleString('en')}`),
    )
    .default(fallback);
}

function schema(defaults: WorkloadApiLimitSettings) {
  const shape = Object.fromEntries(
    (Object.keys(CEILINGS) as (keyof WorkloadApiLimitSettings)[]).map((key) => [
      key,
      setting(key, defaults[key]),
    ]),
  ) as Record<keyof WorkloadApiLimitSettings, ReturnType<typeof setting>>;
  const within = (
    share: keyof WorkloadApiLimitSettings,
    pool: keyof WorkloadApiLimitSettings,
    what: string,
  ) =>
    [
      (v: WorkloadApiLimitSettings) => v[share] <= v[pool],
      (v: WorkloadApiLimitSettings) => ({
        path: [share],
        message: `${v[share]} is above ${flagOf(pool)} (${v[pool]}): ${what}`,
      }),
    ] as const;
  const checks = [
    within('maxConnectionsPerUid', 'maxConnections', 'a uid cannot hold more than the pool'),
    within('maxReceivingPerUid', 'maxReceiving', 'a uid cannot hold more than the pool'),
    within('maxReceivingPerUid', 'maxCallsPerUid', 'an arriving request is a call in flight'),
  ];
  return z
    .object(shape)
    .strict()
    .superRefine((value, ctx) => {
      for (const [ok, issue] of checks) {
        if (!ok(value)) ctx.addIssue({ code: 'custom', ...issue(value) });
      }
    });
}

/**
 * Validates limit settings (numbers, or the flags' strings) over `defaults`; an invalid one is
 * ERR_CONFIG_INVALID naming its flag, e.g. a per-uid share above its pool.
 */
export function parseWorkloadApiLimits(
  raw: Partial<Record<keyof WorkloadApiLimitSettings, number | string>>,
  defaults: WorkloadApiLimitSettings,
): WorkloadApiLimitSettings {
  const result = schema(defaults).safeParse(raw);
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => {
    const key = issue.path[0];
    const name =
      typeof key === 'string' && key in WORKLOAD_API_LIMIT_FLAGS
        ? flagOf(key as keyof WorkloadApiLimitSettings)
        : String(key ?? '(root)');
    return { path: name, message: issue.message };
  });
  throw new ConfigError(
    'ERR_CONFIG_INVALID',
    `invalid workload API limits: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
    { context: { issues } },
  );
}
