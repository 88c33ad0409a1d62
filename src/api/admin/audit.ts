// Audit resource of the admin API: the events (filtered, either order) and a check of the stored
// hash chain, optionally against an anchor the operator kept.
import type { Hono } from 'hono';
import { z } from 'zod';
import { AUDIT_ANCHOR_PATTERN, parseAuditAnchor, verifyStoredAudit } from '../../audit/index.js';
import {
  createResourceApp,
  defineRoute,
  respondJson,
  type AdminEnv,
  type RouteTable,
} from '../routes.js';
import type { AdminDeps } from './deps.js';
import { auditEvents, auditVerification } from './responses.js';

export type AuditDeps = Pick<AdminDeps, 'store'>;

const listQuery = z.object({
  type: z.string().optional(),
  actor: z.string().optional(),
  trustDomain: z.string().optional(),
  since: z.iso.datetime({ offset: true }).optional(),
  until: z.iso.datetime({ offset: true }).optional(),
  limit: z.coerce.number().int().min(1).max(10_000).default(100),
  fromId: z.coerce.number().int().min(1).optional(),
  /** `newest`: newest first (fedbroker status shows the latest events). */
  order: z.enum(['oldest', 'newest']).default('oldest'),
});

const verifyQuery = z.object({
  anchor: z
    .string()
    .regex(
      AUDIT_ANCHOR_PATTERN,
      'anchor must be ID:HASH, an event id and its sha-256 hex hash as audit verify prints the head',
    )
    .optional(),
});

export function createAuditApp(deps: AuditDeps, table: RouteTable): Hono<AdminEnv> {
  return createResourceApp(table, [
    defineRoute({
      method: 'get',
      path: '/audit',
      summary: 'Audit events, oldest first',
      tags: ['audit'],
      query: listQuery,
      responses: { 200: { description: 'matching events', schema: auditEvents } },
      handler: async (c, { query: q }) =>
        respondJson(c, auditEvents, {
          events: await deps.store.listAudit({
            limit: q.limit,
            direction: q.order === 'newest' ? 'backward' : 'forward',
            ...(q.fromId === undefined ? {} : { fromId: q.fromId }),
            ...(q.type === undefined ? {} : { type: q.type }),
            ...(q.actor === undefined ? {} : { actor: q.actor }),
            ...(q.trustDomain === undefined ? {} : { trustDomain: q.trustDomain }),
            ...(q.since === undefined ? {} : { sinceMs: Date.parse(q.since) }),
            ...(q.until === undefined ? {} : { untilMs: Date.parse(q.until) }),
          }),
        }),
    }),
    defineRoute({
      method: 'get',
      path: '/audit/verify',
      summary: 'Check the hash chain of the audit log',
      tags: ['audit'],
      query: verifyQuery,
      responses: { 200: { description: 'the check', schema: auditVerification } },
      // Reads what is stored now (segment files, the Redis stream), not the store's memory copy.
      handler: async (c, { query: q }) =>
        respondJson(
          c,
          auditVerification,
          await verifyStoredAudit(
            (fromId, limit) => deps.store.readStoredAudit(fromId, limit),
            q.anchor === undefined ? undefined : parseAuditAnchor(q.anchor),
          ),
        ),
    }),
  ]);
}
