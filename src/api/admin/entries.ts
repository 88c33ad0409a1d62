// Registration entries resource of the admin API: create, list, show, update in place, delete. Every
// change is audited (fail closed); create and delete share admin-actions.ts with the console.
import type { Hono } from 'hono';
import { z } from 'zod';
import {
  MAX_DNS_NAMES,
  MAX_ENTRY_TTL_SECONDS,
  MAX_FEDERATES_WITH,
  MAX_SELECTORS,
  MAX_SELECTOR_LENGTH,
  MIN_ENTRY_TTL_SECONDS,
  entryView,
  type Registration,
} from '../../registration/index.js';
import { createEntry, deleteEntry, type AuditFn } from '../admin-actions.js';
import {
  createResourceApp,
  defineRoute,
  respondJson,
  type AdminEnv,
  type Route,
  type RouteTable,
} from '../routes.js';
import { idParam } from '../validate.js';
import { deletedEntry, entryList, oneEntry, updatedEntry, type EntryJson } from './responses.js';

export interface EntriesDeps {
  readonly registration: Registration;
  readonly audit: AuditFn<'entry.created' | 'entry.updated' | 'entry.deleted' | 'token.created'>;
}

/** The entry a create asks for: the API's body and the console's form alike. */
export const createEntryBody = z
  .object({
    spiffeId: z
      .string()
      .min(1)
      .max(2048)
      .describe('a SPIFFE ID of our trust domain, or a template with one `{instance}` segment'),
    federatesWith: z.array(z.string().min(1).max(255)).max(MAX_FEDERATES_WITH).optional(),
    ttlSeconds: z.number().int().min(MIN_ENTRY_TTL_SECONDS).max(MAX_ENTRY_TTL_SECONDS).optional(),
    dnsNames: z.array(z.string().min(1).max(253)).max(MAX_DNS_NAMES).optional(),
    description: z.string().max(500).optional(),
    node: z
      .boolean()
      .optional()
      .describe('a node entry (for `fedbroker agent serve`); cannot have parentId'),
    parentId: z
      .string()
      .min(1)
      .max(2048)
      .optional()
      .describe('makes a workload entry: the parent node SPIFFE ID, or a node entry template'),
    selectors: z
      .array(z.string().min(1).max(MAX_SELECTOR_LENGTH))
      .max(MAX_SELECTORS)
      .optional()
      .describe(
        'with parentId, at least one: unix:uid, unix:user, unix:gid, unix:group, unix:path, unix:sha256, container:id',
      ),
  })
  .strict();

// The create schema's limits (MAX_*, MIN_*) again; the service re-validates through buildEntry.
// spiffeId, node and parentId are accepted here only so the service can refuse them with a coded
// error that says to delete and re-create (the strict schema would only say "unknown member").
const updateEntryBody = z
  .object({
    federatesWith: z.array(z.string().min(1).max(255)).max(MAX_FEDERATES_WITH).optional(),
    ttlSeconds: z
      .number()
      .int()
      .min(MIN_ENTRY_TTL_SECONDS)
      .max(MAX_ENTRY_TTL_SECONDS)
      .nullable()
      .optional()
      .describe('null: back to the CA default X509-SVID TTL'),
    dnsNames: z.array(z.string().min(1).max(253)).max(MAX_DNS_NAMES).optional(),
    description: z.string().max(500).optional(),
    selectors: z
      .array(z.string().min(1).max(MAX_SELECTOR_LENGTH))
      .max(MAX_SELECTORS)
      .optional()
      .describe('workload entries only: replaces the selectors (at least one)'),
    spiffeId: z.string().max(2048).optional().describe('refused: ERR_REGISTRATION_ENTRY_IMMUTABLE'),
    node: z.boolean().optional().describe('refused: ERR_REGISTRATION_ENTRY_IMMUTABLE'),
    parentId: z.string().max(2048).optional().describe('refused: ERR_REGISTRATION_ENTRY_IMMUTABLE'),
  })
  .strict();

const entryParams = z.object({ id: idParam.max(64) }).strict();

/** The registration room's view, typed as the documented response (same fields). */
const entryJson = (entry: Parameters<typeof entryView>[0]): EntryJson =>
  entryView(entry) as EntryJson;

function updateRoute(deps: EntriesDeps): Route {
  return defineRoute({
    method: 'patch',
    path: '/entries/:id',
    summary:
      'Update an entry in place (federatesWith, ttlSeconds, dnsNames, description, selectors); open agent and node streams see it',
    tags: ['registration'],
    params: entryParams,
    body: updateEntryBody,
    responses: {
      200: { description: 'the entry now, and the fields that changed', schema: updatedEntry },
    },
    handler: async (c, { params, body }) => {
      const actor = c.get('actor');
      const { entry, changed } = await deps.registration.updateEntry(params.id, body);
      const view = entryJson(entry);
      // Fail closed: an update whose audit record cannot be written answers with the store's
      // error (503 ERR_STORE_UNAVAILABLE), never 200.
      await deps.audit({
        type: 'entry.updated',
        actor,
        details: {
          id: entry.id,
          spiffeId: view.spiffeId,
          changed: [...changed],
          ...Object.fromEntries(changed.map((field) => [field, view[field]])),
        },
      });
      return respondJson(c, updatedEntry, { entry: view, changed: [...changed] });
    },
  });
}

export function createEntriesApp(deps: EntriesDeps, table: RouteTable): Hono<AdminEnv> {
  return createResourceApp(table, [
    defineRoute({
      method: 'post',
      path: '/entries',
      summary:
        'Create a registration entry (fixed SPIFFE ID or per-instance template; agent, node or workload)',
      tags: ['registration'],
      body: createEntryBody,
      responses: { 201: { description: 'created', schema: oneEntry } },
      handler: async (c, { body }) => {
        const view = (await createEntry(deps, body, c.get('actor'))) as EntryJson;
        return respondJson(c, oneEntry, { entry: view }, 201);
      },
    }),
    defineRoute({
      method: 'get',
      path: '/entries',
      summary: 'List registration entries',
      tags: ['registration'],
      responses: { 200: { description: 'entries', schema: entryList } },
      handler: async (c) =>
        respondJson(c, entryList, {
          entries: (await deps.registration.listEntries()).map(entryJson),
        }),
    }),
    defineRoute({
      method: 'get',
      path: '/entries/:id',
      summary: 'Show a registration entry',
      tags: ['registration'],
      params: entryParams,
      responses: { 200: { description: 'the entry', schema: oneEntry } },
      handler: async (c, { params }) =>
        respondJson(c, oneEntry, { entry: entryJson(await deps.registration.getEntry(params.id)) }),
    }),
    updateRoute(deps),
    defineRoute({
      method: 'delete',
      path: '/entries/:id',
      summary: 'Delete a registration entry: its agents can no longer renew or fetch bundles',
      tags: ['registration'],
      params: entryParams,
      responses: { 200: { description: 'deleted', schema: deletedEntry } },
      handler: async (c, { params }) => {
        await deleteEntry(deps, params.id, c.get('actor'));
        return respondJson(c, deletedEntry, { deleted: params.id });
      },
    }),
  ]);
}
