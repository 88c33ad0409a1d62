// The broker configuration schema (broker.yaml). Every key is documented here and in the README.
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { parseSpiffeId, parseTrustDomain } from '../spiffeid/index.js';
import { durationSeconds, formatDuration } from './duration.js';

const trustDomainName = z.string().superRefine((value, ctx) => {
  try {
    parseTrustDomain(value);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message });
  }
});

const spiffeIdText = z.string().superRefine((value, ctx) => {
  try {
    parseSpiffeId(value);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message });
  }
});

/** A SPIFFE ID an X509-SVID can carry: one with a path (X509-2), not a trust domain ID. */
const svidIdText = z.string().superRefine((value, ctx) => {
  try {
    if (parseSpiffeId(value).isTrustDomainId) {
      ctx.addIssue({
        code: 'custom',
        message: `"${value}" has no path; an X509-SVID's SPIFFE ID always has one (X509-2)`,
      });
    }
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message });
  }
});

/** `host:port`, host an IP literal or a name; port 0 asks the OS for a free one (tests). */
const listenAddress = z
  .string()
  .regex(
    /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/,
    'expected host:port, e.g. 127.0.0.1:8445',
  )
  .refine(
    (value) => Number(value.slice(value.lastIndexOf(':') + 1)) <= 65535,
    'port must be 0..65535',
  );

/**
 * `ca.csrCheckWorkers` when the config leaves it out: one fewer than the cores, at least 1: the
 * CA's signing threads on the ecverify addon, or its CSR-check workers without it. The
 * event loop serves TLS, HTTP, signing and the audit log; with a worker per core, the checks take
 * its CPU away while requests wait for it (bench/agent-renewals.ts on 2 cores: API renewals about
 * 5% faster with 1 worker than with 2).
 */
export function defaultCsrCheckWorkers(cores: number = availableParallelism()): number {
  return Math.max(1, cores - 1);
}

const keyType = z.enum(['ec-p256', 'ec-p384', 'rsa-2048', 'rsa-4096']);

const httpsUrl = z.string().superRefine((value, ctx) => {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    ctx.addIssue({ code: 'custom', message: `"${value}" is not a URL` });
    return;
  }
  // FED-4: https only, no userinfo.
  if (url.protocol !== 'https:')
    ctx.addIssue({ code: 'custom', message: 'bundle endpoint URLs must use https' });
  if (url.username !== '' || url.password !== '') {
    ctx.addIssue({ code: 'custom', message: 'bundle endpoint URLs must not contain userinfo' });
  }
});

/** agentApi.url: https, no userinfo, no path beyond `/` (agents append the API paths). */
const agentApiUrl = z.string().superRefine((value, ctx) => {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    ctx.addIssue({
      code: 'custom',
      message: `"${value}" is not a URL, e.g. https://broker.example:8444`,
    });
    return;
  }
  if (url.protocol !== 'https:')
    ctx.addIssue({ code: 'custom', message: 'the agent API URL must use https' });
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') {
    ctx.addIssue({
      code: 'custom',
      message: 'the agent API URL takes no userinfo, query or fragment',
    });
  }
});

/** Defaults of one listener's connection limits (issue 15): each listener states its own. */
interface ListenerLimitDefaults {
  readonly maxConnections: number;
  readonly maxConnectionsPerAddress: number;
  readonly requestTimeout: number;
}

/**
 * Connection limits of one listener. The defaults of the three listeners add up to 832
 * connections, well under the common 1,024 file-descriptor limit, leaving room for store files,
 * Redis and logs: raise them together with the process's `LimitNOFILE`.
 */
