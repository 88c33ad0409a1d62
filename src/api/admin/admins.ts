// Named administrators resource of the admin API (issue 19): add (the personal token is in this
// response only), list, show, remove (their console sessions end at once), rotate; and `whoami`.
import type { Hono } from 'hono';
import { z } from 'zod';
import { ADMIN_ROLES, type AdminDirectory } from '../../access/index.js';
import type { AuditFn } from '../admin-actions.js';
import {
  createResourceApp,
  defineRoute,
  respondJson,
  type AdminEnv,
  type RouteTable,
} from '../routes.js';
import { adminList, adminWithToken, oneAdmin, removedAdmin, whoami } from './responses.js';

export interface AdminsDeps {
  readonly admins: AdminDirectory;
  /** Fail closed: a failed audit write fails the request (the change is already made and logged). */
  readonly audit: AuditFn<'admin.added' | 'admin.removed' | 'admin.rotated'>;
}

const nameParams = z.object({ name: z.string().min(1).max(64) }).strict();

export function createAdminsApp(deps: AdminsDeps, table: RouteTable): Hono<AdminEnv> {
  return createResourceApp(table, [
    defineRoute({
      method: 'get',
      path: '/whoami',
      summary: 'The authenticated admin: name, role and how they signed in',
      tags: ['admins'],
      responses: { 200: { description: 'the caller', schema: whoami } },
      handler: (c) => {
        const { name, role, via, actor } = c.var.principal;
        return respondJson(c, whoami, { name, role, via, actor });
      },
    }),
    defineRoute({
      method: 'get',
      path: '/admins',
      summary: 'Named admins (never their tokens)',
      tags: ['admins'],
      responses: { 200: { description: 'admins by name', schema: adminList } },
      handler: async (c) => respondJson(c, adminList, { admins: await deps.admins.list() }),
    }),
    defineRoute({
      method: 'post',
      path: '/admins',
      summary: 'Add a named admin; the response holds their personal token (shown once)',
      tags: ['admins'],
      body: z
        .object({
          name: z.string().min(1).max(64),
          role: z.enum(ADMIN_ROLES).default('admin'),
        })
        .strict(),
      responses: { 201: { description: 'added', schema: adminWithToken } },
      handler: async (c, { body }) => {
        const added = await deps.admins.add(body.name, body.role, { actor: c.var.actor });
        await deps.audit({
          type: 'admin.added',
          actor: c.var.actor,
          details: { name: added.admin.name, role: added.admin.role, addedBy: added.admin.addedBy },
        });
        return respondJson(c, adminWithToken, added, 201);
      },
    }),
    defineRoute({
      method: 'get',
      path: '/admins/:name',
      summary: 'One named admin',
      tags: ['admins'],
      params: nameParams,
      responses: { 200: { description: 'the admin', schema: oneAdmin } },
      handler: async (c, { params }) =>
        respondJson(c, oneAdmin, { admin: await deps.admins.get(params.name) }),
    }),
    defineRoute({
      method: 'delete',
      path: '/admins/:name',
      summary: 'Remove a named admin: their token and console sessions stop working at once',
      description: 'Their past audit events stay, still naming them.',
      tags: ['admins'],
      params: nameParams,
      responses: { 200: { description: 'removed', schema: removedAdmin } },
      handler: async (c, { params }) => {
        const { sessionsEnded } = await deps.admins.remove(params.name);
        await deps.audit({
          type: 'admin.removed',
          actor: c.var.actor,
          details: { name: params.name, sessionsEnded },
        });
        return respondJson(c, removedAdmin, { removed: params.name, sessionsEnded });
      },
    }),
    defineRoute({
      method: 'post',
      path: '/admins/:name/rotate',
      summary: 'A new personal token for an admin (the old one and their sessions stop at once)',
      tags: ['admins'],
      params: nameParams,
      responses: { 200: { description: 'rotated', schema: adminWithToken } },
      handler: async (c, { params }) => {
        const rotated = await deps.admins.rotate(params.name);
        await deps.audit({
          type: 'admin.rotated',
          actor: c.var.actor,
          details: { name: rotated.admin.name },
        });
        return respondJson(c, adminWithToken, rotated);
      },
    }),
  ]);
}
