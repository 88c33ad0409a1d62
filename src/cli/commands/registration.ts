// Registration commands: entries (create, list, show, update, delete) and join tokens (generate, list,
// revoke), through the admin API.
import type {
  CreatedTokenResponse,
  EntryJson,
  EntryListResponse,
  OneEntryResponse,
  TokenListResponse,
  UpdatedEntryResponse,
} from '../../api/index.js';
import {
  flag,
  optionalString,
  parseCommandArgs,
  requirePositional,
  requireString,
  stringList,
  type ParsedArgs,
} from '../args.js';
import { CliError } from '../../errors.js';
import type { CommandSpec } from '../io.js';
import { CONFIG_OPTION, connect, deleteCommand, durationOption } from './common.js';
import { printFields, printJson, printTable } from '../output.js';

const BASE = CONFIG_OPTION;

/** node (enrols node agents), workload (served by its parent node) or agent (join token). */
function roleOf(entry: EntryJson): string {
  if (entry.node === true) return 'node';
  return entry.parentId === undefined || entry.parentId === null ? 'agent' : 'workload';
}

function entryFields(entry: EntryJson): [string, string][] {
  return [
    ['id', entry.id],
    ['spiffe id', entry.spiffeId],
    ['kind', entry.kind],
    ['role', roleOf(entry)],
    ['parent id', entry.parentId ?? '-'],
    ['selectors', (entry.selectors ?? []).join(', ') || '-'],
    ['federates with', entry.federatesWith.join(', ') || '-'],
    ['max ttl', entry.ttlSeconds === null ? 'CA default' : `${entry.ttlSeconds}s`],
    ['dns names', entry.dnsNames.join(', ') || '-'],
    ['description', entry.description || '-'],
    ['created', `${entry.createdAt} by ${entry.createdBy}`],
  ];
}

/** A flag and its --clear-* opposite together make no sense. */
function exclusive(args: ParsedArgs, set: boolean, clear: string, other: string): boolean {
  const cleared = flag(args, clear);
  if (cleared && set) {
    throw new CliError('ERR_CLI_USAGE', `--${clear} and --${other} cannot be used together`);
  }
  return cleared;
}

/** The PATCH body of `entry update`: only what was given; at least one change. */
function updateBody(args: ParsedArgs): Record<string, unknown> {
  const partners = stringList(args, 'federates-with');
  const dnsNames = [...stringList(args, 'dns-name'), ...stringList(args, 'dns')];
  const selectors = stringList(args, 'selector');
  const ttl = durationOption(args, 'ttl');
  const description = optionalString(args, 'description');
  const clearPartners = exclusive(
    args,
    partners.length > 0,
    'clear-federates-with',
    'federates-with',
  );
  const clearTtl = exclusive(args, ttl !== undefined, 'clear-ttl', 'ttl');
  const clearDns = exclusive(args, dnsNames.length > 0, 'clear-dns-names', 'dns-name');
  const body: Record<string, unknown> = {
    ...(partners.length > 0 || clearPartners ? { federatesWith: partners } : {}),
    ...(ttl !== undefined ? { ttlSeconds: ttl } : clearTtl ? { ttlSeconds: null } : {}),
    ...(dnsNames.length > 0 || clearDns ? { dnsNames } : {}),
    ...(description === undefined ? {} : { description }),
    ...(selectors.length > 0 ? { selectors } : {}),
  };
  if (Object.keys(body).length === 0) {
    throw new CliError(
      'ERR_CLI_USAGE',
      'entry update: nothing to change; give --federates-with, --clear-federates-with, --ttl, --clear-ttl, --dns-name, --clear-dns-names, --description or --selector',
    );
  }
  return body;
}

