// `fedbroker federation ...` (relationships, invitations) and `bundle set`: the partner side of
// the admin API. Public-URL checks of issue 18 live here (invite refuses, accept warns).
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { loadConfig } from '../../config/index.js';
import { CliError, FederationError, isBrokerError } from '../../errors.js';
import {
  flag,
  optionalString,
  parseCommandArgs,
  requirePositional,
  requireString,
  type ParsedArgs,
} from '../args.js';
import type { CliIo, CommandSpec } from '../io.js';
import { printFields, printJson, printTable } from '../output.js';
import { CONFIG_OPTION, connect, durationOption } from './common.js';

const encodeTd = (td: string): string => encodeURIComponent(td);
const STATES = ['pending', 'active', 'suspended', 'rejected'] as const;

export interface RelationshipJson {
  trustDomain: string;
  url: string;
  profile: string;
  endpointSpiffeId: string | null;
  state: string;
  source: string;
  transitions: {
    action: string;
    from: string | null;
    to: string;
    actor: string;
    at: string;
    reason: string;
  }[];
  status: {
    lastSuccessAtMs: number | null;
    lastError: { code: string; message: string } | null;
    consecutiveFailures: number;
    nextRefreshAtMs: number;
    sequence: string | null;
    stale: boolean;
    earliestAuthorityExpiryMs: number | null;
  };
}

export const when = (ms: number | null | undefined): string =>
  ms === null || ms === undefined ? '-' : new Date(ms).toISOString();

function readFile(io: CliIo, file: string): string {
  try {
    return readFileSync(resolve(io.cwd, file), 'utf8');
  } catch (cause) {
    throw new CliError('ERR_CLI_FILE', `cannot read "${file}"`, { cause });
  }
}

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

function relationshipRows(list: readonly RelationshipJson[]): string[][] {
  return list.map((r) => [
    r.trustDomain,
    r.state,
    r.status.stale ? 'yes' : 'no',
    String(r.status.consecutiveFailures),
    r.status.sequence ?? '-',
    when(r.status.lastSuccessAtMs),
    r.status.lastError?.code ?? '-',
    r.url,
  ]);
}

const RELATIONSHIP_COLUMNS = [
  'trust domain',
  'state',
  'stale',
  'failures',
  'sequence',
  'last success',
  'last error',
  'url',
];

/** Checks the https_spiffe flags before asking the broker, so the message names the fix (FED-1). */
function checkProfileFlags(profile: string, args: ParsedArgs, creating: boolean): void {
  if (profile !== 'https_web' && profile !== 'https_spiffe') {
    throw new CliError('ERR_CLI_USAGE', `--profile is https_web or https_spiffe, got "${profile}"`);
  }
  if (profile === 'https_spiffe' && creating) {
    const missing = ['endpoint-spiffe-id', 'bundle'].filter(
      (f) => optionalString(args, f) === undefined,
    );
    if (missing.length > 0) {
      throw new CliError(
        'ERR_CLI_USAGE',
        `--profile https_spiffe needs ${missing.map((f) => `--${f}`).join(' and ')}: the endpoint's SPIFFE ID (e.g. spiffe://partner.example/spiffe/bundle-endpoint) and the partner's bundle file to trust it the first time (FED-1); or use federation accept with their invitation`,
      );
    }
  }
  if (
    profile === 'https_web' &&
    (optionalString(args, 'endpoint-spiffe-id') !== undefined ||
      optionalString(args, 'bundle') !== undefined)
  ) {
    throw new CliError(
      'ERR_CLI_USAGE',
      '--profile https_web takes no --endpoint-spiffe-id or --bundle (FED-2); use --ca-file for a private CA',
    );
  }
}

const RELATIONSHIP_FLAGS = {
  url: 'the partner bundle endpoint URL (https, FED-4)',
  profile: "https_web (Web PKI certificate) or https_spiffe (the partner's own X509-SVID)",
  'endpoint-spiffe-id': 'https_spiffe: the SPIFFE ID the endpoint presents (FED-23)',
  bundle: "https_spiffe: the partner's bundle file (SPIFFE JSON or PEM) to trust it the first time",
  'ca-file': 'https_web: CA certificates (PEM) of a private Web PKI (FED-22)',
  reason: 'why, recorded with who and when in the audit log',
} as const;

