// Admin routes for registration: entries (create, list, show, update, delete) and join tokens (generate,
// list, revoke). A token's secret is in the create response only; it is never stored or logged.
import { z } from 'zod';
import { bundleDigest, marshalBundle } from '../bundle/index.js';
import type { Ca } from '../ca/index.js';
import {
  DEFAULT_TOKEN_TTL_SECONDS,
  MAX_DNS_NAMES,
  MAX_ENTRY_TTL_SECONDS,
  MAX_FEDERATES_WITH,
  MAX_SELECTORS,
  MAX_SELECTOR_LENGTH,
  MAX_TOKEN_TTL_SECONDS,
  MIN_ENTRY_TTL_SECONDS,
  MIN_TOKEN_TTL_SECONDS,
  entryView,
  type Registration,
} from '../registration/index.js';
import { createEntry, createJoinToken, deleteEntry, revokeJoinToken } from './admin-actions.js';
import { defineRoute, respondJson, type Route } from './routes.js';
import { idParam } from './validate.js';

export interface AdminRegistrationDeps {
  readonly registration: Registration;
  readonly ca: Pick<Ca, 'localBundle'>;
  readonly audit: (event: {
    type: 'entry.created' | 'entry.updated' | 'entry.deleted' | 'token.created';
    actor: string;
    details?: Record<string, unknown>;
  }) => Promise<void>;
  /** The agent API URL agents should enrol at (shown with each token). */
  readonly agentApiUrl: () => string;
}

const entrySchema = z.object({
  id: z.string(),
  spiffeId: z.string(),
  kind: z.enum(['fixed', 'template']),
  node: z.boolean().describe('a node entry: its node agents fetch and sign for workload entries'),
  parentId: z
    .string()
    .nullable()
    .describe('workload entries: the parent node SPIFFE ID or node template; null otherwise'),
  selectors: z.array(z.string()).describe('workload selectors (type:value), all must match'),
  federatesWith: z.array(z.string()),
  ttlSeconds: z.number().nullable(),
  dnsNames: z.array(z.string()),
  description: z.string(),
  createdAt: z.string(),
  createdBy: z.string(),
});

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

const createTokenBody = z
  .object({
    entryId: z.string().min(1).max(64),
    ttlSeconds: z
      .number()
      .int()
      .min(MIN_TOKEN_TTL_SECONDS)
      .max(MAX_TOKEN_TTL_SECONDS)
      .optional()
      .describe(`default ${DEFAULT_TOKEN_TTL_SECONDS}`),
  })
  .strict();

const tokenSchema = z.object({
  tokenId: z.string(),
  entryId: z.string(),
  expiresAt: z.string(),
  createdBy: z.string(),
});

const createdTokenSchema = z.object({
  token: z.string().describe('the secret, shown once'),
  tokenId: z.string(),
  entryId: z.string(),
  spiffeId: z.string(),
  expiresAt: z.string(),
  agentApiUrl: z.string(),
  bundleDigest: z
    .string()
    .describe('SHA-256 of GET /v1/agent/bundle now: enough for an agent to trust the broker'),
});

const tokenParams = z.object({ tokenId: idParam.max(64) }).strict();

