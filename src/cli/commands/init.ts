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
  /** Address the bundle endpoint and agent API bind to (default all interfaces). */
  readonly listenHost: string;
  /**
   * The name partners and agents reach us at (DNS name or IP): sets bundleEndpoint.url and
   * agentApi.url. Undefined, or a port 0: the URLs are left for the operator to fill in.
   */
  readonly publicHost: string | undefined;
}

/** `host` as it goes in a URL (IPv6 literals in brackets). */
function urlHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

function urlLine(key: string, host: string | undefined, port: number, path: string): string {
  if (host === undefined || port === 0) {
    return `# ${key}: https://broker.example:${port === 0 ? 8443 : port}${path}   (the public URL; init --public-host sets it)`;
  }
  return `${key}: https://${urlHost(host)}:${port}${path}`;
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
# listen is where we bind; url is what invitations tell partners (behind NAT or a load balancer
# they differ). federation invite refuses a url on 0.0.0.0, :: or loopback unless --allow-local-url.
bundleEndpoint:
  listen: ${urlHost(options.listenHost)}:${options.bundlePort}
  profile: https_spiffe   # https_spiffe (our own X509-SVID) | https_web (certFile + keyFile)
  ${urlLine('url', options.publicHost, options.bundlePort, '/')}
  spiffeId: spiffe://${td}/spiffe/bundle-endpoint
  refreshHint: 5m         # spiffe_refresh_hint we publish

# Agents enrol with a join token, then use mTLS with their X509-SVID. url is what token generate
# and the start-up banner tell agents.
agentApi:
  listen: ${urlHost(options.listenHost)}:${options.agentPort}
  ${urlLine('url', options.publicHost, options.agentPort, '')}

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
    'fedbroker init --trust-domain TD --dir DIR [--public-host NAME] [--listen-host ADDR] [--bundle-port N] [--agent-port N] [--admin-port N] [--json]',
  summary: 'write a commented DIR/broker.yaml with safe defaults and an empty data directory',
  flags: {
    'trust-domain': 'our SPIFFE trust domain, a bare name such as logistics.example',
    dir: 'directory for broker.yaml and the state/ data directory (created)',
    'public-host':
      'the name partners and agents reach us at; sets bundleEndpoint.url and agentApi.url',
    'listen-host': 'address the bundle endpoint and agent API bind to (default 0.0.0.0)',
    host: 'shorthand for --listen-host ADDR --public-host ADDR (one-machine trials)',
    'bundle-port': 'bundle endpoint port (default 8443; 0 = any free port, tests)',
    'agent-port': 'agent API port (default 8444)',
    'admin-port': 'admin API port on 127.0.0.1 (default 8445)',
    json: 'print the written paths as JSON',
  },
  example:
    'fedbroker init --trust-domain logistics.example --dir /etc/fedbroker --public-host broker.logistics.example',
  async run(argv, io: CliIo) {
    const args = parseCommandArgs(argv, {
      'trust-domain': { type: 'string' },
      dir: { type: 'string' },
      'bundle-port': { type: 'string' },
      'agent-port': { type: 'string' },
      'admin-port': { type: 'string' },
      'public-host': { type: 'string' },
      'listen-host': { type: 'string' },
      host: { type: 'string' },
      json: { type: 'boolean' },
    });
    const host = optionalString(args, 'host');
    const result = initBrokerDirectory({
      trustDomain: requireString(args, 'trust-domain'),
      dir: resolve(io.cwd, requireString(args, 'dir')),
      bundlePort: portOption(args, 'bundle-port', 8443),
      agentPort: portOption(args, 'agent-port', 8444),
      adminPort: portOption(args, 'admin-port', 8445),
      listenHost: optionalString(args, 'listen-host') ?? host ?? '0.0.0.0',
      publicHost: optionalString(args, 'public-host') ?? host,
    });
    if (flag(args, 'json')) {
      io.stdout(JSON.stringify(result) + '\n');
    } else {
      io.stdout(`wrote ${result.configFile}\ndata directory ${result.dataDir}\n`);
    }
    return 0;
  },
};
