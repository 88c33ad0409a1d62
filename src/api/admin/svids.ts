// SVIDs resource of the admin API: X509-SVIDs and JWT-SVIDs minted by an admin. The CLI generates the
// key and sends a CSR; keys never travel. Each issue is audited before it is answered.
import type { Hono } from 'hono';
import { z } from 'zod';
import { marshalPem } from '../../bundle/index.js';
import { isDnsName } from '../../ca/index.js';
import { csrDer } from '../csr-body.js';
import {
  createResourceApp,
  defineRoute,
  respondJson,
  type AdminEnv,
  type RouteTable,
} from '../routes.js';
import type { AdminDeps } from './deps.js';
import { jwtSvidResponse, x509SvidResponse } from './responses.js';

export type SvidsDeps = Pick<AdminDeps, 'ca' | 'audit'>;

const x509Body = z
  .object({
    spiffeId: z.string().max(2048),
    csr: z
      .string()
      .max(64 * 1024)
      .describe('PKCS#10 as PEM or base64 DER'),
    ttlSeconds: z.number().int().positive().optional(),
    dnsNames: z.array(z.string().max(253).refine(isDnsName, 'not a DNS name')).max(32).optional(),
  })
  .strict();

const jwtBody = z
  .object({
    spiffeId: z.string().max(2048),
    audience: z.array(z.string().min(1).max(512)).min(1).max(16),
    ttlSeconds: z.number().int().positive().optional(),
  })
  .strict();

export function createSvidsApp(deps: SvidsDeps, table: RouteTable): Hono<AdminEnv> {
  return createResourceApp(table, [
    defineRoute({
      method: 'post',
      path: '/svids/x509',
      summary: 'Sign an X509-SVID for a CSR',
      tags: ['svids'],
      body: x509Body,
      responses: { 200: { description: 'the signed chain', schema: x509SvidResponse } },
      handler: async (c, { body }) => {
        const issued = await deps.ca.issueX509Svid({
          spiffeId: body.spiffeId,
          csr: csrDer(body.csr),
          ...(body.ttlSeconds === undefined ? {} : { ttlSeconds: body.ttlSeconds }),
          ...(body.dnsNames === undefined ? {} : { dnsNames: body.dnsNames }),
        });
        await deps.audit({
          type: 'svid.issued',
          actor: c.var.actor,
          details: {
            kind: 'x509',
            spiffeId: issued.spiffeId.toString(),
            serial: issued.serialHex,
            notAfter: issued.notAfter.toISOString(),
          },
        });
        return respondJson(c, x509SvidResponse, {
          spiffeId: issued.spiffeId.toString(),
          chainPem: marshalPem(issued.chainDer),
          notAfter: issued.notAfter.toISOString(),
          serial: issued.serialHex,
          bundlePem: marshalPem(deps.ca.localBundle().x509Authorities.map((a) => a.der)),
        });
      },
    }),
    defineRoute({
      method: 'post',
      path: '/svids/jwt',
      summary: 'Sign a JWT-SVID',
      tags: ['svids'],
      body: jwtBody,
      responses: { 200: { description: 'the signed token', schema: jwtSvidResponse } },
      handler: async (c, { body }) => {
        const issued = await deps.ca.issueJwtSvid({
          spiffeId: body.spiffeId,
          audience: body.audience,
          ...(body.ttlSeconds === undefined ? {} : { ttlSeconds: body.ttlSeconds }),
        });
        await deps.audit({
          type: 'svid.issued',
          actor: c.var.actor,
          details: {
            kind: 'jwt',
            spiffeId: issued.spiffeId.toString(),
            kid: issued.kid,
            audience: body.audience,
            expiresAt: issued.expiresAt.toISOString(),
          },
        });
        return respondJson(c, jwtSvidResponse, {
          spiffeId: issued.spiffeId.toString(),
          token: issued.token,
          expiresAt: issued.expiresAt.toISOString(),
        });
      },
    }),
  ]);
}
