// Every JSON response of the admin API as a zod schema (documented in /v1/admin/openapi.json; handlers
// type-check against them through respondJson) and as a type (z.output), which the CLI imports.
import { z } from 'zod';
import { ADMIN_ROLES } from '../../access/index.js';
import { AUTHORITY_KINDS, AUTHORITY_STATES, KEY_TYPES } from '../../ca/index.js';
import { INVITE_FORMAT } from '../../federation/index.js';

export const isoTime = z.iso.datetime();
export const kindSchema = z.enum(AUTHORITY_KINDS);
export const profileSchema = z.enum(['https_web', 'https_spiffe']);
const relationshipStateSchema = z.enum(['pending', 'active', 'suspended', 'rejected']);
const bundleOutcome = z.enum(['created', 'replaced', 'unchanged']);

// ---- health ------------------------------------------------------------------------------------

const readySchema = z.object({
  status: z.enum(['ready', 'not ready']),
  checks: z.record(z.string(), z.string()),
});

export const statusSchemas = {
  health: z.object({ status: z.literal('ok') }),
  ready: readySchema,
  endpointReady: readySchema.extend({
    readyInSeconds: z
      .number()
      .int()
      .optional()
      .describe('when only time is missing: seconds until ready (also sent as Retry-After)'),
  }),
};

// ---- authorities and SVIDs -----------------------------------------------------------------------

export const authoritySchema = z.object({
  id: z.string(),
  kind: kindSchema,
  keyType: z.enum(KEY_TYPES),
  state: z.enum(AUTHORITY_STATES),
  createdAt: isoTime,
  publishedAt: isoTime,
  activatedAt: isoTime.nullable(),
  retiredAt: isoTime.nullable(),
  taintedAt: isoTime.nullable(),
  revokedAt: isoTime.nullable(),
  notBefore: isoTime,
  notAfter: isoTime,
  signedUntil: isoTime.nullable(),
  upstream: z.boolean(),
  fingerprintSha256: z.string().nullable(),
  certificatePem: z.string().nullable(),
});
export const oneAuthority = z.object({ authority: authoritySchema });
export const authorityList = z.object({ authorities: z.array(authoritySchema) });

export const x509SvidResponse = z.object({
  spiffeId: z.string(),
  chainPem: z.string(),
  notAfter: isoTime,
  serial: z.string(),
  bundlePem: z.string(),
});
export const jwtSvidResponse = z.object({
  spiffeId: z.string(),
  token: z.string(),
  expiresAt: isoTime,
});

// ---- bundles -------------------------------------------------------------------------------------

export const bundleList = z.object({
  bundles: z.array(
    z.discriminatedUnion('own', [
      z.object({
        trustDomain: z.string(),
        own: z.literal(true),
        sequence: z.string().nullable(),
        x509Authorities: z.number().int(),
        jwtAuthorities: z.number().int(),
      }),
      z.object({
        trustDomain: z.string(),
        own: z.literal(false),
        sequence: z.string().nullable(),
        digest: z.string(),
        fetchedAt: isoTime,
        sourceUrl: z.string().nullable(),
        trusted: z.boolean(),
      }),
    ]),
  ),
});
export const bundleHistory = z.object({
  history: z.array(
    z.object({
      raw: z.string(),
      sequence: z.string().nullable(),
      digest: z.string(),
      fetchedAtMs: z.number(),
      sourceUrl: z.string().nullable(),
    }),
  ),
});

// ---- relationships and invitations ---------------------------------------------------------------

const fetchLogSchema = z
  .object({
    url: z.string(),
    profile: profileSchema,
    redirects: z.array(z.string()),
    peer: z.object({ identity: z.string(), fingerprintSha256: z.string() }).nullable(),
    status: z.number().int().nullable(),
    bytes: z.number(),
    durationMs: z.number(),
  })
  .describe('the last fetch, for forensics (FED-27)');
