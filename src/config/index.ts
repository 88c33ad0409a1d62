// Public surface of the config room: schema, loading with env overrides, durations.
export { configSchema, defaultCsrCheckWorkers, relationshipSchema, storeSchema } from './schema.js';
export type {
  BrokerConfig,
  ListenerLimitsConfig,
  RelationshipConfig,
  StoreConfig,
  WatchConfig,
} from './schema.js';
export { ENV_VARS, adminTokenFile, loadConfig, parseConfig } from './load.js';
export type { LoadedConfig } from './load.js';
export { loadAdminToken, loadReplicaId, readConfiguredFile } from './startup-files.js';
export { WORKLOAD_API_LIMIT_FLAGS, parseWorkloadApiLimits } from './workload-limits.js';
export type { WorkloadApiLimitSettings } from './workload-limits.js';
export { durationSeconds, formatDuration, parseDurationSeconds } from './duration.js';
export {
  checkPathPermissions,
  checkPermissions,
  configuredPaths,
  dataDirPaths,
  ownerOf,
  startupPaths,
} from './permissions.js';
export type { DataDirLayout, GuardedKind, GuardedPath } from './permissions.js';
