// Commands that talk to a running broker's admin API (address and token from --config FILE).
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CliError } from '../../errors.js';
import { parseSpiffeId } from '../../spiffeid/index.js';
import {
  flag,
  optionalString,
  parseCommandArgs,
  requirePositional,
  requireString,
  stringList,
} from '../args.js';
import { createCsrDer, csrPem } from '../../agent/index.js';
import type { AdminClient } from '../client.js';
import type { CommandSpec } from '../io.js';
import { CONFIG_OPTION, connect, deleteCommand, durationOption } from './common.js';
import { printFields, printJson, printTable } from '../output.js';

const encodeTd = (td: string): string => encodeURIComponent(td);

interface RelationshipJson {
  trustDomain: string;
  url: string;
  profile: string;
  state: string;
  approvals?: { count: number; required: number; by: { actor: string; reason: string }[] };
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

/** Two-person rule: `1 of 2 (admin:alice: "reason")`. */
const approvalsLine = (r: RelationshipJson): string =>
  r.approvals === undefined
    ? '-'
    : `${r.approvals.count} of ${r.approvals.required}` +
      (r.approvals.by.length === 0
        ? ''
        : ` (${r.approvals.by.map((a) => `${a.actor}: ${JSON.stringify(a.reason)}`).join(', ')})`);

const when = (ms: number | null | undefined): string =>
  ms === null || ms === undefined ? '-' : new Date(ms).toISOString();

function relationshipRows(list: RelationshipJson[]): string[][] {
  return list.map((r) => [
    r.trustDomain,
    r.state + (r.status.stale ? ' (stale)' : ''),
    r.profile,
    r.status.sequence ?? '-',
    when(r.status.lastSuccessAtMs),
    r.status.lastError?.code ?? '-',
    r.url,
  ]);
}

export const bundleShowCommand: CommandSpec = {
  words: ['bundle', 'show'],
  usage: 'fedbroker bundle show [--trust-domain TD] [--format spiffe|pem] [--config FILE]',
  summary: 'print our bundle, or the partner bundle we hold for TD',
  async run(argv, io) {
    const args = parseCommandArgs(argv, {
      ...CONFIG_OPTION,
      'trust-domain': { type: 'string' },
      format: { type: 'string' },
    });
    const format = optionalString(args, 'format') ?? 'spiffe';
    if (format !== 'spiffe' && format !== 'pem')
      throw new CliError('ERR_CLI_USAGE', '--format is spiffe or pem');
    const td = optionalString(args, 'trust-domain');
    const path =
      td === undefined
        ? `/v1/admin/bundle?format=${format}`
        : `/v1/admin/bundles/${encodeTd(td)}?format=${format}`;
    const text = await connect(args, io).text('GET', path);
    io.stdout(text.endsWith('\n') ? text : `${text}\n`);
    return 0;
  },
};

export const bundleListCommand: CommandSpec = {
  words: ['bundle', 'list'],
  usage: 'fedbroker bundle list [--config FILE] [--json]',
  summary: 'list our bundle and every partner bundle held',
  async run(argv, io) {
    const args = parseCommandArgs(argv, CONFIG_OPTION);
    const result = await connect(args, io).request<{ bundles: Record<string, unknown>[] }>(
      'GET',
      '/v1/admin/bundles',
    );
    if (flag(args, 'json')) return (printJson(io, result), 0);
    printTable(
      io,
      ['trust domain', 'own', 'sequence', 'trusted', 'fetched'],
      result.bundles.map((b) => [
        String(b['trustDomain']),
        b['own'] ? 'yes' : 'no',
        String(b['sequence'] ?? '-'),
        b['own'] ? '-' : b['trusted'] ? 'yes' : 'no',
        String(b['fetchedAt'] ?? '-'),
      ]),
    );
    return 0;
  },
};

export const bundleHistoryCommand: CommandSpec = {
  words: ['bundle', 'history'],
  usage: 'fedbroker bundle history TD [--config FILE] [--json]',
  summary: 'stored versions of a partner bundle, newest first',
  async run(argv, io) {
    const args = parseCommandArgs(argv, CONFIG_OPTION, 1);
    const td = requirePositional(args, 0, 'TD');
    const result = await connect(args, io).request<{
      history: {
        sequence: string | null;
        digest: string;
        fetchedAtMs: number;
        sourceUrl: string | null;
      }[];
    }>('GET', `/v1/admin/bundles/${encodeTd(td)}/history`);
    if (flag(args, 'json')) return (printJson(io, result), 0);
    printTable(
      io,
      ['sequence', 'fetched', 'digest', 'source'],
      result.history.map((h) => [
        h.sequence ?? '-',
        when(h.fetchedAtMs),
        h.digest.slice(0, 16),
        h.sourceUrl ?? 'operator',
      ]),
    );
    return 0;
  },
};

export const x509MintCommand: CommandSpec = {
  words: ['x509', 'mint'],
  usage:
    'fedbroker x509 mint --spiffe-id ID [--ttl 1h] [--dns NAME ...] --write DIR [--config FILE]',
  summary:
    'generate a key here, get it signed by the broker; writes svid.pem, svid_key.pem and bundle.pem',
  async run(argv, io) {
    const args = parseCommandArgs(argv, {
      ...CONFIG_OPTION,
      'spiffe-id': { type: 'string' },
      ttl: { type: 'string' },
      dns: { type: 'string', multiple: true },
      write: { type: 'string' },
    });
    const spiffeId = parseSpiffeId(requireString(args, 'spiffe-id')).toString();
    const dir = resolve(io.cwd, requireString(args, 'write'));
    // The private key is generated here and never sent anywhere.
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const csr = csrPem(createCsrDer(privateKey, publicKey));
    const ttlSeconds = durationOption(args, 'ttl');
    const dnsNames = stringList(args, 'dns');
    const result = await connect(args, io).request<{
      spiffeId: string;
      chainPem: string;
      bundlePem: string;
      notAfter: string;
    }>('POST', '/v1/admin/svids/x509', {
      spiffeId,
      csr,
      ...(ttlSeconds === undefined ? {} : { ttlSeconds }),
      ...(dnsNames.length === 0 ? {} : { dnsNames }),
    });
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(join(dir, 'svid.pem'), result.chainPem);
    writeFileSync(join(dir, 'svid_key.pem'), privateKey.export({ format: 'pem', type: 'pkcs8' }), {
      mode: 0o600,
    });
    writeFileSync(join(dir, 'bundle.pem'), result.bundlePem);
    if (flag(args, 'json'))
      return (printJson(io, { spiffeId: result.spiffeId, notAfter: result.notAfter, dir }), 0);
    io.stdout(
      `${result.spiffeId} valid until ${result.notAfter}\nwrote ${join(dir, 'svid.pem')}, svid_key.pem, bundle.pem\n`,
    );
    return 0;
  },
};

export const jwtMintCommand: CommandSpec = {
  words: ['jwt', 'mint'],
  usage:
    'fedbroker jwt mint --spiffe-id ID --audience AUD [--audience AUD] [--ttl 5m] [--config FILE]',
  summary: 'mint a JWT-SVID and print it',
  async run(argv, io) {
    const args = parseCommandArgs(argv, {
      ...CONFIG_OPTION,
      'spiffe-id': { type: 'string' },
      audience: { type: 'string', multiple: true },
      ttl: { type: 'string' },
    });
    const audience = stringList(args, 'audience');
    if (audience.length === 0)
      throw new CliError('ERR_CLI_USAGE', '--audience is required (JWT-5)');
    const ttlSeconds = durationOption(args, 'ttl');
    const result = await connect(args, io).request<{
      token: string;
      expiresAt: string;
      spiffeId: string;
    }>('POST', '/v1/admin/svids/jwt', {
      spiffeId: parseSpiffeId(requireString(args, 'spiffe-id')).toString(),
      audience,
      ...(ttlSeconds === undefined ? {} : { ttlSeconds }),
    });
    if (flag(args, 'json')) return (printJson(io, result), 0);
    io.stdout(`${result.token}\n`);
    return 0;
  },
};

export const localAuthorityCommand: CommandSpec = {
  words: ['localauthority'],
  usage:
    'fedbroker localauthority x509|jwt show|prepare|activate|taint|revoke [--authority-id ID] [--force] [--config FILE] [--json]',
  summary: "show and control our CA's X.509 authorities and JWT keys (rotation by hand)",
  async run(argv, io) {
    const args = parseCommandArgs(
      argv,
      { ...CONFIG_OPTION, 'authority-id': { type: 'string' }, force: { type: 'boolean' } },
      2,
    );
    const kind = requirePositional(args, 0, 'x509|jwt');
    const action = requirePositional(args, 1, 'show|prepare|activate|taint|revoke');
    if (kind !== 'x509' && kind !== 'jwt')
      throw new CliError('ERR_CLI_USAGE', 'kind is x509 or jwt');
    const client = connect(args, io);
    type AuthorityJson = {
      id: string;
      state: string;
      keyType: string;
      notAfter: string;
      publishedAt: string;
      activatedAt: string | null;
    };
    let result: { authorities?: AuthorityJson[]; authority?: AuthorityJson };
    if (action === 'show') {
      result = await client.request('GET', `/v1/admin/authorities?kind=${kind}`);
    } else if (action === 'prepare') {
      result = await client.request('POST', `/v1/admin/authorities/${kind}/prepare`);
    } else if (action === 'activate' || action === 'taint' || action === 'revoke') {
      let id = optionalString(args, 'authority-id');
      if (id === undefined && action === 'activate') {
        const all = await client.request<{ authorities: AuthorityJson[] }>(
          'GET',
          `/v1/admin/authorities?kind=${kind}`,
        );
        id = all.authorities.find((a) => a.state === 'prepared')?.id;
        if (id === undefined)
          throw new CliError(
            'ERR_CLI_USAGE',
            `no prepared ${kind} authority; run prepare first or give --authority-id`,
          );
      }
      if (id === undefined)
        throw new CliError('ERR_CLI_USAGE', `--authority-id is required for ${action}`);
      result = await client.request(
        'POST',
        `/v1/admin/authorities/${kind}/${encodeURIComponent(id)}/${action}`,
        { force: flag(args, 'force') },
      );
    } else {
      throw new CliError('ERR_CLI_USAGE', `unknown action "${action}"`);
    }
    if (flag(args, 'json')) return (printJson(io, result), 0);
    const rows = (
      result.authorities ?? (result.authority === undefined ? [] : [result.authority])
    ).map((a) => [a.id, a.state, a.keyType, a.publishedAt, a.activatedAt ?? '-', a.notAfter]);
    printTable(io, ['id', 'state', 'key', 'published', 'activated', 'not after'], rows);
    return 0;
  },
};

const TRANSITIONS = ['approve', 'reject', 'suspend', 'resume'] as const;

export const federationCommands: CommandSpec[] = [
  {
    words: ['federation', 'create'],
    usage:
      'fedbroker federation create --trust-domain TD --url URL --profile https_web|https_spiffe [--endpoint-spiffe-id ID --bundle FILE] [--ca-file FILE] [--config FILE]',
    summary: 'create a pending relationship (an admin approves it before anything is trusted)',
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
      const read = (name: string): string | undefined => {
        const file = optionalString(args, name);
        if (file === undefined) return undefined;
        try {
          return readFileSync(resolve(io.cwd, file), 'utf8');
        } catch (cause) {
          throw new CliError('ERR_CLI_FILE', `cannot read "${file}"`, { cause });
        }
      };
      const body = {
        trustDomain: requireString(args, 'trust-domain'),
        url: requireString(args, 'url'),
        profile: requireString(args, 'profile'),
        ...(optionalString(args, 'endpoint-spiffe-id') === undefined
          ? {}
          : { endpointSpiffeId: optionalString(args, 'endpoint-spiffe-id') }),
        ...(read('bundle') === undefined ? {} : { bootstrapBundle: read('bundle') }),
        ...(read('ca-file') === undefined ? {} : { caPem: read('ca-file') }),
        ...(optionalString(args, 'reason') === undefined
          ? {}
          : { reason: optionalString(args, 'reason') }),
      };
      const result = await connect(args, io).request<{ relationship: RelationshipJson }>(
        'POST',
        '/v1/admin/relationships',
        body,
      );
      if (flag(args, 'json')) return (printJson(io, result), 0);
      io.stdout(
        `relationship ${result.relationship.trustDomain} created: ${result.relationship.state}\n`,
      );
      return 0;
    },
  },
  {
    words: ['federation', 'list'],
    usage: 'fedbroker federation list [--config FILE] [--json]',
    summary: 'relationships with state and refresh health',
    async run(argv, io) {
      const args = parseCommandArgs(argv, CONFIG_OPTION);
      const result = await connect(args, io).request<{ relationships: RelationshipJson[] }>(
        'GET',
        '/v1/admin/relationships',
      );
      if (flag(args, 'json')) return (printJson(io, result), 0);
      printTable(
        io,
        ['trust domain', 'state', 'profile', 'sequence', 'last success', 'last error', 'url'],
        relationshipRows(result.relationships),
      );
      return 0;
    },
  },
  {
    words: ['federation', 'show'],
    usage: 'fedbroker federation show TD [--config FILE] [--json]',
    summary: 'one relationship: parameters, transitions and refresh status',
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
      return 0;
    },
  },
  ...TRANSITIONS.map((action): CommandSpec => ({
    words: ['federation', action],
    usage: `fedbroker federation ${action} TD [--reason TEXT] [--config FILE] [--json]`,
    summary: `${action} a relationship (recorded with who, when and why)`,
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
  })),
  deleteCommand({
    words: ['federation', 'delete'],
    what: 'TD',
    noun: 'relationship',
    summary: 'end a relationship: its bundle is removed and agents stop trusting it (FED-60)',
    path: (td) => `/v1/admin/relationships/${td}`,
    jsonKey: 'deleted',
    done: 'deleted',
  }),
  {
    words: ['federation', 'refresh'],
    usage: 'fedbroker federation refresh TD [--config FILE] [--json]',
    summary: "fetch the partner's bundle now",
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
        io.stdout(
          `refreshed ${td}: ${result.outcome ?? '-'} (sequence ${result.sequence ?? '-'})\n`,
        );
      } else {
        io.stderr(
          `error ${result.error?.code ?? 'ERR_FEDERATION_FETCH_NETWORK'}: ${result.error?.message ?? 'refresh failed'}\n`,
        );
      }
      return result.ok ? 0 : 1;
    },
  },
];

