// Relationships resource of the admin API (federation): create, list, show, the approval transitions
// (two-person rule), update, delete, and a partner's bundle (fetch now, or replace by hand: FED-33).
import type { Hono } from 'hono';
import { z } from 'zod';
import { approvalsOf, type RelationshipView } from '../../federation/index.js';
import {
  createResourceApp,
  defineRoute,
  respondJson,
  type AdminEnv,
  type Route,
  type RouteTable,
} from '../routes.js';
import type { AdminDeps } from './deps.js';
import { reasonBody, tdParams } from './inputs.js';
import {
  forceBundleResponse,
  oneRelationship,
  profileSchema,
  refreshResponse,
  relationshipList,
  type RelationshipJson,
} from './responses.js';

export type RelationshipsDeps = Pick<AdminDeps, 'federation'>;

/** POST /v1/admin/relationships: every field a relationship is created with, with its bounds. */
const createRelationshipBody = z
  .object({
    trustDomain: z.string().max(255),
    url: z.string().max(2048),
    profile: profileSchema,
    endpointSpiffeId: z.string().max(2048).optional(),
    bootstrapBundle: z
      .string()
      .max(1024 * 1024)
      .optional(),
    caPem: z
      .string()
      .max(256 * 1024)
      .optional(),
    followRedirects: z.boolean().optional(),
    reason: z.string().max(500).optional(),
  })
  .strict();

/** PATCH /v1/admin/relationships/:td: how a partner is reached, each field optional, same bounds. */
const updateRelationshipBody = createRelationshipBody
  .pick({
    url: true,
    profile: true,
    endpointSpiffeId: true,
    bootstrapBundle: true,
    caPem: true,
    reason: true,
  })
  .partial()
  .strict();

const TRANSITIONS = {
  approve: 'Approve a pending relationship (its partner bundle becomes trusted)',
  reject: 'Reject a pending relationship',
  suspend: 'Suspend an active relationship (its bundle stops being trusted)',
  resume: 'Resume a suspended relationship',
} as const;

export function relationshipView(view: RelationshipView): RelationshipJson {
  const r = view.relationship;
  const lastFetch = view.status.lastFetch;
  return {
    trustDomain: r.trustDomain,
    url: r.url,
    profile: r.profile,
    endpointSpiffeId: r.endpointSpiffeId,
    hasBootstrapBundle: r.bootstrapBundle !== null,
    hasCaPem: r.caPem !== null,
    followRedirects: r.followRedirects,
    state: r.state,
    source: r.source,
    createdAt: new Date(r.createdAtMs).toISOString(),
    updatedAt: new Date(r.updatedAtMs).toISOString(),
    transitions: r.transitions.map((t) => ({ ...t, at: new Date(t.atMs).toISOString() })),
    version: view.version,
    approvals: {
      required: view.requiredApprovals,
      count: approvalsOf(r).length,
      by: approvalsOf(r).map((a) => ({
        actor: a.actor,
        at: new Date(a.atMs).toISOString(),
        reason: a.reason,
      })),
    },
    status: {
      ...view.status,
      lastFetch: lastFetch === null ? null : { ...lastFetch, redirects: [...lastFetch.redirects] },
    },
  };
}

/** Create, list, show and the approval transitions. */
function lifecycleRoutes(deps: RelationshipsDeps): Route[] {
  return [
    defineRoute({
      method: 'post',
      path: '/relationships',
      summary: 'Create a federation relationship (pending until approved)',
      tags: ['relationships'],
      body: createRelationshipBody,
      responses: { 201: { description: 'created', schema: oneRelationship } },
      handler: async (c, { body }) => {
        const { reason, ...input } = body;
        const relationship = await deps.federation.create(input, {
          actor: c.var.actor,
          ...(reason === undefined ? {} : { reason }),
        });
        return respondJson(
          c,
          oneRelationship,
          { relationship: relationshipView(await deps.federation.get(relationship.trustDomain)) },
          201,
        );
      },
    }),
    defineRoute({
      method: 'get',
      path: '/relationships',
      summary: 'Every relationship with its refresh status',
      tags: ['relationships'],
      responses: {
        200: { description: 'relationships by trust domain', schema: relationshipList },
      },
      handler: async (c) =>
        respondJson(c, relationshipList, {
          relationships: (await deps.federation.list()).map(relationshipView),
        }),
    }),
    defineRoute({
      method: 'get',
      path: '/relationships/:td',
      summary: 'One relationship with its refresh status',
      tags: ['relationships'],
      params: tdParams,
      responses: { 200: { description: 'the relationship', schema: oneRelationship } },
      handler: async (c, { params }) =>
        respondJson(c, oneRelationship, {
          relationship: relationshipView(await deps.federation.get(params.td)),
        }),
    }),
    ...(['approve', 'reject', 'suspend', 'resume'] as const).map((action) =>
      defineRoute({
        method: 'post',
        path: `/relationships/:td/${action}`,
        summary: TRANSITIONS[action],
        tags: ['relationships'],
        params: tdParams,
        body: reasonBody,
        responses: { 200: { description: 'the relationship after', schema: oneRelationship } },
        handler: async (c, { params, body }) => {
          await deps.federation.transition(params.td, action, {
            actor: c.var.actor,
            ...(body.reason === undefined ? {} : { reason: body.reason }),
          });
          return respondJson(c, oneRelationship, {
            relationship: relationshipView(await deps.federation.get(params.td)),
          });
        },
      }),
    ),
  ];
}

