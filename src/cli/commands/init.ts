// `fedbroker init`: writes a commented broker.yaml with safe defaults and an empty data directory.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CliError } from '../../errors.js';
import { parseTrustDomain } from '../../spiffeid/index.js';
import { parseCommandArgs, portOption, requireString, optionalString, flag } from '../args.js';
import type { CliIo, CommandSpec } from '../io.js';

export interface InitOptions {
  readonly trustDomain: string;
  readonly dir: string;
  readonly bundlePort: number;
  readonly agentPort: number;
  readonly adminPort: number;
  /** Address the bundle endpoint and agent API listen on. */
  readonly publicHost: string;
}

/** The commented configuration file `init` writes. */
export function renderConfig(options: InitOptions): string {
  const td = options.trustDomain;
  return `# fedbroker configuration for trust domain ${td}.
# Every key is described in the README's "Configuration reference". Durations: 30s, 5m, 1h, 2d.

# Our SPIFFE trust domain (a bare name, never spiffe://...).
trustDomain: ${td}

# CA keys (mode 0600), the embedded store and the admin token live here. Relative to this file.
dataDir: ./state

logLevel: info

# Embedded durable store by default (no Redis needed). For replicas, use Redis:
#   store: { kind: redis, url: redis://127.0.0.1:6379/0, keyPrefix: "fedbroker:" }
# FEDBROKER_REDIS_URL overrides this.
store:
  kind: file

ca:
  keyType: ec-p256        # ec-p256 | ec-p384 | rsa-2048 | rsa-4096
  jwtKeyType: ec-p256
  caTtl: 24h              # lifetime of each CA certificate; rotation starts at half of it
  x509SvidTtl: 1h
  maxX509SvidTtl: 24h
  jwtSvidTtl: 5m
  maxJwtSvidTtl: 1h
  # csrCheckWorkers: 1    # CSR-checking threads under load; default: cores - 1, at least 1
  # upstream: { certFile: /etc/pki/upstream.pem, keyFile: /etc/pki/upstream.key }

# SPIFFE bundle endpoint partners fetch our bundle from (no client authentication, FED-13).
bundleEndpoint:
  listen: ${options.publicHost}:${options.bundlePort}
  profile: https_spiffe   # https_spiffe (our own X509-SVID) | https_web (certFile + keyFile)
  ${options.bundlePort === 0 || options.publicHost === '0.0.0.0' ? '# url: https://broker.example:8443/   (set the public URL partners fetch)' : `url: https://${options.publicHost}:${options.bundlePort}/`}
  spiffeId: spiffe://${td}/spiffe/bundle-endpoint
  refreshHint: 5m         # spiffe_refresh_hint we publish

# Agents enrol with a join token, then use mTLS with their X509-SVID.
agentApi:
  listen: ${options.publicHost}:${options.agentPort}

# Admin API: bearer token (generated into <dataDir>/admin-token at first start) or mTLS.
adminApi:
  listen: 127.0.0.1:${options.adminPort}
  adminIds: []

federation:
  # Static relationships are active at start. Prefer invitations + approval through the admin API.
  relationships: []
`;
}

/** Creates `dir/broker.yaml` and `dir/state/` (mode 0700); refuses to overwrite an existing config. */
export function initBrokerDirectory(options: InitOptions): { configFile: string; dataDir: string } {
  parseTrustDomain(options.trustDomain);
  const dir = resolve(options.dir);
  const configFile = join(dir, 'broker.yaml');
  if (existsSync(configFile)) {
    throw new CliError('ERR_CLI_FILE', `"${configFile}" already exists; refusing to overwrite it`);
  }
  const dataDir = join(dir, 'state');
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  writeFileSync(configFile, renderConfig(options), { mode: 0o600, flag: 'wx' });
  return { configFile, dataDir };
}

export const initCommand: CommandSpec = {
  words: ['init'],
  usage:
    'fedbroker init --trust-domain TD --dir DIR [--bundle-port N] [--agent-port N] [--admin-port N] [--host ADDR] [--json]',
  summary: 'write a commented DIR/broker.yaml with safe defaults and an empty data directory',
  async run(argv, io: CliIo) {
    const args = parseCommandArgs(argv, {
      'trust-domain': { type: 'string' },
      dir: { type: 'string' },
      'bundle-port': { type: 'string' },
      'agent-port': { type: 'string' },
      'admin-port': { type: 'string' },
      host: { type: 'string' },
      json: { type: 'boolean' },
    });
    const result = initBrokerDirectory({
      trustDomain: requireString(args, 'trust-domain'),
      dir: resolve(io.cwd, requireString(args, 'dir')),
      bundlePort: portOption(args, 'bundle-port', 8443),
      agentPort: portOption(args, 'agent-port', 8444),
      adminPort: portOption(args, 'admin-port', 8445),
      publicHost: optionalString(args, 'host') ?? '0.0.0.0',
    });
    if (flag(args, 'json')) {
      io.stdout(JSON.stringify(result) + '\n');
    } else {
      io.stdout(`wrote ${result.configFile}\ndata directory ${result.dataDir}\n`);
    }
    return 0;
  },
};