export const inviteCommands: CommandSpec[] = [
  {
    words: ['federation', 'invite'],
    usage: 'fedbroker federation invite [--out FILE] [--ttl 1h] [--config FILE]',
    summary:
      'write a signed, expiring invitation with our endpoint and bundle for a partner to accept',
    async run(argv, io) {
      const args = parseCommandArgs(argv, {
        ...CONFIG_OPTION,
        out: { type: 'string' },
        ttl: { type: 'string' },
      });
      const ttlSeconds = durationOption(args, 'ttl');
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
          `bundle sha256 ${invite.bundleSha256} (read it to the partner over another channel)\n`,
      );
      return 0;
    },
  },
  {
    words: ['federation', 'accept'],
    usage:
      'fedbroker federation accept FILE [--ca-file FILE] [--reason TEXT] [--config FILE] [--json]',
    summary:
      "check a partner's invitation and create a pending relationship from it (approve it next)",
    async run(argv, io) {
      const args = parseCommandArgs(
        argv,
        { ...CONFIG_OPTION, reason: { type: 'string' }, 'ca-file': { type: 'string' } },
        1,
      );
      const read = (file: string): string => {
        try {
          return readFileSync(resolve(io.cwd, file), 'utf8');
        } catch (cause) {
          throw new CliError('ERR_CLI_FILE', `cannot read "${file}"`, { cause });
        }
      };
      const invite = read(requirePositional(args, 0, 'FILE'));
      const caFile = optionalString(args, 'ca-file');
      const reason = optionalString(args, 'reason');
      const result = await connect(args, io).request<{
        relationship: RelationshipJson;
        bundleSha256: string;
      }>('POST', '/v1/admin/invites/accept', {
        invite,
        ...(caFile === undefined ? {} : { caPem: read(caFile) }),
        ...(reason === undefined ? {} : { reason }),
      });
      if (flag(args, 'json')) return (printJson(io, result), 0);
      io.stdout(
        `relationship ${result.relationship.trustDomain} created: ${result.relationship.state}\n` +
          `bundle sha256 ${result.bundleSha256}: compare it with the partner, then run\n` +
          `  fedbroker federation approve ${result.relationship.trustDomain}\n`,
      );
      return 0;
    },
  },
];

