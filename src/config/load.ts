// Loads broker.yaml, applies environment overrides (the only place that reads process.env) and validates.
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../errors.js';
import { configSchema, type BrokerConfig } from './schema.js';

/** Environment variables the broker reads (secrets and deployment-specific values). */
export const ENV_VARS = {
  /** Overrides `store` with `{ kind: redis, url }`. */
  redisUrl: 'FEDBROKER_REDIS_URL',
  /** The admin bearer token (instead of the token file). */
  adminToken: 'FEDBROKER_ADMIN_TOKEN',
  /** Overrides `dataDir`. */
  dataDir: 'FEDBROKER_DATA_DIR',
} as const;

export interface LoadedConfig {
  readonly config: BrokerConfig;
  /** Absolute path of the config file. */
  readonly path: string;
  /** Absolute data directory. */
  readonly dataDir: string;
  /** Admin token from the environment, if any (never logged). */
  readonly adminTokenFromEnv: string | undefined;
}

/** Where the admin token lives: `adminApi.tokenFile` (relative to `dataDir`) or `<dataDir>/admin-token`. */
export function adminTokenFile(loaded: LoadedConfig): string {
  return resolve(loaded.dataDir, loaded.config.adminApi.tokenFile ?? 'admin-token');
}

/** Formats zod issues as readable `path: message` lines for startup errors. */
function describeIssues(
  issues: readonly { path: readonly PropertyKey[]; message: string }[],
): string {
  return issues
    .map(
      (issue) =>
        `${issue.path.length > 0 ? issue.path.map(String).join('.') : '(root)'}: ${issue.message}`,
    )
    .join('; ');
}

/** Validates an already-parsed config object. */
export function parseConfig(raw: unknown): BrokerConfig {
  const result = configSchema.safeParse(raw ?? {});
  if (!result.success) {
    throw new ConfigError(
      'ERR_CONFIG_INVALID',
      `invalid configuration: ${describeIssues(result.error.issues)}`,
      {
        context: {
          issues: result.error.issues.map((i) => ({
            path: i.path.map(String),
            message: i.message,
          })),
        },
      },
    );
  }
  return result.data;
}

/** Reads, overrides and validates a config file. `env` defaults to process.env. */
export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const path = resolve(file);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new ConfigError('ERR_CONFIG_FILE', `cannot read config file "${path}"`, { cause });
  }
  let raw: unknown;
  try {
    raw = parseYaml(text, { uniqueKeys: true, maxAliasCount: 0 });
  } catch (cause) {
    throw new ConfigError(
      'ERR_CONFIG_FILE',
      `config file "${path}" is not valid YAML: ${(cause as Error).message}`,
      {
        cause,
      },
    );
  }
  if (raw !== null && raw !== undefined && (typeof raw !== 'object' || Array.isArray(raw))) {
    throw new ConfigError('ERR_CONFIG_INVALID', `config file "${path}" must hold a mapping`);
  }
  const object: Record<string, unknown> = { ...((raw as Record<string, unknown> | null) ?? {}) };
  const redisUrl = env[ENV_VARS.redisUrl];
  if (redisUrl !== undefined && redisUrl !== '') {
    const current = (object['store'] ?? {}) as Record<string, unknown>;
    object['store'] = {
      ...(current['kind'] === 'redis' ? current : {}),
      kind: 'redis',
      url: redisUrl,
    };
  }
  const dataDirOverride = env[ENV_VARS.dataDir];
  if (dataDirOverride !== undefined && dataDirOverride !== '') object['dataDir'] = dataDirOverride;
  const config = parseConfig(object);
  const base = dirname(path);
  const dataDir = isAbsolute(config.dataDir) ? config.dataDir : resolve(base, config.dataDir);
  const token = env[ENV_VARS.adminToken];
  return {
    config,
    path,
    dataDir,
    adminTokenFromEnv: token === undefined || token === '' ? undefined : token,
  };
}
