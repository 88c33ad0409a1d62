// `fedbroker federation ...` relationship commands and `bundle set`: the partner side of the admin
// API (invitations are in invite.ts).
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type {
  ForceBundleResponse,
  OneRelationshipResponse,
  RefreshResponse,
  RelationshipJson,
  RelationshipListResponse,
} from '../../api/index.js';
import { CliError } from '../../errors.js';
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
import { CONFIG_OPTION, connect } from './common.js';

export const encodeTd = (td: string): string => encodeURIComponent(td);
const STATES = ['pending', 'active', 'suspended', 'rejected'] as const;

/** Two-person rule: `1 of 2 (admin:alice: "reason")`. */
const approvalsLine = (r: RelationshipJson): string =>
  r.approvals === undefined
    ? '-'
    : `${r.approvals.count} of ${r.approvals.required}` +
      (r.approvals.by.length === 0
        ? ''
        : ` (${r.approvals.by.map((a) => `${a.actor}: ${JSON.stringify(a.reason)}`).join(', ')})`);

export const when = (ms: number | null | undefined): string =>
  ms === null || ms === undefined ? '-' : new Date(ms).toISOString();

export function readFile(io: CliIo, file: string): string {
  try {
    return readFileSync(resolve(io.cwd, file), 'utf8');
  } catch (cause) {
    throw new CliError('ERR_CLI_FILE', `cannot read "${file}"`, { cause });
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

export const RELATIONSHIP_FLAGS = {
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
    const result = await connect(args, io).request<OneRelationshipResponse>(
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
    const result = await connect(args, io).request<OneRelationshipResponse>(
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
    const result = await connect(args, io).request<RelationshipListResponse>(
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
    const result = await connect(args, io).request<OneRelationshipResponse>(
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
      ['approvals', approvalsLine(r)],
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
    const result = await connect(args, io).request<OneRelationshipResponse>(
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
    const result = await connect(args, io).request<RefreshResponse>(
      'POST',
      `/v1/admin/relationships/${encodeTd(td)}/refresh`,
    );
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
    const result = await connect(args, io).request<ForceBundleResponse>(
      'PUT',
      `/v1/admin/relationships/${encodeTd(td)}/bundle`,
      {
        bundle,
        ...(reason === undefined ? {} : { reason }),
      },
    );
    if (flag(args, 'json')) return (printJson(io, result), 0);
    io.stdout(
      `bundle for ${td} ${result.outcome}: sequence ${result.sequence ?? '-'}, sha256 ${result.digest}\n`,
    );
    if (result.state === 'pending') {
      io.stdout(`relationship ${td} is pending: trusted once the required admins approved\n`);
    }
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
  bundleSetCommand,
];
