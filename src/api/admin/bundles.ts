// Bundles resource of the admin API: our bundle and every partner bundle held (summaries, one as
// stored or as PEM, a partner's stored versions). GET /bundle, our bundle as published, is the CA's.
import type { Context, Hono } from 'hono';
import { marshalBundle, marshalPem, parsePemCertificates } from '../../bundle/index.js';
import { ApiError } from '../../errors.js';
import { parseTrustDomain } from '../../spiffeid/index.js';
import {
  createResourceApp,
  defineRoute,
  respondJson,
  type AdminEnv,
  type RouteTable,
} from '../routes.js';
import type { AdminDeps } from './deps.js';
import { bundleFormatQuery, tdParams } from './inputs.js';
import { bundleHistory, bundleList } from './responses.js';

export type BundlesDeps = Pick<AdminDeps, 'ca' | 'federation' | 'store'>;

/** How a bundle route answers: SPIFFE JSON or PEM, by the `format` query. */
export const BUNDLE_BODY = {
  description: 'the bundle, SPIFFE JSON or PEM by `format`',
  contentType: ['application/json', 'application/x-pem-file'],
} as const;

/** Our bundle as published, in the asked format. */
export function ownBundleResponse(
  c: Context,
  deps: Pick<AdminDeps, 'ca'>,
  format: 'spiffe' | 'pem',
): Response {
  const bundle = deps.ca.localBundle();
  if (format === 'pem') {
    return c.body(marshalPem(bundle.x509Authorities.map((a) => a.der)), 200, {
      'content-type': 'application/x-pem-file',
    });
  }
  return c.body(marshalBundle(bundle).toString('utf8'), 200, {
    'content-type': 'application/json',
  });
}

export function createBundlesApp(deps: BundlesDeps, table: RouteTable): Hono<AdminEnv> {
  return createResourceApp(table, [
    defineRoute({
      method: 'get',
      path: '/bundles',
      summary: 'Our bundle and every partner bundle held',
      tags: ['bundles'],
      responses: { 200: { description: 'bundle summaries', schema: bundleList } },
      handler: async (c) => {
        const own = deps.ca.localBundle();
        const partners = await deps.store.listBundles();
        return respondJson(c, bundleList, {
          bundles: [
            {
              trustDomain: own.trustDomain.name,
              own: true,
              sequence: own.sequence?.toString() ?? null,
              x509Authorities: own.x509Authorities.length,
              jwtAuthorities: own.jwtAuthorities.size,
            },
            ...partners.map((b) => ({
              trustDomain: b.trustDomain,
              own: false as const,
              sequence: b.sequence,
              digest: b.digest,
              fetchedAt: new Date(b.fetchedAt).toISOString(),
              sourceUrl: b.sourceUrl,
              trusted: deps.federation.trustedBundles([b.trustDomain]).size > 0,
            })),
          ],
        });
      },
    }),
    defineRoute({
      method: 'get',
      path: '/bundles/:td',
      summary: 'One bundle held (ours or a partner one), as stored or as PEM',
      tags: ['bundles'],
      params: tdParams,
      query: bundleFormatQuery,
      responses: { 200: BUNDLE_BODY },
      handler: async (c, { params, query }) => {
        const { td } = params;
        if (td === deps.ca.trustDomain.name) return ownBundleResponse(c, deps, query.format);
        const stored = await deps.store.getBundle(td);
        if (stored === undefined) {
          throw new ApiError('ERR_API_NOT_FOUND', `no bundle held for "${td}"`);
        }
        if (query.format === 'pem') {
          const bundle = deps.federation.trustedBundles([td]).get(parseTrustDomain(td));
          const ders =
            bundle?.x509Authorities.map((a) => a.der) ??
            (stored.raw.includes('-----BEGIN') ? parsePemCertificates(stored.raw) : []);
          return c.body(marshalPem(ders), 200, { 'content-type': 'application/x-pem-file' });
        }
        return c.body(stored.raw, 200, { 'content-type': 'application/json' });
      },
    }),
    defineRoute({
      method: 'get',
      path: '/bundles/:td/history',
      summary: 'Stored versions of a partner bundle, newest first',
      tags: ['bundles'],
      params: tdParams,
      responses: { 200: { description: 'versions', schema: bundleHistory } },
      handler: async (c, { params }) =>
        respondJson(c, bundleHistory, { history: await deps.federation.history(params.td) }),
    }),
  ]);
}