export const registrationCommands: CommandSpec[] = [
  {
    words: ['entry', 'create'],
    usage:
      'fedbroker entry create --spiffe-id ID|TEMPLATE [--node] [--parent-id NODE_ID|NODE_TEMPLATE --selector TYPE:VALUE ...] [--federates-with TD ...] [--ttl DURATION] [--dns-name NAME ...] [--description TEXT] [--config FILE] [--json]',
    summary:
      'register agents, node agents (--node) or workloads of a node (--parent-id, --selector unix:uid:1000 ...): a fixed SPIFFE ID or a template with {instance}',
    flags: {
      'spiffe-id': 'a SPIFFE ID in our trust domain, or a template with {instance}',
      'federates-with': 'a partner trust domain whose bundle these agents get (repeat for more)',
      ttl: 'maximum X509-SVID lifetime for these agents (default: the CA default)',
      'dns-name': 'a DNS name to add to their X509-SVIDs (repeat for more)',
      description: 'free text shown by entry list',
      node: 'register a node agent (fedbroker agent serve on a host) instead of an agent',
      'parent-id': 'a workload entry: the node entry id or node template its node agent has',
      selector:
        'a workload entry: TYPE:VALUE the kernel reports for the workload, e.g. unix:uid:1000 (repeat for more)',
    },
    example:
      "fedbroker entry create --spiffe-id 'spiffe://logistics.example/planner/{instance}' --federates-with shipping.example --config /etc/fedbroker/broker.yaml",
    async run(argv, io) {
      const args = parseCommandArgs(argv, {
        ...BASE,
        'spiffe-id': { type: 'string' },
        'federates-with': { type: 'string', multiple: true },
        ttl: { type: 'string' },
        'dns-name': { type: 'string', multiple: true },
        description: { type: 'string' },
        node: { type: 'boolean' },
        'parent-id': { type: 'string' },
        selector: { type: 'string', multiple: true },
      });
      const ttl = durationOption(args, 'ttl');
      const parentId = optionalString(args, 'parent-id');
      const selectors = stringList(args, 'selector');
      const description = optionalString(args, 'description');
      const { entry } = await connect(args, io).request<OneEntryResponse>(
        'POST',
        '/v1/admin/entries',
        {
          spiffeId: requireString(args, 'spiffe-id'),
          federatesWith: stringList(args, 'federates-with'),
          dnsNames: stringList(args, 'dns-name'),
          ...(ttl === undefined ? {} : { ttlSeconds: ttl }),
          ...(description === undefined ? {} : { description }),
          ...(flag(args, 'node') ? { node: true } : {}),
          ...(parentId === undefined ? {} : { parentId }),
          ...(selectors.length === 0 ? {} : { selectors }),
        },
      );
      if (flag(args, 'json')) return (printJson(io, { entry }), 0);
      printFields(io, entryFields(entry));
      return 0;
    },
  },
  {
    words: ['entry', 'list'],
    usage: 'fedbroker entry list [--config FILE] [--json]',
    summary: 'registration entries',
    flags: {},
    example: 'fedbroker entry list --config /etc/fedbroker/broker.yaml',
    async run(argv, io) {
      const args = parseCommandArgs(argv, BASE);
      const result = await connect(args, io).request<EntryListResponse>('GET', '/v1/admin/entries');
      if (flag(args, 'json')) return (printJson(io, result), 0);
      printTable(
        io,
        ['id', 'spiffe id', 'role', 'parent id', 'selectors', 'federates with', 'max ttl'],
        result.entries.map((e) => [
          e.id,
          e.spiffeId,
          roleOf(e),
          e.parentId ?? '-',
          (e.selectors ?? []).join(',') || '-',
          e.federatesWith.join(',') || '-',
          e.ttlSeconds === null ? '-' : `${e.ttlSeconds}s`,
        ]),
      );
      return 0;
    },
  },
  {
    words: ['entry', 'show'],
    usage: 'fedbroker entry show ID [--config FILE] [--json]',
    summary: 'one registration entry',
    flags: {},
    example: 'fedbroker entry show e_3f2a... --config /etc/fedbroker/broker.yaml',
    async run(argv, io) {
      const args = parseCommandArgs(argv, BASE, 1);
      const id = requirePositional(args, 0, 'ID');
      const { entry } = await connect(args, io).request<OneEntryResponse>(
        'GET',
        `/v1/admin/entries/${encodeURIComponent(id)}`,
      );
      if (flag(args, 'json')) return (printJson(io, { entry }), 0);
      printFields(io, entryFields(entry));
      return 0;
    },
  },
  {
    words: ['entry', 'update'],
    usage:
      'fedbroker entry update ID [--federates-with TD ... | --clear-federates-with] [--ttl DURATION | --clear-ttl] [--dns-name NAME ... | --clear-dns-names] [--description TEXT] [--selector TYPE:VALUE ...] [--config FILE] [--json]',
    summary:
      'change an entry in place (partners, ttl, DNS names, description, workload selectors); its SPIFFE ID, --node and --parent-id cannot change: delete and re-create',
    flags: {
      'federates-with':
        'replaces the partner trust domains these agents get bundles of (repeat for more)',
      'clear-federates-with': 'no partner bundles any more',
      ttl: 'new maximum X509-SVID lifetime',
      'clear-ttl': 'back to the CA default X509-SVID lifetime',
      'dns-name': 'replaces the DNS names in their X509-SVIDs (repeat for more; --dns also works)',
      'clear-dns-names': 'no DNS names any more',
      description: 'new free text shown by entry list',
      selector: 'workload entries: replaces the selectors, TYPE:VALUE (repeat for more)',
    },
    example:
      'fedbroker entry update e_3f2a... --federates-with shipping.example --federates-with transit.example --config /etc/fedbroker/broker.yaml',
    async run(argv, io) {
      const args = parseCommandArgs(
        argv,
        {
          ...BASE,
          'federates-with': { type: 'string', multiple: true },
          'clear-federates-with': { type: 'boolean' },
          ttl: { type: 'string' },
          'clear-ttl': { type: 'boolean' },
          'dns-name': { type: 'string', multiple: true },
          dns: { type: 'string', multiple: true },
          'clear-dns-names': { type: 'boolean' },
          description: { type: 'string' },
          selector: { type: 'string', multiple: true },
        },
        1,
      );
      const id = requirePositional(args, 0, 'ID');
      const body = updateBody(args);
      const result = await connect(args, io).request<UpdatedEntryResponse>(
        'PATCH',
        `/v1/admin/entries/${encodeURIComponent(id)}`,
        body,
      );
      if (flag(args, 'json')) return (printJson(io, result), 0);
      printFields(io, [
        ...entryFields(result.entry),
        ['changed', result.changed.join(', ') || 'nothing (already so)'],
      ]);
      return 0;
    },
  },
  deleteCommand({
    words: ['entry', 'delete'],
    what: 'ID',
    noun: 'entry',
    summary: 'delete an entry: its agents can no longer renew, get JWT-SVIDs or bundles',
    path: (id) => `/v1/admin/entries/${id}`,
    jsonKey: 'deleted',
    done: 'deleted',
    example: 'e_3f2a...',
  }),
  {
    words: ['token', 'generate'],
    usage: 'fedbroker token generate --entry ID [--ttl DURATION] [--config FILE] [--json]',
    summary: 'a one-time join token for an entry (default 10m); the secret is printed once',
    flags: {
      entry: 'the registration entry id (entry create prints it)',
      ttl: 'how long the token is valid (default 10m)',
    },
    example: 'fedbroker token generate --entry e_3f2a... --config /etc/fedbroker/broker.yaml',
    async run(argv, io) {
      const args = parseCommandArgs(argv, {
        ...BASE,
        entry: { type: 'string' },
        ttl: { type: 'string' },
      });
      const ttl = durationOption(args, 'ttl');
      const result = await connect(args, io).request<CreatedTokenResponse>(
        'POST',
        '/v1/admin/tokens',
        {
          entryId: requireString(args, 'entry'),
          ...(ttl === undefined ? {} : { ttlSeconds: ttl }),
        },
      );
      if (flag(args, 'json')) return (printJson(io, result), 0);
      printFields(io, [
        ['token', result.token],
        ['token id', result.tokenId],
        ['entry', `${result.entryId} (${result.spiffeId})`],
        ['expires', result.expiresAt],
        ['agent api', result.agentApiUrl],
        ['bundle sha256', result.bundleDigest],
      ]);
      return 0;
    },
  },
  {
    words: ['token', 'list'],
    usage: 'fedbroker token list [--config FILE] [--json]',
    summary: 'unused, unexpired join tokens (ids only, never secrets)',
    flags: {},
    example: 'fedbroker token list --config /etc/fedbroker/broker.yaml',
    async run(argv, io) {
      const args = parseCommandArgs(argv, BASE);
      const result = await connect(args, io).request<TokenListResponse>('GET', '/v1/admin/tokens');
      if (flag(args, 'json')) return (printJson(io, result), 0);
      printTable(
        io,
        ['token id', 'entry', 'expires', 'created by'],
        result.tokens.map((t) => [t.tokenId, t.entryId, t.expiresAt, t.createdBy]),
      );
      return 0;
    },
  },
  deleteCommand({
    words: ['token', 'revoke'],
    what: 'TOKEN_ID',
    noun: 'token',
    summary: 'revoke an unused join token',
    path: (id) => `/v1/admin/tokens/${id}`,
    jsonKey: 'revoked',
    done: 'revoked',
    example: 't_91c0...',
  }),
];
