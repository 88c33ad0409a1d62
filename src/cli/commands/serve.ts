// `fedbroker serve` runs a broker from a config file; `fedbroker start` is the quick start (init ./data once, then serve).
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadConfig } from '../../config/index.js';
import { ConfigError } from '../../errors.js';
import { createLogger } from '../../log.js';
import { startBroker } from '../../main.js';
import { optionalString, parseCommandArgs, requireString } from '../args.js';
import type { CliIo, CommandSpec } from '../io.js';
import { waitForSignal } from './common.js';
import { initBrokerDirectory } from './init.js';

async function serveUntilSignal(configFile: string, io: CliIo): Promise<number> {
  const loaded = loadConfig(configFile, io.env);
  const logger = createLogger({ level: loaded.config.logLevel, write: (line) => io.stderr(line) });
  const broker = await startBroker(loaded, { logger });
  io.stdout(
    [
      `fedbroker serving trust domain ${loaded.config.trustDomain} (store: ${broker.store.kind})`,
      `  bundle endpoint: ${broker.publicUrls.bundleEndpoint} (${loaded.config.bundleEndpoint.profile}; listening on ${loaded.config.bundleEndpoint.listen})`,
      `  agent API:       ${broker.publicUrls.agentApi} (${broker.agentApiSpiffeId}; listening on ${loaded.config.agentApi.listen})`,
      `  admin API:       ${broker.adminUrl}`,
      `  admin token:     ${broker.adminTokenFile ?? 'from FEDBROKER_ADMIN_TOKEN'}`,
      `  config:          ${loaded.path}`,
      '',
    ].join('\n'),
  );
  await waitForSignal();
  await broker.stop();
  return 0;
}

export const serveCommand: CommandSpec = {
  words: ['serve'],
  usage: 'fedbroker serve --config FILE',
  summary: 'run the broker (CA, bundle endpoint, federation, admin API) until SIGINT/SIGTERM',
  flags: { config: 'the broker.yaml that init wrote' },
  example: 'fedbroker serve --config /etc/fedbroker/broker.yaml',
  async run(argv, io) {
    const args = parseCommandArgs(argv, { config: { type: 'string' } });
    return serveUntilSignal(resolve(io.cwd, requireString(args, 'config')), io);
  },
};

export const startCommand: CommandSpec = {
  words: ['start'],
  usage: 'fedbroker start [--dir DIR] [--trust-domain TD]',
  summary:
    'quick start: on first use write DIR/broker.yaml (default ./data, loopback listeners), then serve it',
  flags: {
    dir: 'directory of broker.yaml (default ./data)',
    'trust-domain':
      'trust domain for a new directory (default local.example); must match an existing one',
  },
  example: 'fedbroker start --trust-domain logistics.example',
  async run(argv, io) {
    const args = parseCommandArgs(argv, {
      dir: { type: 'string' },
      'trust-domain': { type: 'string' },
    });
    const dir = resolve(io.cwd, optionalString(args, 'dir') ?? 'data');
    const configFile = join(dir, 'broker.yaml');
    if (!existsSync(configFile)) {
      initBrokerDirectory({
        trustDomain: optionalString(args, 'trust-domain') ?? 'local.example',
        dir,
        bundlePort: 8443,
        agentPort: 8444,
        adminPort: 8445,
        listenHost: '127.0.0.1',
        publicHost: '127.0.0.1',
      });
      io.stdout(`initialised ${configFile}\n`);
    } else {
      // Issue 18: an existing directory keeps its trust domain; asking for another is a mistake.
      const asked = optionalString(args, 'trust-domain');
      const existing = loadConfig(configFile, io.env).config.trustDomain;
      if (asked !== undefined && asked !== existing) {
        throw new ConfigError(
          'ERR_CONFIG_TRUST_DOMAIN_MISMATCH',
          `${configFile} is for trust domain ${existing}, not ${asked}: drop --trust-domain, or use another --dir for ${asked}`,
        );
      }
    }
    return serveUntilSignal(configFile, io);
  },
};
