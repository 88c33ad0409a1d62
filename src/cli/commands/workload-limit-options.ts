// `agent serve`'s Workload API limit flags: what an operator may raise (per-uid shares when
// workloads share a uid, pools on hosts with many uids), validated in src/config over the defaults.
import {
  WORKLOAD_API_LIMIT_FLAGS,
  parseWorkloadApiLimits,
  type WorkloadApiLimitSettings,
} from '../../config/index.js';
import { DEFAULT_WORKLOAD_API_LIMITS } from '../../workload/index.js';
import { optionalString, type OptionSpec, type ParsedArgs } from '../args.js';

type Key = keyof WorkloadApiLimitSettings;
const KEYS = Object.keys(WORKLOAD_API_LIMIT_FLAGS) as Key[];

/** The limit flags for parseCommandArgs. */
export const WORKLOAD_LIMIT_OPTIONS: OptionSpec = Object.fromEntries(
  KEYS.map((key) => [WORKLOAD_API_LIMIT_FLAGS[key], { type: 'string' }]),
);

const d = DEFAULT_WORKLOAD_API_LIMITS;

/** One help line per limit flag. */
export const WORKLOAD_LIMIT_FLAG_HELP: Readonly<Record<string, string>> = {
  [WORKLOAD_API_LIMIT_FLAGS.maxConnections]: `Workload API connections of all uids (default ${d.maxConnections}; a full pool closes one of the uid holding the most)`,
  [WORKLOAD_API_LIMIT_FLAGS.maxConnectionsPerUid]: `connections of one uid (default ${d.maxConnectionsPerUid})`,
  [WORKLOAD_API_LIMIT_FLAGS.maxCallsPerUid]: `calls in flight of one uid (default ${d.maxCallsPerUid})`,
  [WORKLOAD_API_LIMIT_FLAGS.maxReceiving]: `requests still arriving, all uids (default ${d.maxReceiving}; each up to 66 KiB)`,
  [WORKLOAD_API_LIMIT_FLAGS.maxReceivingPerUid]: `requests still arriving from one uid (default ${d.maxReceivingPerUid})`,
  [WORKLOAD_API_LIMIT_FLAGS.maxStreams]: `open streams, all uids (default ${d.maxStreams})`,
};

/** The limits the flags set, over the defaults; ERR_CONFIG_INVALID names a bad flag. */
export function workloadLimitsFromArgs(args: ParsedArgs): WorkloadApiLimitSettings {
  const raw: Partial<Record<Key, string>> = {};
  for (const key of KEYS) {
    const value = optionalString(args, WORKLOAD_API_LIMIT_FLAGS[key]);
    if (value !== undefined) raw[key] = value;
  }
  return parseWorkloadApiLimits(raw, d);
}