function listenerLimits(defaults: ListenerLimitDefaults) {
  return z
    .object({
      /** Connections this listener holds at once; further ones are closed on accept. */
      maxConnections: z.number().int().min(1).max(1_000_000).default(defaults.maxConnections),
      /** Connections one remote address holds at once; further ones are closed on accept. */
      maxConnectionsPerAddress: z
        .number()
        .int()
        .min(1)
        .max(1_000_000)
        .default(defaults.maxConnectionsPerAddress),
      /** A TLS handshake must finish within this (Node's default, 120 s, let idle sockets pile up). */
      handshakeTimeout: durationSeconds(1, 300).default(10),
      /** The request line and headers must arrive within this. */
      headersTimeout: durationSeconds(1, 300).default(10),
      /** The whole request (headers and body) must arrive within this. */
      requestTimeout: durationSeconds(1, 3600).default(defaults.requestTimeout),
      /** An idle keep-alive connection is closed after this. */
      keepAliveTimeout: durationSeconds(1, 3600).default(30),
      /** A connection with no traffic either way (e.g. before its first request) is closed after this. */
      idleTimeout: durationSeconds(1, 3600).default(60),
    })
    .strict()
    .refine((limits) => limits.headersTimeout <= limits.requestTimeout, {
      message: 'headersTimeout must not exceed requestTimeout',
      path: ['headersTimeout'],
    })
    .refine((limits) => limits.maxConnectionsPerAddress <= limits.maxConnections, {
      message: 'maxConnectionsPerAddress must not exceed maxConnections',
      path: ['maxConnectionsPerAddress'],
    });
}

const BUNDLE_ENDPOINT_LIMITS = listenerLimits({
  maxConnections: 256,
  maxConnectionsPerAddress: 16,
  requestTimeout: 15,
});
const AGENT_API_LIMITS = listenerLimits({
  maxConnections: 512,
  maxConnectionsPerAddress: 64,
  requestTimeout: 30,
});
const ADMIN_API_LIMITS = listenerLimits({
  maxConnections: 64,
  maxConnectionsPerAddress: 32,
  requestTimeout: 30,
});

/** Bundle watch streams (`GET /v1/agent/bundles/watch`) of the agent API. */
const watchSchema = z
  .object({
    /** Open watch streams one agent (SPIFFE ID and instance) may hold; the next gets 429. */
    maxStreamsPerAgent: z.number().int().min(1).max(10_000).default(4),
    /** Open watch streams in all; must stay below agentApi.limits.maxConnections. */
    maxStreams: z.number().int().min(1).max(1_000_000).default(256),
    /** Mean interval of the keep-alive comment; each stream's is jittered by ±50%. */
    heartbeat: durationSeconds(1, 300).default(15),
  })
  .strict();

export const storeSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('file') }).strict(),
  z
    .object({
      kind: z.literal('redis'),
      /** redis://[:password@]host:port/db (standalone). */
      url: z.string().optional(),
      /** Sentinel: the master group name plus sentinel addresses. */
      sentinel: z
        .object({ name: z.string(), nodes: z.array(listenAddress).min(1) })
        .strict()
        .optional(),
      /** Cluster: seed nodes. */
      cluster: z
        .object({ nodes: z.array(listenAddress).min(1) })
        .strict()
        .optional(),
      keyPrefix: z.string().default('fedbroker:'),
      commandTimeout: durationSeconds(1, 60).default(2),
    })
    .strict(),
]);

export const relationshipSchema = z
  .object({
    trustDomain: trustDomainName,
    url: httpsUrl,
    profile: z.enum(['https_web', 'https_spiffe']),
    /** https_spiffe: the SPIFFE ID the endpoint must present (FED-23). */
    endpointSpiffeId: svidIdText.optional(),
    /** https_spiffe: bootstrap bundle file (SPIFFE JSON or PEM), FED-1. */
    bundleFile: z.string().optional(),
    /** https_web: extra CA certificates (PEM) for a private Web PKI, FED-22. */
    caFile: z.string().optional(),
  })
  .strict()
  .superRefine((value, ctx) => {
    if (value.profile === 'https_spiffe' && value.endpointSpiffeId === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['endpointSpiffeId'],
        message: 'https_spiffe needs endpointSpiffeId',
      });
    }
    if (
      value.profile === 'https_web' &&
      (value.endpointSpiffeId !== undefined || value.bundleFile !== undefined)
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['profile'],
        message: 'https_web takes no endpointSpiffeId or bundleFile (FED-1, FED-2)',
      });
    }
  });