const createCommand: CommandSpec = {
  words: ['federation', 'create'],
  usage:
    'fedbroker federation create --trust-domain TD --url URL --profile https_web|https_spiffe [--endpoint-spiffe-id ID --bundle FILE] [--ca-file FILE] [--reason TEXT] [--config FILE]',
  summary: 'create a pending relationship (an admin approves it before anything is trusted)',
  flags: { 'trust-domain': "the partner's trust domain", ...RELATIONSHIP_FLAGS },
  example:
    'fedbroker federation create --trust-domain shipping.example --url https://broker.shipping.example:8443/ --profile https_web --config /etc/fedbroker/broker.yaml',
  async run(argv, io) {
    const args = parseCommandArgs(argv, {
      ...CONFIG_OPTION,
      'trust-domain': { type: 'string' },
      url: { type: 'string' },
      profile: { type: 'string' },
      'endpoint-spiffe-id': { type: 'string' },
      bundle: { type: 'string' },
      'ca-file': { type: 'string' },
      reason: { type: 'string' },
    });
    const trustDomain = requireString(args, 'trust-domain');
    const url = requireString(args, 'url');
    const profile = requireString(args, 'profile');
    checkProfileFlags(profile, args, true);
    const result = await connect(args, io).request<{ relationship: RelationshipJson }>(
      'POST',
      '/v1/admin/relationships',
      { trustDomain, url, profile, ...relationshipBody(args, io) },
    );
    if (flag(args, 'json')) return (printJson(io, result), 0);
    io.stdout(
      `relationship ${result.relationship.trustDomain} created: ${result.relationship.state}\n`,
    );
    return 0;
  },
};

function relationshipBody(args: ParsedArgs, io: CliIo): Record<string, string> {
  const body: Record<string, string> = {};
  const id = optionalString(args, 'endpoint-spiffe-id');
  if (id !== undefined) body['endpointSpiffeId'] = id;
  const bundle = optionalString(args, 'bundle');
  if (bundle !== undefined) body['bootstrapBundle'] = readFile(io, bundle);
  const ca = optionalString(args, 'ca-file');
  if (ca !== undefined) body['caPem'] = readFile(io, ca);
  const reason = optionalString(args, 'reason');
  if (reason !== undefined) body['reason'] = reason;
  return body;
}

const updateCommand: CommandSpec = {
  words: ['federation', 'update'],
  usage:
    'fedbroker federation update TD [--url URL] [--profile P] [--endpoint-spiffe-id ID] [--bundle FILE] [--ca-file FILE] [--reason TEXT] [--config FILE] [--json]',
  summary:
    'change how a partner is reached; state, history and the stored bundle are kept, the next fetch uses the change',
  flags: RELATIONSHIP_FLAGS,
  example:
    'fedbroker federation update shipping.example --url https://bundle.shipping.example/ --reason "partner moved" --config /etc/fedbroker/broker.yaml',
  async run(argv, io) {
    const args = parseCommandArgs(
      argv,
      {
        ...CONFIG_OPTION,
        url: { type: 'string' },
        profile: { type: 'string' },
        'endpoint-spiffe-id': { type: 'string' },
        bundle: { type: 'string' },
        'ca-file': { type: 'string' },
        reason: { type: 'string' },
      },
      1,
    );
    const td = requirePositional(args, 0, 'TD');
    const url = optionalString(args, 'url');
    const profile = optionalString(args, 'profile');
    if (profile !== undefined) checkProfileFlags(profile, args, false);
    const body = {
      ...(url === undefined ? {} : { url }),
      ...(profile === undefined ? {} : { profile }),
      ...relationshipBody(args, io),
    };
    if (Object.keys(body).filter((k) => k !== 'reason').length === 0) {
      throw new CliError(
        'ERR_CLI_USAGE',
        'nothing to change: give --url, --profile, --endpoint-spiffe-id, --bundle or --ca-file',
      );
    }
    const result = await connect(args, io).request<{ relationship: RelationshipJson }>(
      'PATCH',
      `/v1/admin/relationships/${encodeTd(td)}`,
      body,
    );
    if (flag(args, 'json')) return (printJson(io, result), 0);
    io.stdout(
      `relationship ${td} updated: ${result.relationship.url} (${result.relationship.profile}), ${result.relationship.state}\n`,
    );
    return 0;
  },
};

