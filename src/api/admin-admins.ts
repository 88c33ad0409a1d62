// Admin routes for named administrators (issue 19): add (the personal token is in this response only),
// list, show, remove (their console sessions end at once) and rotate; `whoami` for the CLI and console.
import { z } from 'zod';
import { ADMIN_ROLES, type AdminDirectory } from '../access/index.js';
import { defineRoute, respondJson, type Route } from './routes.js';

export interface AdminAdminsDeps {
  readonly admins: AdminDirectory;
  /** Fail closed: a failed audit write fails the request (the change is already made and logged). */
  readonly audit: (event: {
    type: 'admin.added' | 'admin.removed' | 'admin.rotated';
    actor: string;
    details?: Record<string, unknown>;
  }) => Promise<void>;
}

const adminSchema = z.object({
  name: z.string(),
  role: z.enum(ADMIN_ROLES),
  createdAtMs: z.number(),
  createdBy: z.string(),
  rotatedAtMs: z.number().nullable(),
});
const withToken = z.object({
  admin: adminSchema,
  token: z.string().describe('the personal token: shown once, stored only as a hash'),
});
const nameParams = z.object({ name: z.string().min(1).max(64) }).strict();

export function adminRoutes(deps: AdminAdminsDeps): Route[] {
  return [
    defineRoute({
      method: 'get',
      path: '/whoami',
      summary: 'The authenticated admin: name, role and how they signed in',
      tags: ['admins'],
      responses: {
        200: {
          description: 'the caller',
          schema: z.object({
            name: z.string(),
            role: z.enum(ADMIN_ROLES),
            via: z.enum(['root', 'token', 'mtls']),
            actor: z.string(),
          }),
        },
      },
      handler: (c) => c.json({ ...c.var.principal }),
    }),
    defineRoute({
      method: 'get',
      path: '/admins',
      summary: 'Named admins (never their tokens)',
      tags: ['admins'],
      responses: {
        200: { description: 'admins by name', schema: z.object({ admins: z.array(adminSchema) }) },
      },
      handler: async (c) => c.json({ admins: await deps.admins.list() }),
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
      responses: { 201: { description: 'added', schema: withToken } },
      handler: async (c, { body }) => {
        const added = await deps.admins.add(body.name, body.role, { actor: c.var.actor });
        await deps.audit({
          type: 'admin.added',
          actor: c.var.actor,
          details: { name: added.admin.name, role: added.admin.role },
        });
        return respondJson(c, withToken, added, 201);
      },
    }),
    defineRoute({
      method: 'get',
      path: '/admins/:name',
      summary: 'One named admin',
      tags: ['admins'],
      params: nameParams,
      responses: {
        200: { description: 'the admin', schema: z.object({ admin: adminSchema }) },
      },
      handler: async (c, { params }) => c.json({ admin: await deps.admins.get(params.name) }),
    }),
    defineRoute({
      method: 'delete',
      path: '/admins/:name',
      summary: 'Remove a named admin: their token and console sessions stop working at once',
      description: 'Their past audit events stay, still naming them.',
      tags: ['admins'],
      params: nameParams,
      responses: {
        200: {
          description: 'removed',
          schema: z.object({ removed: z.string(), sessionsEnded: z.number().int() }),
        },
      },
      handler: async (c, { params }) => {
        const { sessionsEnded } = await deps.admins.remove(params.name);
        await deps.audit({
          type: 'admin.removed',
          actor: c.var.actor,
          details: { name: params.name, sessionsEnded },
        });
        return c.json({ removed: params.name, sessionsEnded });
      },
    }),
    defineRoute({
      method: 'post',
      path: '/admins/:name/rotate',
      summary: 'A new personal token for an admin (the old one and their sessions stop at once)',
      tags: ['admins'],
      params: nameParams,
      responses: { 200: { description: 'rotated', schema: withToken } },
      handler: async (c, { params }) => {
        const rotated = await deps.admins.rotate(params.name);
        await deps.audit({
          type: 'admin.rotated',
          actor: c.var.actor,
          details: { name: rotated.admin.name },
        });
        return respondJson(c, withToken, rotated);
      },
    }),
  ];
}
