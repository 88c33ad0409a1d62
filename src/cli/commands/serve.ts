// `fedbroker serve` runs a broker from a config file; `fedbroker start` is the quick start (init ./data once, then serve).
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadConfig } from '../../config/index.js';
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
      `  bundle endpoint: ${broker.bundleEndpointUrl} (${loaded.config.bundleEndpoint.profile})`,
      `  agent API:       ${broker.agentApiUrl} (${broker.agentApiSpiffeId})`,
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
        publicHost: '127.0.0.1',
      });
      io.stdout(`initialised ${configFile}\n`);
    }
    return serveUntilSignal(configFile, io);
  },
};
