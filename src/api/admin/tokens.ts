// Join tokens resource of the admin API: generate (the secret is in this response only; never stored
// or logged), list unused ones, revoke. Shares admin-actions.ts with the console.
import type { Hono } from 'hono';
import { z } from 'zod';
import { bundleDigest, marshalBundle } from '../../bundle/index.js';
import type { Ca } from '../../ca/index.js';
import {
  DEFAULT_TOKEN_TTL_SECONDS,
  MAX_TOKEN_TTL_SECONDS,
  MIN_TOKEN_TTL_SECONDS,
  type Registration,
} from '../../registration/index.js';
import { createJoinToken, revokeJoinToken, type AuditFn } from '../admin-actions.js';
import {
  createResourceApp,
  defineRoute,
  respondJson,
  type AdminEnv,
  type RouteTable,
} from '../routes.js';
import { idParam } from '../validate.js';
import { createdToken, revokedToken, tokenList } from './responses.js';

export interface TokensDeps {
  readonly registration: Registration;
  readonly ca: Pick<Ca, 'localBundle'>;
  readonly audit: AuditFn<
    'entry.created' | 'entry.updated' | 'entry.deleted' | 'token.created' | 'token.revoked'
  >;
  /** The agent API URL agents should enrol at (shown with each token). */
  readonly agentApiUrl: () => string;
}

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

const tokenParams = z.object({ tokenId: idParam.max(64) }).strict();

export function createTokensApp(deps: TokensDeps, table: RouteTable): Hono<AdminEnv> {
  return createResourceApp(table, [
    defineRoute({
      method: 'post',
      path: '/tokens',
      summary: 'Generate a one-time join token for an entry (the secret is shown once)',
      tags: ['registration'],
      body: createTokenBody,
      responses: { 201: { description: 'the token', schema: createdToken } },
      handler: async (c, { body }) => {
        const created = await createJoinToken(deps, body, c.get('actor'));
        const expiresAt = new Date(created.expiresAtMs).toISOString();
        c.header('cache-control', 'no-store');
        return respondJson(
          c,
          createdToken,
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
      responses: { 200: { description: 'tokens', schema: tokenList } },
      handler: async (c) =>
        respondJson(c, tokenList, {
          tokens: (await deps.registration.listTokens()).map((t) => ({
            tokenId: t.tokenId,
            entryId: t.entryId,
            expiresAt: new Date(t.expiresAtMs).toISOString(),
            createdBy: t.createdBy,
          })),
        }),
    }),
    defineRoute({
      method: 'delete',
      path: '/tokens/:tokenId',
      summary: 'Revoke an unused join token',
      tags: ['registration'],
      params: tokenParams,
      responses: { 200: { description: 'revoked', schema: revokedToken } },
      handler: async (c, { params }) => {
        await revokeJoinToken(deps, params.tokenId, c.get('actor'));
        return respondJson(c, revokedToken, { revoked: params.tokenId });
      },
    }),
  ]);
}