export const auditCommands: CommandSpec[] = [
  {
    words: ['audit', 'list'],
    usage:
      'fedbroker audit list [--type T] [--actor A] [--trust-domain TD] [--since ISO] [--limit N] [--config FILE] [--json]',
    summary: 'audit events, oldest first',
    async run(argv, io) {
      const args = parseCommandArgs(argv, {
        ...CONFIG_OPTION,
        type: { type: 'string' },
        actor: { type: 'string' },
        'trust-domain': { type: 'string' },
        since: { type: 'string' },
        limit: { type: 'string' },
      });
      const query = new URLSearchParams();
      for (const [option, param] of [
        ['type', 'type'],
        ['actor', 'actor'],
        ['trust-domain', 'trustDomain'],
        ['since', 'since'],
        ['limit', 'limit'],
      ] as const) {
        const value = optionalString(args, option);
        if (value !== undefined) query.set(param, value);
      }
      const result = await connect(args, io).request<{
        events: {
          id: number;
          time: number;
          type: string;
          actor: string;
          trustDomain: string | null;
          data: unknown;
        }[];
      }>('GET', `/v1/admin/audit?${query.toString()}`);
      if (flag(args, 'json')) return (printJson(io, result), 0);
      printTable(
        io,
        ['id', 'time', 'type', 'actor', 'trust domain', 'details'],
        result.events.map((e) => [
          String(e.id),
          when(e.time),
          e.type,
          e.actor,
          e.trustDomain ?? '-',
          JSON.stringify(e.data),
        ]),
      );
      return 0;
    },
  },
  {
    words: ['audit', 'verify'],
    usage: 'fedbroker audit verify [--anchor ID:HASH] [--config FILE] [--json]',
    summary:
      'check the audit hash chain; names the first event that was edited, removed or reordered; --anchor (a head printed earlier) also catches the newest events removed or rewritten',
    async run(argv, io) {
      const args = parseCommandArgs(argv, { ...CONFIG_OPTION, anchor: { type: 'string' } });
      const client = connect(args, io);
      const anchor = optionalString(args, 'anchor');
      const response = await fetchVerify(client, anchor);
      if (flag(args, 'json')) printJson(io, response);
      if (response.ok) {
        if (!flag(args, 'json')) {
          // The head in the form --anchor takes, to keep somewhere the broker cannot write.
          const head =
            response.head === undefined ? '' : `, head ${response.head.id}:${response.head.hash}`;
          const anchored =
            response.anchor === undefined ? '' : `, anchor ${response.anchor.id} matches`;
          // Eviction is never silent: what the stored audit.trimmed events say was dropped.
          const trimmed =
            response.trimmed === undefined
              ? ''
              : `, ${response.trimmed.events} older events trimmed (through ${response.trimmed.throughId}, ${response.trimmed.trims} audit.trimmed events)`;
          io.stdout(`audit chain intact: ${response.checked} events${head}${anchored}${trimmed}\n`);
        }
        return 0;
      }
      io.stderr(
        `error ERR_AUDIT_CHAIN_BROKEN: audit chain broken at event ${response.brokenAt?.id ?? '?'}: ${response.brokenAt?.reason ?? ''}\n`,
      );
      return 1;
    },
  },
];

async function fetchVerify(
  client: AdminClient,
  anchor: string | undefined,
): Promise<{
  ok: boolean;
  checked: number;
  brokenAt?: { id: number; reason: string };
  head?: { id: number; hash: string };
  anchor?: { id: number; hash: string };
  trimmed?: { trims: number; events: number; throughId: number };
}> {
  const query = anchor === undefined ? '' : `?${new URLSearchParams({ anchor }).toString()}`;
  return client.request('GET', `/v1/admin/audit/verify${query}`);
}
