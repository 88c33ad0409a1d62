// `fedbroker status`: one screen for an operator — identity, public URLs and listeners, store,
// authorities, partners by state (stale and failing named), pending approvals, newest audit events,
// readiness. Text or --json; config facts come from the file, the rest from the admin API.
import { resolve } from 'node:path';
import type {
  AuditEventJson,
  AuditEventsResponse,
  AuthorityJson,
  AuthorityListResponse,
  ReadyResponse,
  RelationshipListResponse,
} from '../../api/index.js';
import { loadConfig } from '../../config/index.js';
import { flag, optionalString, parseCommandArgs } from '../args.js';
import type { CommandSpec } from '../io.js';
import { printFields, printJson, printTable } from '../output.js';
import { CONFIG_OPTION, connect } from './common.js';
import { when } from './federation.js';

const NEWEST_EVENTS = 5;

export interface StatusReport {
  trustDomain: string;
  config: string;
  publicUrls: { bundleEndpoint: string | null; agentApi: string | null };
  listeners: { bundleEndpoint: string; agentApi: string; adminApi: string };
  store: string;
  ready: { status: number; checks: Record<string, string> };
  authorities: Pick<AuthorityJson, 'id' | 'kind' | 'state' | 'notAfter'>[];
  partners: Record<string, number>;
  stale: string[];
  failing: { trustDomain: string; failures: number; error: string }[];
  pending: string[];
  newestEvents: AuditEventJson[];
}

export const statusCommand: CommandSpec = {
  words: ['status'],
  usage: 'fedbroker status [--config FILE] [--json]',
  summary:
    'one screen: trust domain, URLs and listeners, store, authorities, partners, pending approvals, newest audit events, readiness',
  flags: {},
  example: 'fedbroker status --config /etc/fedbroker/broker.yaml',
  async run(argv, io) {
    const args = parseCommandArgs(argv, CONFIG_OPTION);
    const loaded = loadConfig(
      resolve(io.cwd, optionalString(args, 'config') ?? 'data/broker.yaml'),
      io.env,
    );
    const { config } = loaded;
    const client = connect(args, io);
    const ready = await client.probe('/readyz');
    const [{ authorities }, { relationships }, { events }] = await Promise.all([
      client.request<AuthorityListResponse>('GET', '/v1/admin/authorities'),
      client.request<RelationshipListResponse>('GET', '/v1/admin/relationships'),
      client.request<AuditEventsResponse>(
        'GET',
        `/v1/admin/audit?order=newest&limit=${NEWEST_EVENTS}`,
      ),
    ]);
    const partners: Record<string, number> = {};
    for (const r of relationships) partners[r.state] = (partners[r.state] ?? 0) + 1;
    const report: StatusReport = {
      trustDomain: config.trustDomain,
      config: loaded.path,
      publicUrls: {
        bundleEndpoint: config.bundleEndpoint.url ?? null,
        agentApi: config.agentApi.url ?? null,
      },
      listeners: {
        bundleEndpoint: config.bundleEndpoint.listen,
        agentApi: config.agentApi.listen,
        adminApi: config.adminApi.listen,
      },
      store: config.store.kind,
      ready: {
        status: ready.status,
        checks: (ready.body as Partial<ReadyResponse> | null)?.checks ?? {},
      },
      authorities: authorities.map(({ id, kind, state, notAfter }) => ({
        id,
        kind,
        state,
        notAfter,
      })),
      partners,
      stale: relationships.filter((r) => r.status.stale).map((r) => r.trustDomain),
      failing: relationships
        .filter((r) => r.status.consecutiveFailures > 0)
        .map((r) => ({
          trustDomain: r.trustDomain,
          failures: r.status.consecutiveFailures,
          error: r.status.lastError?.code ?? '-',
        })),
      pending: relationships.filter((r) => r.state === 'pending').map((r) => r.trustDomain),
      newestEvents: events,
    };
    if (flag(args, 'json')) return (printJson(io, report), 0);
    printText(io, report);
    return 0;
  },
};

function printText(io: Parameters<CommandSpec['run']>[1], r: StatusReport): void {
  const unset = '(not set: partners and agents get the listen address)';
  const checks = Object.entries(r.ready.checks)
    .map(([name, value]) => `${name} ${value}`)
    .join(', ');
  printFields(io, [
    ['trust domain', r.trustDomain],
    ['ready', `${r.ready.status === 200 ? 'yes' : 'NO'} (${checks || `HTTP ${r.ready.status}`})`],
    [
      'bundle endpoint',
      `${r.publicUrls.bundleEndpoint ?? unset}, listening on ${r.listeners.bundleEndpoint}`,
    ],
    ['agent API', `${r.publicUrls.agentApi ?? unset}, listening on ${r.listeners.agentApi}`],
    ['admin API', r.listeners.adminApi],
    ['store', r.store],
    ['config', r.config],
    [
      'partners',
      Object.entries(r.partners)
        .map(([state, n]) => `${n} ${state}`)
        .join(', ') || 'none',
    ],
    ['pending approval', r.pending.join(', ') || '-'],
    ['stale', r.stale.join(', ') || '-'],
    [
      'failing',
      r.failing.map((f) => `${f.trustDomain} (${f.failures}x ${f.error})`).join(', ') || '-',
    ],
  ]);
  io.stdout('\nauthorities:\n');
  printTable(
    io,
    ['kind', 'state', 'not after', 'id'],
    r.authorities.map((a) => [a.kind, a.state, a.notAfter, a.id]),
  );
  io.stdout('\nnewest audit events:\n');
  printTable(
    io,
    ['id', 'time', 'type', 'actor', 'trust domain'],
    r.newestEvents.map((e) => [String(e.id), when(e.time), e.type, e.actor, e.trustDomain ?? '-']),
  );
}