/** Delete, and change how a partner is reached. */
function changeRoutes(deps: RelationshipsDeps): Route[] {
  return [
    defineRoute({
      method: 'delete',
      path: '/relationships/:td',
      summary: 'Delete a relationship and its bundle (FED-60)',
      tags: ['relationships'],
      params: tdParams,
      query: z.object({ reason: z.string().max(500).optional() }),
      responses: { 204: { description: 'deleted' } },
      handler: async (c, { params, query }) => {
        await deps.federation.delete(params.td, {
          actor: c.var.actor,
          ...(query.reason === undefined ? {} : { reason: query.reason }),
        });
        return c.body(null, 204);
      },
    }),
    defineRoute({
      method: 'patch',
      path: '/relationships/:td',
      summary: 'Change how a partner is reached; history and stored bundle are kept',
      description:
        'With `federation.requiredApprovals` of 2 or more, a change of the URL, profile, endpoint SPIFFE ID, bootstrap bundle or CA file sends the relationship back to `pending` with its approvals cleared; otherwise its state is kept.',
      tags: ['relationships'],
      params: tdParams,
      body: updateRelationshipBody,
      responses: { 200: { description: 'the relationship after', schema: oneRelationship } },
      handler: async (c, { params, body }) => {
        const { reason, ...changes } = body;
        await deps.federation.update(params.td, changes, {
          actor: c.var.actor,
          ...(reason === undefined ? {} : { reason }),
        });
        return respondJson(c, oneRelationship, {
          relationship: relationshipView(await deps.federation.get(params.td)),
        });
      },
    }),
  ];
}

/** The partner's bundle: fetch it now, or replace it by hand. */
function partnerBundleRoutes(deps: RelationshipsDeps): Route[] {
  return [
    defineRoute({
      method: 'post',
      path: '/relationships/:td/refresh',
      summary: 'Fetch the partner bundle now',
      description: 'A partner failure is a 200 with `ok: false`; the last good bundle is kept.',
      tags: ['relationships'],
      params: tdParams,
      responses: { 200: { description: 'the outcome of the fetch', schema: refreshResponse } },
      handler: async (c, { params }) => {
        const outcome = await deps.federation.refresh(params.td, { actor: c.var.actor });
        const log = outcome.log;
        return respondJson(c, refreshResponse, {
          ok: outcome.ok,
          outcome: outcome.update?.outcome ?? null,
          sequence: outcome.update?.stored.sequence ?? null,
          error: outcome.error ?? null,
          fetch: log === null ? null : { ...log, redirects: [...log.redirects] },
        });
      },
    }),
    defineRoute({
      method: 'put',
      path: '/relationships/:td/bundle',
      summary: 'Replace the partner bundle by hand (FED-33; rollback check bypassed)',
      description:
        'With `federation.requiredApprovals` of 2 or more the relationship goes back to `pending` with its approvals cleared: the forced bundle is trusted once that many admins approved.',
      tags: ['relationships'],
      params: tdParams,
      body: z
        .object({
          bundle: z
            .string()
            .max(1024 * 1024)
            .describe('SPIFFE bundle JSON or PEM'),
          reason: z.string().max(500).optional(),
        })
        .strict(),
      responses: { 200: { description: 'stored', schema: forceBundleResponse } },
      handler: async (c, { params, body }) => {
        const update = await deps.federation.forceBundle(params.td, body.bundle, {
          actor: c.var.actor,
          ...(body.reason === undefined ? {} : { reason: body.reason }),
        });
        return respondJson(c, forceBundleResponse, {
          outcome: update.outcome,
          sequence: update.stored.sequence,
          digest: update.stored.digest,
          state: update.state,
        });
      },
    }),
  ];
}

export function createRelationshipsApp(deps: RelationshipsDeps, table: RouteTable): Hono<AdminEnv> {
  return createResourceApp(table, [
    ...lifecycleRoutes(deps),
    ...changeRoutes(deps),
    ...partnerBundleRoutes(deps),
  ]);
}