export function registrationRoutes(deps: AdminRegistrationDeps): Route[] {
  const oneEntry = z.object({ entry: entrySchema });
  const updated = z.object({ entry: entrySchema, changed: z.array(z.string()) });
  return [
    defineRoute({
      method: 'post',
      path: '/entries',
      summary:
        'Create a registration entry (fixed SPIFFE ID or per-instance template; agent, node or workload)',
      tags: ['registration'],
      body: createEntryBody,
      responses: { 201: { description: 'created', schema: oneEntry } },
      handler: async (c, { body }) => {
        const view = (await createEntry(deps, body, c.get('actor'))) as z.output<
          typeof entrySchema
        >;
        return respondJson(c, oneEntry, { entry: view }, 201);
      },
    }),
    defineRoute({
      method: 'get',
      path: '/entries',
      summary: 'List registration entries',
      tags: ['registration'],
      responses: {
        200: { description: 'entries', schema: z.object({ entries: z.array(entrySchema) }) },
      },
      handler: async (c) => {
        const entries = (await deps.registration.listEntries()).map(
          (e) => entryView(e) as z.output<typeof entrySchema>,
        );
        return c.json({ entries });
      },
    }),
    defineRoute({
      method: 'get',
      path: '/entries/:id',
      summary: 'Show a registration entry',
      tags: ['registration'],
      params: entryParams,
      responses: { 200: { description: 'the entry', schema: oneEntry } },
      handler: async (c, { params }) => {
        const entry = await deps.registration.getEntry(params.id);
        return respondJson(c, oneEntry, {
          entry: entryView(entry) as z.output<typeof entrySchema>,
        });
      },
    }),
    defineRoute({
      method: 'patch',
      path: '/entries/:id',
      summary:
        'Update an entry in place (federatesWith, ttlSeconds, dnsNames, description, selectors); open agent and node streams see it',
      tags: ['registration'],
      params: entryParams,
      body: updateEntryBody,
      responses: {
        200: { description: 'the entry now, and the fields that changed', schema: updated },
      },
      handler: async (c, { params, body }) => {
        const actor = c.get('actor');
        const { entry, changed } = await deps.registration.updateEntry(params.id, body);
        const view = entryView(entry) as z.output<typeof entrySchema>;
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
        return respondJson(c, updated, { entry: view, changed: [...changed] });
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/entries/:id',
      summary: 'Delete a registration entry: its agents can no longer renew or fetch bundles',
      tags: ['registration'],
      params: entryParams,
      responses: {
        200: { description: 'deleted', schema: z.object({ deleted: z.string() }) },
      },
      handler: async (c, { params }) => {
        await deleteEntry(deps, params.id, c.get('actor'));
        return c.json({ deleted: params.id });
      },
    }),
    defineRoute({
      method: 'post',
      path: '/tokens',
      summary: 'Generate a one-time join token for an entry (the secret is shown once)',
      tags: ['registration'],
      body: createTokenBody,
      responses: { 201: { description: 'the token', schema: createdTokenSchema } },
      handler: async (c, { body }) => {
        const created = await createJoinToken(deps, body, c.get('actor'));
        const expiresAt = new Date(created.expiresAtMs).toISOString();
        c.header('cache-control', 'no-store');
        return respondJson(
          c,
          createdTokenSchema,
          {
            token: created.token,
            tokenId: created.tokenId,
            entryId: created.entryId,
            spiffeId: created.spiffeId,
            expiresAt,
            agentApiUrl: deps.agentApiUrl(),
            bundleDigest: bundleDigest(marshalBundle(deps.ca.localBundle())),
          },
          201,
        );
      },
    }),
    defineRoute({
      method: 'get',
      path: '/tokens',
      summary: 'List unexpired, unused join tokens (never their secrets)',
      tags: ['registration'],
      responses: {
        200: { description: 'tokens', schema: z.object({ tokens: z.array(tokenSchema) }) },
      },
      handler: async (c) => {
        const tokens = (await deps.registration.listTokens()).map((t) => ({
          tokenId: t.tokenId,
          entryId: t.entryId,
          expiresAt: new Date(t.expiresAtMs).toISOString(),
          createdBy: t.createdBy,
        }));
        return c.json({ tokens });
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/tokens/:tokenId',
      summary: 'Revoke an unused join token',
      tags: ['registration'],
      params: tokenParams,
      responses: {
        200: { description: 'revoked', schema: z.object({ revoked: z.string() }) },
      },
      handler: async (c, { params }) => {
        await revokeJoinToken(deps, params.tokenId);
        return c.json({ revoked: params.tokenId });
      },
    }),
  ];
}
