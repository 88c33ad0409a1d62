// Commands that talk to a running broker's admin API (address and token from --config FILE).
import { generateKeyPairSync } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type {
  AuditVerificationResponse,
  AuthorityListResponse,
  BundleHistoryResponse,
  BundleListResponse,
  JwtSvidResponse,
  OneAuthorityResponse,
  X509SvidResponse,
} from '../../api/index.js';
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
import { createCsrDer, csrPem, writeSvidFiles } from '../../agent/index.js';
import {
  Bundle,
  BundleSet,
  parsePemAuthorities,
  parsePemCertificates,
} from '../../bundle/index.js';
import type { AdminClient } from '../client.js';
import type { CommandSpec } from '../io.js';
import { auditListCommand } from './audit-list.js';
import { CONFIG_OPTION, connect, durationOption } from './common.js';
import { printJson, printTable } from '../output.js';

const encodeTd = (td: string): string => encodeURIComponent(td);

const when = (ms: number | null | undefined): string =>
  ms === null || ms === undefined ? '-' : new Date(ms).toISOString();

export const bundleShowCommand: CommandSpec = {
  words: ['bundle', 'show'],
  usage: 'fedbroker bundle show [--trust-domain TD] [--format spiffe|pem] [--config FILE]',
  summary: 'print our bundle, or the partner bundle we hold for TD',
  flags: {
    'trust-domain': 'a partner trust domain (default: our own bundle)',
    format: 'spiffe (SPIFFE bundle JSON, default) or pem (X.509 authorities only)',
  },
  example: 'fedbroker bundle show --format pem --config /etc/fedbroker/broker.yaml',
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
  flags: {},
  example: 'fedbroker bundle list --config /etc/fedbroker/broker.yaml',
  async run(argv, io) {
    const args = parseCommandArgs(argv, CONFIG_OPTION);
    const result = await connect(args, io).request<BundleListResponse>('GET', '/v1/admin/bundles');
    if (flag(args, 'json')) return (printJson(io, result), 0);
    printTable(
      io,
      ['trust domain', 'own', 'sequence', 'trusted', 'fetched'],
      result.bundles.map((b) => [
        b.trustDomain,
        b.own ? 'yes' : 'no',
        b.sequence ?? '-',
        b.own ? '-' : b.trusted ? 'yes' : 'no',
        b.own ? '-' : b.fetchedAt,
      ]),
    );
    return 0;
  },
};