export const configSchema = z
  .object({
    /** Our trust domain, a bare name (ID-13). */
    trustDomain: z
      .string({
        error: (issue) =>
          issue.input === undefined
            ? 'missing: add `trustDomain: your-org.example` (a bare name, no spiffe://) or write a new file with fedbroker init --trust-domain'
            : 'must be a bare name such as logistics.example',
      })
      .pipe(trustDomainName),
    /** Data directory (CA keys, embedded store, admin token); relative paths are from the config file. */
    dataDir: z.string().default('./data'),
    logLevel: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
    store: storeSchema.default({ kind: 'file' }),
    ca: z
      .object({
        keyType: keyType.default('ec-p256'),
        jwtKeyType: keyType.default('ec-p256'),
        caTtl: durationSeconds(3600, 10 * 365 * 86400).default(86400),
        x509SvidTtl: durationSeconds(60, 30 * 86400).default(3600),
        maxX509SvidTtl: durationSeconds(60, 30 * 86400).default(86400),
        jwtSvidTtl: durationSeconds(30, 86400).default(300),
        maxJwtSvidTtl: durationSeconds(30, 86400).default(3600),
        upstream: z.object({ certFile: z.string(), keyFile: z.string() }).strict().optional(),
        /**
         * Worker threads that check CSR signatures under load. Default: one fewer than the cores
         * (at least 1), leaving a core for the event loop that serves TLS and HTTP.
         */
        csrCheckWorkers: z.number().int().min(1).max(64).optional(),
        /**
         * X509-14: our CA certificates permit URI names of our trust domain only (critical
         * nameConstraints). Off by default: many X.509 stacks refuse URI name constraints.
         */
        uriNameConstraints: z.boolean().default(false),
      })
      .strict()
      .default({
        keyType: 'ec-p256',
        jwtKeyType: 'ec-p256',
        caTtl: 86400,
        x509SvidTtl: 3600,
        maxX509SvidTtl: 86400,
        jwtSvidTtl: 300,
        maxJwtSvidTtl: 3600,
        uriNameConstraints: false,
      }),
    bundleEndpoint: z
      .object({
        listen: listenAddress.default('0.0.0.0:8443'),
        profile: z.enum(['https_web', 'https_spiffe']).default('https_spiffe'),
        /** The public URL partners fetch, advertised in invitations. */
        url: httpsUrl.optional(),
        /** https_spiffe: our endpoint's SPIFFE ID (default spiffe://<td>/spiffe/bundle-endpoint). */
        spiffeId: svidIdText.optional(),
        /** https_web: certificate chain and key files (PEM), reloaded when they change. */
        certFile: z.string().optional(),
        keyFile: z.string().optional(),
        /** spiffe_refresh_hint we publish (FED-52). */
        refreshHint: durationSeconds(30, 86400).default(300),
        limits: BUNDLE_ENDPOINT_LIMITS.prefault({}),
        /**
         * Serve the endpoint from its own worker thread (issue 15), so a request flood on the admin
         * or agent API cannot starve it; false serves it on the main event loop.
         */
        isolated: z.boolean().default(true),
      })
      .strict()
      .prefault({}),
    agentApi: z
      .object({
        listen: listenAddress.default('0.0.0.0:8444'),
        // Issue 18 (public addresses): what join tokens and the banner tell agents; `listen` is
        // only where we bind (behind a load balancer or NAT the two differ).
        /** The public https URL agents reach this API at; default: the listen address. */
        url: agentApiUrl.optional(),
        limits: AGENT_API_LIMITS.prefault({}),
        watch: watchSchema.prefault({}),
      })
      .strict()
      .refine((api) => api.watch.heartbeat * 1.5 < api.limits.idleTimeout, {
        message: 'watch.heartbeat (jittered up to 1.5x) must stay below limits.idleTimeout',
        path: ['watch', 'heartbeat'],
      })
      .refine((api) => api.watch.maxStreams < api.limits.maxConnections, {
        message:
          'watch.maxStreams must be below limits.maxConnections (renewals need connections too)',
        path: ['watch', 'maxStreams'],
      })
      .prefault({}),
    adminApi: z
      .object({
        listen: listenAddress.default('127.0.0.1:8445'),
        /** File holding the admin bearer token; generated (mode 0600) at first start when absent. */
        tokenFile: z.string().optional(),
        /**
         * SPIFFE IDs allowed to administer over mTLS (needs `tls: true`): a bare ID is an `admin`
         * named by the ID; `{ id, name, role }` gives it a name (the audit actor `admin:<name>`)
         * and a role (`admin` or `viewer`).
         */
        adminIds: z
          .array(
            z.union([
              spiffeIdText,
              z
                .object({
                  id: spiffeIdText,
                  name: z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/),
                  role: z.enum(['admin', 'viewer']).default('admin'),
                })
                .strict(),
            ]),
          )
          .default([]),
        /** Console sessions end after this many idle minutes. */
        consoleIdleMinutes: z.number().int().min(1).max(1440).default(15),
        /** Console sessions end this many hours after sign-in, however active. */
        consoleSessionHours: z.number().int().min(1).max(168).default(12),
        /**
         * Serve the admin API over TLS with the broker's own X509-SVID
         * (`spiffe://<td>/fedbroker/admin-api`), asking for a client X509-SVID: callers then use
         * the bearer token or mTLS with an ID in `adminIds`. Default false (plain HTTP on loopback).
         */
        tls: z.boolean().default(false),
        limits: ADMIN_API_LIMITS.prefault({}),
      })
      .strict()
      .prefault({}),
    federation: z
      .object({
        /** Static relationships: active at start (issue 5). */
        relationships: z.array(relationshipSchema).default([]),
        /**
         * Two-person rule (issue 19): how many different admins must approve a pending
         * relationship before it turns active. Default 1.
         */
        requiredApprovals: z.number().int().min(1).max(5).default(1),
      })
      .strict()
      .default({ relationships: [], requiredApprovals: 1 }),
  })
  .strict()
  .superRefine((value, ctx) => {
    checkCaTtl(value, ctx);
    if (value.bundleEndpoint.profile === 'https_web') {
      if (
        value.bundleEndpoint.certFile === undefined ||
        value.bundleEndpoint.keyFile === undefined
      ) {
        ctx.addIssue({
          code: 'custom',
          path: ['bundleEndpoint'],
          message: 'https_web needs certFile and keyFile',
        });
      }
    }
    // ID-15: no relationship for our own trust domain, no duplicates.
    const seen = new Set<string>();
    value.federation.relationships.forEach((relationship, index) => {
      if (relationship.trustDomain === value.trustDomain) {
        ctx.addIssue({
          code: 'custom',
          path: ['federation', 'relationships', index, 'trustDomain'],
          message: 'a relationship for our own trust domain is not allowed (ID-15)',
        });
      }
      if (seen.has(relationship.trustDomain)) {
        ctx.addIssue({
          code: 'custom',
          path: ['federation', 'relationships', index, 'trustDomain'],
          message: `duplicate relationship for "${relationship.trustDomain}" (ID-15)`,
        });
      }
      seen.add(relationship.trustDomain);
    });
  });

