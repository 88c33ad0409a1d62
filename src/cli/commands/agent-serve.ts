// `fedbroker agent serve`: the node agent. Enrols with a node entry's join token (or resumes with
// the SVID in --data-dir) and serves the SPIFFE Workload API on a Unix socket to local workloads,
// attested from the kernel, until SIGINT/SIGTERM; the socket is removed on exit.
import { resolve } from 'node:path';
import { CliError } from '../../errors.js';
import {
  createAttestor,
  createNodeAgent,
  createWorkloadApiServer,
  loadPeerCred,
  readBootId,
} from '../../workload/index.js';
import { optionalString, parseCommandArgs, requireString } from '../args.js';
import type { CommandSpec } from '../io.js';
import {
  ENROLMENT_OPTIONS,
  readBundleOption,
  readJoinToken,
  stderrLogger,
} from './agent-options.js';
import { waitForSignal } from './common.js';
import {
  WORKLOAD_LIMIT_FLAG_HELP,
  WORKLOAD_LIMIT_OPTIONS,
  workloadLimitsFromArgs,
} from './workload-limit-options.js';

/** Where the node keeps its key and SVID when --data-dir is not given. */
export const DEFAULT_NODE_DATA_DIR = '/var/lib/fedbroker/node-agent';

export const agentServeCommand: CommandSpec = {
  words: ['agent', 'serve'],
  usage:
    'fedbroker agent serve --broker URL (--join-token T | --join-token-file FILE) (--bundle FILE | --bundle-digest SHA256) --socket PATH [--data-dir DIR] [--max-connections N --max-connections-per-uid N --max-calls-per-uid N --max-arriving N --max-arriving-per-uid N --max-streams N]',
  summary:
    'node agent: serve the SPIFFE Workload API on a Unix socket to local workloads, attested by the kernel',
  flags: {
    broker: "the broker's agent API URL (token generate prints it)",
    'join-token': 'the one-time join token of a node entry (first start only)',
    'join-token-file': 'a file holding the join token (or set FEDBROKER_JOIN_TOKEN)',
    bundle: "the broker's bundle file, to trust it the first time",
    'bundle-digest': 'the bundle sha256 token generate printed, instead of --bundle',
    socket: 'the Unix socket path workloads connect to (SPIFFE_ENDPOINT_SOCKET)',
    'data-dir': 'where the node SVID and state are kept across restarts',
    ...WORKLOAD_LIMIT_FLAG_HELP,
  },
  example:
    'fedbroker agent serve --broker https://broker.logistics.example:8444 --join-token-file node.token --bundle-digest 3f1a... --socket /run/spiffe/agent.sock',
  async run(argv, io) {
    const args = parseCommandArgs(argv, {
      ...ENROLMENT_OPTIONS,
      socket: { type: 'string' },
      'data-dir': { type: 'string' },
      ...WORKLOAD_LIMIT_OPTIONS,
    });
    const brokerUrl = requireString(args, 'broker');
    const socketPath = resolve(requireString(args, 'socket'));
    const dataDir = resolve(optionalString(args, 'data-dir') ?? DEFAULT_NODE_DATA_DIR);
    const bundleFile = optionalString(args, 'bundle');
    const digest = optionalString(args, 'bundle-digest');
    if (bundleFile !== undefined && digest !== undefined) {
      throw new CliError('ERR_CLI_USAGE', 'give at most one of --bundle and --bundle-digest');
    }
    const limits = workloadLimitsFromArgs(args);
    // Never serves unattested: without peer credentials nothing starts (not even enrolment).
    const peerCred = loadPeerCred();
    const bundle = readBundleOption(args);
    const joinToken = readJoinToken(args, io);
    const logger = stderrLogger(io);
    const node = await createNodeAgent({
      brokerUrl,
      dataDir,
      ...(joinToken === undefined ? {} : { joinToken }),
      ...(bundle === undefined ? {} : { brokerBundle: bundle }),
      ...(digest === undefined ? {} : { brokerBundleDigest: digest }),
      logger,
    });
    const server = createWorkloadApiServer({
      socketPath,
      source: node,
      peerCred,
      attestor: createAttestor(),
      bootId: readBootId(),
      limits,
      logger,
    });
    try {
      await server.listen();
    } catch (error) {
      await node.close();
      throw error;
    }
    io.stdout(`${node.spiffeId.toString()}\nworkload API: unix://${socketPath}\n`);
    await waitForSignal();
    await server.close();
    await node.close();
    return 0;
  },
};
