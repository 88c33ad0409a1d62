// `fedbroker audit list`: filters checked here so a mistake names the fix (valid event types,
// dates or date-times for --since and --until, a bounded --limit) before the admin API is asked.
import type { AuditEventsResponse } from '../../api/index.js';
import { AUDIT_EVENT_TYPES } from '../../audit/index.js';
import { parseDurationSeconds } from '../../config/index.js';
import { CliError } from '../../errors.js';
import { flag, optionalString, parseCommandArgs } from '../args.js';
import type { CommandSpec } from '../io.js';
import { printJson, printTable } from '../output.js';
import { CONFIG_OPTION, connect } from './common.js';

const MAX_LIMIT = 10_000;

/**
 * `--since`: a date (2026-12-01, midnight UTC), a date-time (2026-12-01T10:00, UTC unless it
 * carries Z or an offset) or a duration back from now (30m, 2d). Returns an ISO date-time.
 */
export function parseSince(text: string, nowMs: number, name = 'since'): string {
  const seconds = /^\d+[smhd]$/.test(text) ? parseDurationSeconds(text) : undefined;
  if (seconds !== undefined) return new Date(nowMs - seconds * 1000).toISOString();
  const match =
    /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?)(Z|[+-]\d{2}:\d{2})?)?$/.exec(
      text,
    );
  const ms =
    match === null
      ? Number.NaN
      : Date.parse(`${match[1] ?? ''}T${match[2] ?? '00:00'}${match[3] ?? 'Z'}`);
  if (Number.isNaN(ms)) {
    throw new CliError(
      'ERR_CLI_USAGE',
      `--${name} "${text}" is not a date (2026-12-01), a date-time (2026-12-01T10:00Z) or a duration back from now (2h)`,
    );
  }
  return new Date(ms).toISOString();
}

/** `--until`: the same forms as --since; events strictly before that time. */
export const parseUntil = (text: string, nowMs: number): string => parseSince(text, nowMs, 'until');

function parseLimit(text: string): string {
  if (!/^\d{1,6}$/.test(text) || Number(text) < 1 || Number(text) > MAX_LIMIT) {
    throw new CliError(
      'ERR_CLI_USAGE',
      `--limit "${text}" must be a whole number from 1 to ${MAX_LIMIT}`,
    );
  }
  return text;
}

function parseType(text: string): string {
  if (!(AUDIT_EVENT_TYPES as readonly string[]).includes(text)) {
    throw new CliError(
      'ERR_CLI_USAGE',
      `--type "${text}" is not an event type; use one of: ${AUDIT_EVENT_TYPES.join(', ')}`,
    );
  }
  return text;
}

export const auditListCommand: CommandSpec = {
  words: ['audit', 'list'],
  usage:
    'fedbroker audit list [--type T] [--actor A] [--trust-domain TD] [--since WHEN] [--until WHEN] [--limit N] [--config FILE] [--json]',
  summary: 'audit events, oldest first',
  flags: {
    type: `only this event type: ${AUDIT_EVENT_TYPES.join(', ')}`,
    actor: 'only events by this actor (admin name, SPIFFE ID, config, broker)',
    'trust-domain': 'only events about this partner trust domain',
    since: 'from a date (2026-12-01), a date-time (2026-12-01T10:00Z) or a duration ago (2h)',
    until: 'before a date, a date-time or a duration ago (same forms as --since)',
    limit: `at most N events (1..${MAX_LIMIT}, default 100)`,
  },
  example:
    'fedbroker audit list --type relationship.approved --since 2d --config /etc/fedbroker/broker.yaml',
  async run(argv, io) {
    const args = parseCommandArgs(argv, {
      ...CONFIG_OPTION,
      type: { type: 'string' },
      actor: { type: 'string' },
      'trust-domain': { type: 'string' },
      since: { type: 'string' },
      until: { type: 'string' },
      limit: { type: 'string' },
    });
    const query = new URLSearchParams();
    const type = optionalString(args, 'type');
    if (type !== undefined) query.set('type', parseType(type));
    const actor = optionalString(args, 'actor');
    if (actor !== undefined) query.set('actor', actor);
    const td = optionalString(args, 'trust-domain');
    if (td !== undefined) query.set('trustDomain', td);
    const since = optionalString(args, 'since');
    if (since !== undefined) query.set('since', parseSince(since, Date.now()));
    const until = optionalString(args, 'until');
    if (until !== undefined) query.set('until', parseUntil(until, Date.now()));
    const limit = optionalString(args, 'limit');
    if (limit !== undefined) query.set('limit', parseLimit(limit));
    const result = await connect(args, io).request<AuditEventsResponse>(
      'GET',
      `/v1/admin/audit?${query.toString()}`,
    );
    if (flag(args, 'json')) return (printJson(io, result), 0);
    printTable(
      io,
      ['id', 'time', 'type', 'actor', 'trust domain', 'details'],
      result.events.map((e) => [
        String(e.id),
        new Date(e.time).toISOString(),
        e.type,
        e.actor,
        e.trustDomain ?? '-',
        JSON.stringify(e.data),
      ]),
    );
    return 0;
  },
};
