// `fedbroker federation invite` and `federation accept`: invitations, with the public-URL checks
// of issue 18 (invite refuses a local bundle endpoint URL, accept warns about one) and a fix named
// when a relationship for the inviting trust domain already exists.
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type {
  AcceptedInviteResponse,
  InviteJson,
  OneRelationshipResponse,
} from '../../api/index.js';
import { loadConfig } from '../../config/index.js';
import { CliError, FederationError, isBrokerError } from '../../errors.js';
import {
  flag,
  optionalString,
  parseCommandArgs,
  requirePositional,
  type ParsedArgs,
} from '../args.js';
import type { CliIo, CommandSpec } from '../io.js';
import { printJson } from '../output.js';
import { CONFIG_OPTION, connect, durationOption } from './common.js';
import { encodeTd, readFile, RELATIONSHIP_FLAGS } from './federation.js';

/** Hosts no partner can reach: wildcard binds and loopback (issue 18). */
export function isLocalUrl(text: string): boolean {
  let host: string;
  try {
    host = new URL(text).hostname.replace(/^\[|\]$/g, '').toLowerCase();
  } catch {
    return false;
  }
  return (
    host === '0.0.0.0' ||
    host === '::' ||
    host === '::1' ||
    host === 'localhost' ||
    host.endsWith('.localhost') ||
    /^127\.\d+\.\d+\.\d+$/.test(host)
  );
}

/** The bundle endpoint URL an invitation will carry: bundleEndpoint.url, else the listen address. */
function advertisedUrl(args: ParsedArgs, io: CliIo): { url: string; path: string } {
  const loaded = loadConfig(
    resolve(io.cwd, optionalString(args, 'config') ?? 'data/broker.yaml'),
    io.env,
  );
  const endpoint = loaded.config.bundleEndpoint;
  return { url: endpoint.url ?? `https://${endpoint.listen}/`, path: loaded.path };
}

/**
 * Reads the bundle endpoint URL from an invitation's token claim without verifying it (the
 * broker verifies it on accept); only used to warn.
 */
function inviteUrl(text: string): string | undefined {
  try {
    const token = (JSON.parse(text) as { token?: unknown }).token;
    if (typeof token !== 'string') return undefined;
    const payload = JSON.parse(
      Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8'),
    ) as Record<string, unknown>;
    const found = Object.values(payload).find(
      (v): v is { bundleEndpointUrl: string } =>
        typeof v === 'object' &&
        v !== null &&
        typeof (v as { bundleEndpointUrl?: unknown }).bundleEndpointUrl === 'string',
    );
    return found?.bundleEndpointUrl;
  } catch {
    return undefined;
  }
}

const inviteCommand: CommandSpec = {
  words: ['federation', 'invite'],
  usage: 'fedbroker federation invite [--out FILE] [--ttl 1h] [--allow-local-url] [--config FILE]',
  summary:
    'write a signed, expiring invitation with our endpoint and bundle for a partner to accept',
  flags: {
    out: 'write the invitation to FILE (default: print it)',
    ttl: 'how long the invitation is valid (default and maximum: ca.maxJwtSvidTtl)',
    'allow-local-url':
      'allow a bundle endpoint URL on 0.0.0.0, :: or loopback (one-machine trials and tests)',
  },
  example: 'fedbroker federation invite --out logistics.invite --config /etc/fedbroker/broker.yaml',
  async run(argv, io) {
    const args = parseCommandArgs(argv, {
      ...CONFIG_OPTION,
      out: { type: 'string' },
      ttl: { type: 'string' },
      'allow-local-url': { type: 'boolean' },
    });
    const ttlSeconds = durationOption(args, 'ttl');
    const advertised = advertisedUrl(args, io);
    if (isLocalUrl(advertised.url) && !flag(args, 'allow-local-url')) {
      throw new CliError(
        'ERR_CLI_LOCAL_URL',
        `the invitation would tell partners to fetch ${advertised.url}, which they cannot reach: set bundleEndpoint.url in ${advertised.path} (init --public-host NAME), or pass --allow-local-url for a one-machine trial`,
      );
    }
    const invite = await connect(args, io).request<InviteJson>(
      'POST',
      '/v1/admin/invites',
      ttlSeconds === undefined ? {} : { ttlSeconds },
    );
    const text = JSON.stringify(invite, null, 2) + '\n';
    const out = optionalString(args, 'out');
    if (out === undefined) {
      io.stdout(text);
      return 0;
    }
    writeFileSync(resolve(io.cwd, out), text, { mode: 0o644 });
    if (flag(args, 'json'))
      return (
        printJson(io, {
          file: out,
          bundleSha256: invite.bundleSha256,
          expiresAt: invite.expiresAt,
        }),
        0
      );
    io.stdout(
      `wrote ${out} for ${invite.trustDomain}, valid until ${invite.expiresAt}\n` +
        `bundle endpoint ${advertised.url}\n` +
        `bundle sha256 ${invite.bundleSha256} (read it to the partner over another channel)\n`,
    );
    return 0;
  },
};