export const relationshipSchema = z.object({
  trustDomain: z.string(),
  url: z.string(),
  profile: profileSchema,
  endpointSpiffeId: z.string().nullable(),
  hasBootstrapBundle: z.boolean(),
  hasCaPem: z.boolean(),
  followRedirects: z.boolean(),
  state: relationshipStateSchema,
  source: z.enum(['api', 'config', 'invite']),
  createdAt: isoTime,
  updatedAt: isoTime,
  transitions: z.array(
    z.object({
      action: z.enum(['create', 'approve', 'reject', 'suspend', 'resume', 'update', 'force']),
      from: relationshipStateSchema.nullable(),
      to: relationshipStateSchema,
      actor: z.string(),
      atMs: z.number(),
      reason: z.string(),
      at: isoTime,
    }),
  ),
  version: z.number().int(),
  approvals: z
    .object({
      required: z.number().int(),
      count: z.number().int(),
      by: z.array(z.object({ actor: z.string(), at: isoTime, reason: z.string() })),
    })
    .describe('two-person rule: approvals made while pending, and how many are required'),
  status: z.object({
    lastAttemptAtMs: z.number().nullable(),
    lastSuccessAtMs: z.number().nullable(),
    lastError: z.object({ code: z.string(), message: z.string(), atMs: z.number() }).nullable(),
    consecutiveFailures: z.number().int(),
    nextRefreshAtMs: z.number(),
    activeSinceMs: z.number(),
    sequence: z.string().nullable(),
    digest: z.string().nullable(),
    refreshHintSeconds: z.number().nullable(),
    earliestAuthorityExpiryMs: z.number().nullable(),
    lastFetch: fetchLogSchema.nullable(),
    stale: z.boolean(),
  }),
});
export const oneRelationship = z.object({ relationship: relationshipSchema });
export const relationshipList = z.object({ relationships: z.array(relationshipSchema) });
export const refreshResponse = z.object({
  ok: z.boolean(),
  outcome: bundleOutcome.nullable(),
  sequence: z.string().nullable(),
  error: z.object({ code: z.string(), message: z.string() }).nullable(),
  fetch: fetchLogSchema.nullable(),
});
export const forceBundleResponse = z.object({
  outcome: bundleOutcome,
  sequence: z.string().nullable(),
  digest: z.string(),
  /** The relationship's state after: `pending` again under the two-person rule. */
  state: relationshipStateSchema,
});

export const inviteSchema = z.object({
  format: z.literal(INVITE_FORMAT),
  trustDomain: z.string(),
  bundleSha256: z.string(),
  expiresAt: z.string(),
  token: z.string(),
});
export const acceptedInvite = z.object({
  relationship: relationshipSchema,
  bundleSha256: z.string(),
});

// ---- audit ---------------------------------------------------------------------------------------

const auditEventSchema = z.object({
  id: z.number().int(),
  time: z.number(),
  type: z.string(),
  actor: z.string(),
  trustDomain: z.string().nullable(),
  data: z.record(z.string(), z.unknown()),
  previousHash: z.string().nullable(),
  hash: z.string(),
});
export const auditEvents = z.object({ events: z.array(auditEventSchema) });
export const auditVerification = z.object({
  ok: z.boolean(),
  checked: z.number().int(),
  brokenAt: z.object({ id: z.number().int(), reason: z.string() }).optional(),
  head: z.object({ id: z.number().int(), hash: z.string() }).optional(),
  /** The anchor asked for, present when it was checked and held. */
  anchor: z.object({ id: z.number().int(), hash: z.string() }).optional(),
  /** What the stored `audit.trimmed` events say was dropped past the audit cap. */
  trimmed: z
    .object({ trims: z.number().int(), events: z.number().int(), throughId: z.number().int() })
    .optional(),
});

// ---- registration: entries and join tokens -------------------------------------------------------

