// CA resource of the admin API: our bundle as published and the CA's authorities (list, prepare,
// activate, taint, revoke); each change goes through admin-actions.ts, as the console's does.
import type { Hono } from 'hono';
import { z } from 'zod';
import { marshalPem } from '../../bundle/index.js';
import type { AuthorityMetadata } from '../../ca/index.js';
import { changeAuthority, prepareAuthority } from '../admin-actions.js';
import {
  createResourceApp,
  defineRoute,
  respondJson,
  type AdminEnv,
  type RouteTable,
} from '../routes.js';
import { idParam } from '../validate.js';
import { BUNDLE_BODY, ownBundleResponse } from './bundles.js';
import type { AdminDeps } from './deps.js';
import { bundleFormatQuery } from './inputs.js';
import { authorityList, kindSchema, oneAuthority, type AuthorityJson } from './responses.js';

export type AuthoritiesDeps = Pick<AdminDeps, 'ca' | 'audit'>;

export function authorityView(a: AuthorityMetadata): AuthorityJson {
  return {
    id: a.id,
    kind: a.kind,
    keyType: a.keyType,
    state: a.state,
    createdAt: a.createdAt.toISOString(),
    publishedAt: a.publishedAt.toISOString(),
    activatedAt: a.activatedAt?.toISOString() ?? null,
    retiredAt: a.retiredAt?.toISOString() ?? null,
    taintedAt: a.taintedAt?.toISOString() ?? null,
    revokedAt: a.revokedAt?.toISOString() ?? null,
    notBefore: a.notBefore.toISOString(),
    notAfter: a.notAfter.toISOString(),
    signedUntil: a.signedUntil?.toISOString() ?? null,
    upstream: a.upstream,
    fingerprintSha256: a.fingerprintSha256 ?? null,
    certificatePem: a.certificateDer === undefined ? null : marshalPem([a.certificateDer]),
  };
}

const actionParams = z.object({ kind: kindSchema, id: idParam });
const actionBody = z
  .object({
    force: z
      .boolean()
      .optional()
      .describe('activate only: skip the FED-50 lead time check (partners may not have it yet)'),
    reason: z.string().max(500).optional(),
  })
  .strict();
const ACTIONS = {
  activate: { summary: 'Make a prepared authority the active one' },
  taint: { summary: 'Stop signing with an authority at once' },
  revoke: { summary: 'Remove an authority from the bundle at once' },
} as const;

export function createAuthoritiesApp(deps: AuthoritiesDeps, table: RouteTable): Hono<AdminEnv> {
  return createResourceApp(table, [
    defineRoute({
      method: 'get',
      path: '/bundle',
      summary: 'Our bundle as published',
      tags: ['bundles'],
      query: bundleFormatQuery,
      responses: { 200: BUNDLE_BODY },
      handler: (c, { query }) => ownBundleResponse(c, deps, query.format),
    }),
    defineRoute({
      method: 'get',
      path: '/authorities',
      summary: 'Authorities of our CA',
      tags: ['authorities'],
      query: z.object({ kind: kindSchema.optional() }),
      responses: {
        200: { description: 'authorities by kind, then creation time', schema: authorityList },
      },
      handler: (c, { query }) =>
        respondJson(c, authorityList, {
          authorities: deps.ca.authorities(query.kind).map(authorityView),
        }),
    }),
    defineRoute({
      method: 'post',
      path: '/authorities/:kind/prepare',
      summary: 'Create and publish the next authority of a kind (not signing yet)',
      tags: ['authorities'],
      params: z.object({ kind: kindSchema }),
      responses: { 201: { description: 'prepared', schema: oneAuthority } },
      handler: async (c, { params }) => {
        const authority = await prepareAuthority(deps, params.kind, c.var.actor);
        return respondJson(c, oneAuthority, { authority: authorityView(authority) }, 201);
      },
    }),
    ...(['activate', 'taint', 'revoke'] as const).map((action) =>
      defineRoute({
        method: 'post',
        path: `/authorities/:kind/:id/${action}`,
        summary: ACTIONS[action].summary,
        tags: ['authorities'],
        params: actionParams,
        body: actionBody,
        responses: { 200: { description: 'the authority after the change', schema: oneAuthority } },
        handler: async (c, { params, body }) => {
          const authority = await changeAuthority(
            deps,
            { ...params, action, force: body.force === true },
            { actor: c.var.actor, ...(body.reason === undefined ? {} : { reason: body.reason }) },
          );
          return respondJson(c, oneAuthority, { authority: authorityView(authority) });
        },
      }),
    ),
  ]);
}