const acceptCommand: CommandSpec = {
  words: ['federation', 'accept'],
  usage:
    'fedbroker federation accept FILE [--ca-file FILE] [--reason TEXT] [--config FILE] [--json]',
  summary:
    "check a partner's invitation and create a pending relationship from it (approve it next)",
  flags: {
    'ca-file': RELATIONSHIP_FLAGS['ca-file'],
    reason: RELATIONSHIP_FLAGS.reason,
  },
  example: 'fedbroker federation accept logistics.invite --config /etc/fedbroker/broker.yaml',
  async run(argv, io) {
    const args = parseCommandArgs(
      argv,
      { ...CONFIG_OPTION, reason: { type: 'string' }, 'ca-file': { type: 'string' } },
      1,
    );
    const invite = readFile(io, requirePositional(args, 0, 'FILE'));
    const url = inviteUrl(invite);
    if (url !== undefined && isLocalUrl(url)) {
      io.stderr(
        `warning: the invitation's bundle endpoint ${url} is a local address; it works only if the partner runs on this machine (ask them for an invitation with their public URL)\n`,
      );
    }
    const caFile = optionalString(args, 'ca-file');
    const reason = optionalString(args, 'reason');
    const client = connect(args, io);
    let result: AcceptedInviteResponse;
    try {
      result = await client.request('POST', '/v1/admin/invites/accept', {
        invite,
        ...(caFile === undefined ? {} : { caPem: readFile(io, caFile) }),
        ...(reason === undefined ? {} : { reason }),
      });
    } catch (error) {
      throw await explainExisting(error, client, invite);
    }
    if (flag(args, 'json')) return (printJson(io, result), 0);
    io.stdout(
      `relationship ${result.relationship.trustDomain} created: ${result.relationship.state}\n` +
        `bundle sha256 ${result.bundleSha256}: compare it with the partner, then run\n` +
        `  fedbroker federation approve ${result.relationship.trustDomain}\n`,
    );
    return 0;
  },
};

/** An existing relationship for the invitation's trust domain: say what to do about it. */
async function explainExisting(
  error: unknown,
  client: ReturnType<typeof connect>,
  invite: string,
): Promise<unknown> {
  if (!isBrokerError(error) || error.code !== 'ERR_FEDERATION_RELATIONSHIP_EXISTS') return error;
  let td: string | undefined;
  try {
    td = (JSON.parse(invite) as { trustDomain?: string }).trustDomain;
  } catch {
    return error;
  }
  if (td === undefined) return error;
  const current = await client
    .request<OneRelationshipResponse>('GET', `/v1/admin/relationships/${encodeTd(td)}`)
    .then((r) => r.relationship.state)
    .catch(() => 'unknown');
  const fix =
    current === 'rejected'
      ? `it was rejected; to start over, delete it first: fedbroker federation delete ${td}`
      : current === 'pending'
        ? `approve it (fedbroker federation approve ${td}) or delete it first`
        : `to change its URL or profile use fedbroker federation update ${td}`;
  return new FederationError(
    'ERR_FEDERATION_RELATIONSHIP_EXISTS',
    `a relationship with ${td} already exists (state ${current}): ${fix}`,
  );
}

export const inviteCommands: readonly CommandSpec[] = [inviteCommand, acceptCommand];
