// Invitations resource of the admin API (federation): ours to hand out (a signed document naming our
// endpoint and bundle), and partners' to accept (a pending relationship results). Both are audited.
import type { Hono } from 'hono';
import { z } from 'zod';
import { marshalBundle } from '../../bundle/index.js';
import { acceptInvite, createInvite } from '../../federation/index.js';
import { validationError } from '../http-errors.js';
import {
  createResourceApp,
  defineRoute,
  respondJson,
  type AdminEnv,
  type Route,
  type RouteTable,
} from '../routes.js';
import type { AdminDeps } from './deps.js';
import { relationshipView } from './relationships.js';
import { acceptedInvite, inviteSchema } from './responses.js';

export type InvitesDeps = Pick<AdminDeps, 'ca' | 'federation' | 'audit' | 'endpoint' | 'now'>;

const acceptBody = z
  .object({
    invite: z
      .string()
      .max(2 * 1024 * 1024)
      .describe('the invitation document, as JSON text'),
    caPem: z
      .string()
      .max(256 * 1024)
      .optional()
      .describe('https_web partners on a private Web PKI: the CA for their endpoint (FED-22)'),
    reason: z.string().max(500).optional(),
  })
  .strict();

function createRoute(deps: InvitesDeps): Route {
  return defineRoute({
    method: 'post',
    path: '/invites',
    summary:
      'Create an invitation for a partner (a signed document naming our endpoint and bundle)',
    tags: ['invites'],
    body: z.object({ ttlSeconds: z.number().int().positive().optional() }).strict(),
    responses: { 201: { description: 'the invitation document', schema: inviteSchema } },
    handler: async (c, { body }) => {
      const endpoint = deps.endpoint();
      const ttlSeconds = Math.min(
        body.ttlSeconds ?? deps.ca.options.maxJwtSvidTtlSeconds,
        deps.ca.options.maxJwtSvidTtlSeconds,
      );
      const invite = await createInvite(
        async (request) => {
          const issued = await deps.ca.issueJwtSvid(request);
          return { token: issued.token, expiresAt: issued.expiresAt };
        },
        {
          trustDomain: deps.ca.trustDomain,
          bundleEndpointUrl: endpoint.url,
          profile: endpoint.profile,
          endpointSpiffeId: endpoint.spiffeId,
          bundle: marshalBundle(deps.ca.localBundle()).toString('utf8'),
          ttlSeconds,
        },
      );
      await deps.audit({
        type: 'invite.created',
        actor: c.var.actor,
        details: { bundleSha256: invite.bundleSha256, expiresAt: invite.expiresAt },
      });
      return respondJson(c, inviteSchema, invite, 201);
    },
  });
}

function acceptRoute(deps: InvitesDeps): Route {
  return defineRoute({
    method: 'post',
    path: '/invites/accept',
    summary: 'Accept a partner invitation (creates a pending relationship)',
    tags: ['invites'],
    body: acceptBody,
    responses: { 201: { description: 'the pending relationship', schema: acceptedInvite } },
    handler: async (c, { body }) => {
      const { input, parameters } = acceptInvite(body.invite, {
        ownTrustDomain: deps.ca.trustDomain,
        now: new Date(deps.now()),
      });
      if (body.caPem !== undefined && input.profile !== 'https_web') {
        throw validationError('caPem applies to https_web invites only');
      }
      await deps.federation.create(
        body.caPem === undefined ? input : { ...input, caPem: body.caPem },
        {
          actor: c.var.actor,
          source: 'invite',
          reason: body.reason ?? `invite with bundle sha256 ${parameters.bundleSha256}`,
        },
      );
      await deps.audit({
        type: 'invite.accepted',
        actor: c.var.actor,
        trustDomain: parameters.trustDomain,
        details: {
          url: parameters.bundleEndpointUrl,
          profile: parameters.profile,
          bundleSha256: parameters.bundleSha256,
        },
      });
      return respondJson(
        c,
        acceptedInvite,
        {
          relationship: relationshipView(await deps.federation.get(parameters.trustDomain)),
          bundleSha256: parameters.bundleSha256,
        },
        201,
      );
    },
  });
}

export function createInvitesApp(deps: InvitesDeps, table: RouteTable): Hono<AdminEnv> {
  return createResourceApp(table, [createRoute(deps), acceptRoute(deps)]);
}