export const bundleHistoryCommand: CommandSpec = {
  words: ['bundle', 'history'],
  usage: 'fedbroker bundle history TD [--config FILE] [--json]',
  summary: 'stored versions of a partner bundle, newest first',
  flags: {},
  example: 'fedbroker bundle history shipping.example --config /etc/fedbroker/broker.yaml',
  async run(argv, io) {
    const args = parseCommandArgs(argv, CONFIG_OPTION, 1);
    const td = requirePositional(args, 0, 'TD');
    const result = await connect(args, io).request<BundleHistoryResponse>(
      'GET',
      `/v1/admin/bundles/${encodeTd(td)}/history`,
    );
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
  flags: {
    'spiffe-id': 'the SPIFFE ID to put in the certificate (in our trust domain)',
    ttl: 'lifetime (default ca.x509SvidTtl, at most ca.maxX509SvidTtl)',
    dns: 'a DNS name to add as a SAN (repeat for more)',
    write:
      'directory to write svid.pem, svid_key.pem (0600) and bundle.pem into (as agent run --write: links into one version directory, swapped whole)',
  },
  example:
    'fedbroker x509 mint --spiffe-id spiffe://logistics.example/billing --write ./svid --config /etc/fedbroker/broker.yaml',
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
    const result = await connect(args, io).request<X509SvidResponse>(
      'POST',
      '/v1/admin/svids/x509',
      {
        spiffeId,
        csr,
        ...(ttlSeconds === undefined ? {} : { ttlSeconds }),
        ...(dnsNames.length === 0 ? {} : { dnsNames }),
      },
    );
    // As `agent run --write` writes them: one version directory swapped in whole, the key 0600 from
    // its creation (a key file left wider by an older writer is replaced, not rewritten in place).
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const trustDomain = parseSpiffeId(result.spiffeId).trustDomain;
    const own = new Bundle({
      trustDomain,
      x509Authorities: parsePemAuthorities(result.bundlePem),
    });
    await writeSvidFiles(dir, {
      chainDer: parsePemCertificates(result.chainPem),
      privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
      bundles: new BundleSet([own]),
      ownTrustDomain: trustDomain,
    });
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
  flags: {
    'spiffe-id': 'the subject SPIFFE ID (in our trust domain)',
    audience: 'an audience (JWT-5; repeat for more)',
    ttl: 'lifetime (default ca.jwtSvidTtl, at most ca.maxJwtSvidTtl)',
  },
  example:
    'fedbroker jwt mint --spiffe-id spiffe://logistics.example/billing --audience shipping --config /etc/fedbroker/broker.yaml',
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
    const result = await connect(args, io).request<JwtSvidResponse>('POST', '/v1/admin/svids/jwt', {
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
  flags: {
    'authority-id': 'the authority to act on (activate defaults to the prepared one)',
    force: 'taint or revoke even when no successor is active (agents may lose their SVIDs)',
  },
  example: 'fedbroker localauthority x509 show --config /etc/fedbroker/broker.yaml',
  async run(argv, io) {
    const args = parseCommandArgs(
      argv,
      { ...CONFIG_OPTION, 'authority-id': { type: 'string' }, force: { type: 'boolean' } },
      2,
    );
    const kind = args.positionals[0];
    if (kind !== 'x509' && kind !== 'jwt') {
      throw new CliError(
        'ERR_CLI_USAGE',
        `${kind === undefined ? 'the authority kind is missing' : `"${kind}" is not an authority kind`}: say x509 or jwt, e.g. fedbroker localauthority x509 show`,
      );
    }
    const action = requirePositional(
      args,
      1,
      `the action (show, prepare, activate, taint or revoke, e.g. fedbroker localauthority ${kind} show)`,
    );
    const client = connect(args, io);
    let result: Partial<AuthorityListResponse & OneAuthorityResponse>;
    if (action === 'show') {
      result = await client.request('GET', `/v1/admin/authorities?kind=${kind}`);
    } else if (action === 'prepare') {
      result = await client.request('POST', `/v1/admin/authorities/${kind}/prepare`);
    } else if (action === 'activate' || action === 'taint' || action === 'revoke') {
      let id = optionalString(args, 'authority-id');
      if (id === undefined && action === 'activate') {
        const all = await client.request<AuthorityListResponse>(
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
      throw new CliError(
        'ERR_CLI_USAGE',
        `unknown action "${action}": use show, prepare, activate, taint or revoke`,
      );
    }
    if (flag(args, 'json')) return (printJson(io, result), 0);
    const rows = (
      result.authorities ?? (result.authority === undefined ? [] : [result.authority])
    ).map((a) => [a.id, a.state, a.keyType, a.publishedAt, a.activatedAt ?? '-', a.notAfter]);
    printTable(io, ['id', 'state', 'key', 'published', 'activated', 'not after'], rows);
    return 0;
  },
};

export const auditCommands: readonly CommandSpec[] = [
  auditListCommand,
  {
    words: ['audit', 'verify'],
    usage: 'fedbroker audit verify [--anchor ID:HASH] [--config FILE] [--json]',
    summary:
      'check the audit hash chain; names the first event that was edited, removed or reordered; --anchor (a head printed earlier) also catches the newest events removed or rewritten',
    flags: {
      anchor: 'ID:HASH, a head printed by an earlier verify, kept where the broker cannot write',
    },
    example: 'fedbroker audit verify --anchor 42:9f2c... --config /etc/fedbroker/broker.yaml',
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
): Promise<AuditVerificationResponse> {
  const query = anchor === undefined ? '' : `?${new URLSearchParams({ anchor }).toString()}`;
  return client.request('GET', `/v1/admin/audit/verify${query}`);
}
