// `fedbroker agent run`: enrols with a join token and keeps svid.pem, svid_key.pem, bundle.pem and
// federated/<td>.pem current in a directory, for workloads in any language (like spiffe-helper);
// each write is one version directory swapped in whole (symlinks through DIR/.svid-current).
import { resolve } from 'node:path';
import { createAgent, writeSvidFiles, type Agent } from '../../agent/index.js';
import { CliError } from '../../errors.js';
import { flag, optionalString, parseCommandArgs, requireString, type ParsedArgs } from '../args.js';
import type { CliIo, CommandSpec } from '../io.js';
import {
  ENROLMENT_OPTIONS,
  readBundleOption,
  readJoinToken,
  stderrLogger,
} from './agent-options.js';
import { waitForSignal } from './common.js';

function requireJoinToken(args: ParsedArgs, io: CliIo): string {
  const token = readJoinToken(args, io);
  if (token !== undefined) return token;
  throw new CliError(
    'ERR_CLI_USAGE',
    '--join-token, --join-token-file or FEDBROKER_JOIN_TOKEN is required',
  );
}

export const agentRunCommand: CommandSpec = {
  words: ['agent', 'run'],
  usage:
    'fedbroker agent run --broker URL (--join-token T | --join-token-file FILE) (--bundle FILE | --bundle-digest SHA256) --write DIR [--once]',
  summary:
    'enrol, then keep svid.pem, svid_key.pem, bundle.pem and federated/<td>.pem current in DIR',
  flags: {
    broker: "the broker's agent API URL (token generate prints it)",
    'join-token': 'the one-time join token (visible in the process list; prefer the file or env)',
    'join-token-file': 'a file holding the join token (or set FEDBROKER_JOIN_TOKEN)',
    bundle: "the broker's bundle file, to trust it the first time",
    'bundle-digest': 'the bundle sha256 token generate printed, instead of --bundle',
    write:
      'directory for svid.pem, svid_key.pem, bundle.pem and federated/<td>.pem (symlinks into DIR/.svid-current, swapped whole on each change)',
    once: 'write the files once and exit (no renewal)',
  },
  example:
    'fedbroker agent run --broker https://broker.logistics.example:8444 --join-token-file token --bundle-digest 3f1a... --write /run/svid',
  async run(argv, io) {
    const args = parseCommandArgs(argv, {
      ...ENROLMENT_OPTIONS,
      write: { type: 'string' },
      once: { type: 'boolean' },
    });
    const brokerUrl = requireString(args, 'broker');
    const dir = resolve(requireString(args, 'write'));
    const bundleFile = optionalString(args, 'bundle');
    const digest = optionalString(args, 'bundle-digest');
    if ((bundleFile === undefined) === (digest === undefined)) {
      throw new CliError('ERR_CLI_USAGE', 'give exactly one of --bundle and --bundle-digest');
    }
    const bundle = readBundleOption(args);
    const agent: Agent = await createAgent({
      brokerUrl,
      joinToken: requireJoinToken(args, io),
      ...(bundle === undefined ? {} : { brokerBundle: bundle }),
      ...(digest === undefined ? {} : { brokerBundleDigest: digest }),
      logger: stderrLogger(io),
    });
    const write = async (): Promise<void> => {
      const svid = agent.x509Svid();
      const result = await writeSvidFiles(dir, {
        chainDer: svid.chainDer,
        privateKeyPem: svid.privateKeyPem,
        bundles: agent.bundles(),
        ownTrustDomain: agent.trustDomain,
      });
      io.stderr(
        `wrote ${result.written.length} files to ${dir} (${svid.spiffeId.toString()}, expires ${svid.expiresAt.toISOString()})\n`,
      );
    };
    await write();
    io.stdout(`${agent.spiffeId.toString()}\n`);
    if (flag(args, 'once')) {
      await agent.close();
      return 0;
    }
    // Rewrite on every change, one write at a time; stop on SIGINT/SIGTERM.
    let chain = Promise.resolve();
    const unsubscribe = agent.onUpdate(() => {
      chain = chain
        .then(write)
        .catch((error: unknown) => io.stderr(`warn: ${(error as Error).message}\n`));
    });
    await waitForSignal();
    unsubscribe();
    await chain;
    await agent.close();
    return 0;
  },
};