const listCommand: CommandSpec = {
  words: ['federation', 'list'],
  usage:
    'fedbroker federation list [--state pending|active|suspended|rejected] [--config FILE] [--json]',
  summary: 'relationships with state, staleness, failures and refresh health',
  flags: { state: 'only relationships in this state' },
  example: 'fedbroker federation list --state active --config /etc/fedbroker/broker.yaml',
  async run(argv, io) {
    const args = parseCommandArgs(argv, { ...CONFIG_OPTION, state: { type: 'string' } });
    const state = optionalString(args, 'state');
    if (state !== undefined && !(STATES as readonly string[]).includes(state)) {
      throw new CliError('ERR_CLI_USAGE', `--state "${state}" is not one of ${STATES.join(', ')}`);
    }
    const result = await connect(args, io).request<{ relationships: RelationshipJson[] }>(
      'GET',
      '/v1/admin/relationships',
    );
    const relationships = result.relationships.filter(
      (r) => state === undefined || r.state === state,
    );
    if (flag(args, 'json')) return (printJson(io, { relationships }), 0);
    printTable(io, RELATIONSHIP_COLUMNS, relationshipRows(relationships));
    return 0;
  },
};

const showCommand: CommandSpec = {
  words: ['federation', 'show'],
  usage: 'fedbroker federation show TD [--config FILE] [--json]',
  summary: 'one relationship: parameters, refresh status and every transition (who, when, why)',
  flags: {},
  example: 'fedbroker federation show shipping.example --config /etc/fedbroker/broker.yaml',
  async run(argv, io) {
    const args = parseCommandArgs(argv, CONFIG_OPTION, 1);
    const td = requirePositional(args, 0, 'TD');
    const result = await connect(args, io).request<{ relationship: RelationshipJson }>(
      'GET',
      `/v1/admin/relationships/${encodeTd(td)}`,
    );
    if (flag(args, 'json')) return (printJson(io, result), 0);
    const r = result.relationship;
    printFields(io, [
      ['trust domain', r.trustDomain],
      ['state', r.state + (r.status.stale ? ' (stale: no refresh for 3 intervals)' : '')],
      ['url', r.url],
      ['profile', r.profile],
      ['endpoint id', r.endpointSpiffeId ?? '-'],
      ['sequence', r.status.sequence ?? '-'],
      ['last success', when(r.status.lastSuccessAtMs)],
      [
        'last error',
        r.status.lastError === null
          ? '-'
          : `${r.status.lastError.code}: ${r.status.lastError.message}`,
      ],
      ['failures', String(r.status.consecutiveFailures)],
      ['next refresh', when(r.status.nextRefreshAtMs)],
      ['earliest expiry', when(r.status.earliestAuthorityExpiryMs)],
    ]);
    io.stdout('transitions:\n');
    printTable(
      io,
      ['when', 'action', 'from', 'to', 'who', 'why'],
      r.transitions.map((t) => [t.at, t.action, t.from ?? '-', t.to, t.actor, t.reason || '-']),
    );
    return 0;
  },
};

const TRANSITIONS = ['approve', 'reject', 'suspend', 'resume'] as const;

const transitionCommands = TRANSITIONS.map((action): CommandSpec => ({
  words: ['federation', action],
  usage: `fedbroker federation ${action} TD [--reason TEXT] [--config FILE] [--json]`,
  summary: `${action} a relationship (recorded with who, when and why)`,
  flags: { reason: RELATIONSHIP_FLAGS.reason },
  example: `fedbroker federation ${action} shipping.example --reason "contract 2026-114" --config /etc/fedbroker/broker.yaml`,
  async run(argv, io) {
    const args = parseCommandArgs(argv, { ...CONFIG_OPTION, reason: { type: 'string' } }, 1);
    const td = requirePositional(args, 0, 'TD');
    const reason = optionalString(args, 'reason');
    const result = await connect(args, io).request<{ relationship: RelationshipJson }>(
      'POST',
      `/v1/admin/relationships/${encodeTd(td)}/${action}`,
      reason === undefined ? {} : { reason },
    );
    if (flag(args, 'json')) return (printJson(io, result), 0);
    io.stdout(`relationship ${td}: ${result.relationship.state}\n`);
    return 0;
  },
}));