/**
 * The CA prepares its successor at half-life and activates it five refresh hints later (FED-50);
 * the current authority must still cover a full SVID then. The CA checks the same rule in
 * seconds; here it is said in config names and durations (issue 18).
 */
const ACTIVATION_LEAD_REFRESH_HINTS = 5;

function checkCaTtl(
  value: {
    ca: { caTtl: number; x509SvidTtl: number; jwtSvidTtl: number };
    bundleEndpoint: { refreshHint: number };
  },
  ctx: z.RefinementCtx,
): void {
  const { caTtl, x509SvidTtl, jwtSvidTtl } = value.ca;
  const needed =
    2 *
    (ACTIVATION_LEAD_REFRESH_HINTS * value.bundleEndpoint.refreshHint +
      Math.max(x509SvidTtl, jwtSvidTtl));
  if (caTtl < needed) {
    ctx.addIssue({
      code: 'custom',
      path: ['ca', 'caTtl'],
      message: `${formatDuration(caTtl)} is too short: rotation needs at least 2 × (5 × bundleEndpoint.refreshHint + the longer of ca.x509SvidTtl and ca.jwtSvidTtl) = ${formatDuration(needed)}; raise ca.caTtl to ${formatDuration(needed)} or more, or lower ca.x509SvidTtl / bundleEndpoint.refreshHint`,
    });
  }
}

export type BrokerConfig = z.output<typeof configSchema>;
export type RelationshipConfig = z.output<typeof relationshipSchema>;
export type StoreConfig = z.output<typeof storeSchema>;
export type ListenerLimitsConfig = z.output<typeof BUNDLE_ENDPOINT_LIMITS>;
export type WatchConfig = z.output<typeof watchSchema>;