export const entrySchema = z.object({
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
export const oneEntry = z.object({ entry: entrySchema });
export const entryList = z.object({ entries: z.array(entrySchema) });
export const updatedEntry = z.object({ entry: entrySchema, changed: z.array(z.string()) });
export const deletedEntry = z.object({ deleted: z.string() });

const tokenSchema = z.object({
  tokenId: z.string(),
  entryId: z.string(),
  expiresAt: z.string(),
  createdBy: z.string(),
});
export const tokenList = z.object({ tokens: z.array(tokenSchema) });
export const createdToken = z.object({
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
export const revokedToken = z.object({ revoked: z.string() });

// ---- named admins --------------------------------------------------------------------------------

const adminSchema = z.object({
  name: z.string(),
  role: z.enum(ADMIN_ROLES),
  createdAtMs: z.number(),
  createdBy: z.string(),
  addedBy: z
    .string()
    .nullable()
    .describe('who added this admin (two-person rule); null when stored before it was recorded'),
  rotatedAtMs: z.number().nullable(),
});
export const whoami = z.object({
  name: z.string(),
  role: z.enum(ADMIN_ROLES),
  via: z.enum(['root', 'token', 'mtls']),
  actor: z.string(),
});
export const adminList = z.object({ admins: z.array(adminSchema) });
export const oneAdmin = z.object({ admin: adminSchema });
export const adminWithToken = z.object({
  admin: adminSchema,
  token: z.string().describe('the personal token: shown once, stored only as a hash'),
});
export const removedAdmin = z.object({ removed: z.string(), sessionsEnded: z.number().int() });

// ---- the types (what a client reads) ----------------------------------------------------------------

export type ReadyResponse = z.output<typeof statusSchemas.endpointReady>;
export type AuthorityJson = z.output<typeof authoritySchema>;
export type AuthorityListResponse = z.output<typeof authorityList>;
export type OneAuthorityResponse = z.output<typeof oneAuthority>;
export type X509SvidResponse = z.output<typeof x509SvidResponse>;
export type JwtSvidResponse = z.output<typeof jwtSvidResponse>;
export type BundleListResponse = z.output<typeof bundleList>;
export type BundleHistoryResponse = z.output<typeof bundleHistory>;
export type RelationshipJson = z.output<typeof relationshipSchema>;
export type OneRelationshipResponse = z.output<typeof oneRelationship>;
export type RelationshipListResponse = z.output<typeof relationshipList>;
export type RefreshResponse = z.output<typeof refreshResponse>;
export type ForceBundleResponse = z.output<typeof forceBundleResponse>;
export type InviteJson = z.output<typeof inviteSchema>;
export type AcceptedInviteResponse = z.output<typeof acceptedInvite>;
export type AuditEventJson = z.output<typeof auditEventSchema>;
export type AuditEventsResponse = z.output<typeof auditEvents>;
export type AuditVerificationResponse = z.output<typeof auditVerification>;
export type EntryJson = z.output<typeof entrySchema>;
export type OneEntryResponse = z.output<typeof oneEntry>;
export type EntryListResponse = z.output<typeof entryList>;
export type UpdatedEntryResponse = z.output<typeof updatedEntry>;
export type DeletedEntryResponse = z.output<typeof deletedEntry>;
export type JoinTokenJson = z.output<typeof tokenSchema>;
export type TokenListResponse = z.output<typeof tokenList>;
export type CreatedTokenResponse = z.output<typeof createdToken>;
export type RevokedTokenResponse = z.output<typeof revokedToken>;
export type WhoamiResponse = z.output<typeof whoami>;
export type AdminJson = z.output<typeof adminSchema>;
export type AdminListResponse = z.output<typeof adminList>;
export type OneAdminResponse = z.output<typeof oneAdmin>;
export type AdminWithTokenResponse = z.output<typeof adminWithToken>;
export type RemovedAdminResponse = z.output<typeof removedAdmin>;