const deleteCommand: CommandSpec = {
  words: ['federation', 'delete'],
  usage: 'fedbroker federation delete TD [--reason TEXT] [--yes] [--config FILE] [--json]',
  summary:
    'end a relationship: its bundle is removed and agents stop trusting it (FED-60); asks first on a terminal',
  flags: {
    reason: RELATIONSHIP_FLAGS.reason,
    yes: 'do not ask for confirmation (scripts)',
  },
  example:
    'fedbroker federation delete shipping.example --reason "contract ended" --yes --config /etc/fedbroker/broker.yaml',
  async run(argv, io) {
    const args = parseCommandArgs(
      argv,
      { ...CONFIG_OPTION, reason: { type: 'string' }, yes: { type: 'boolean' } },
      1,
    );
    const td = requirePositional(args, 0, 'TD');
    const client = connect(args, io);
    if (!flag(args, 'yes') && io.confirm !== undefined) {
      const ok = await io.confirm(
        `delete the relationship with ${td} and its bundle? agents stop trusting it [y/N] `,
      );
      if (!ok) throw new CliError('ERR_CLI_NOT_CONFIRMED', `not deleted; answer y, or pass --yes`);
    }
    const reason = optionalString(args, 'reason');
    const query = reason === undefined ? '' : `?${new URLSearchParams({ reason }).toString()}`;
    await client.request('DELETE', `/v1/admin/relationships/${encodeTd(td)}${query}`);
    if (flag(args, 'json')) return (printJson(io, { deleted: td }), 0);
    io.stdout(`relationship ${td} deleted\n`);
    return 0;
  },
};

const refreshCommand: CommandSpec = {
  words: ['federation', 'refresh'],
  usage: 'fedbroker federation refresh TD [--config FILE] [--json]',
  summary: "fetch the partner's bundle now",
  flags: {},
  example: 'fedbroker federation refresh shipping.example --config /etc/fedbroker/broker.yaml',
  async run(argv, io) {
    const args = parseCommandArgs(argv, CONFIG_OPTION, 1);
    const td = requirePositional(args, 0, 'TD');
    const result = await connect(args, io).request<{
      ok: boolean;
      outcome: string | null;
      sequence: string | null;
      error: { code: string; message: string } | null;
    }>('POST', `/v1/admin/relationships/${encodeTd(td)}/refresh`);
    if (flag(args, 'json')) {
      printJson(io, result);
    } else if (result.ok) {
      io.stdout(`refreshed ${td}: ${result.outcome ?? '-'} (sequence ${result.sequence ?? '-'})\n`);
    } else {
      io.stderr(
        `error ${result.error?.code ?? 'ERR_FEDERATION_FETCH_NETWORK'}: ${result.error?.message ?? 'refresh failed'}\n`,
      );
    }
    return result.ok ? 0 : 1;
  },
};

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
    const invite = await connect(args, io).request<{
      trustDomain: string;
      bundleSha256: string;
      expiresAt: string;
    }>('POST', '/v1/admin/invites', ttlSeconds === undefined ? {} : { ttlSeconds });
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
    let result: { relationship: RelationshipJson; bundleSha256: string };
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
    .request<{ relationship: RelationshipJson }>('GET', `/v1/admin/relationships/${encodeTd(td)}`)
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

const bundleSetCommand: CommandSpec = {
  words: ['bundle', 'set'],
  usage: 'fedbroker bundle set TD FILE [--reason TEXT] [--config FILE] [--json]',
  summary:
    'replace the partner bundle we hold for TD by hand (FED-33: the rollback check is bypassed; audited)',
  flags: { reason: RELATIONSHIP_FLAGS.reason },
  example:
    'fedbroker bundle set shipping.example shipping-bundle.json --reason "partner re-keyed" --config /etc/fedbroker/broker.yaml',
  async run(argv, io) {
    const args = parseCommandArgs(argv, { ...CONFIG_OPTION, reason: { type: 'string' } }, 2);
    const td = requirePositional(args, 0, 'TD');
    const bundle = readFile(io, requirePositional(args, 1, 'FILE'));
    const reason = optionalString(args, 'reason');
    const result = await connect(args, io).request<{
      outcome: string;
      sequence: string | null;
      digest: string;
    }>('PUT', `/v1/admin/relationships/${encodeTd(td)}/bundle`, {
      bundle,
      ...(reason === undefined ? {} : { reason }),
    });
    if (flag(args, 'json')) return (printJson(io, result), 0);
    io.stdout(
      `bundle for ${td} ${result.outcome}: sequence ${result.sequence ?? '-'}, sha256 ${result.digest}\n`,
    );
    return 0;
  },
};

export const federationCommands: readonly CommandSpec[] = [
  createCommand,
  updateCommand,
  listCommand,
  showCommand,
  ...transitionCommands,
  deleteCommand,
  refreshCommand,
  inviteCommand,
  acceptCommand,
  bundleSetCommand,
];
