// The node agent's routes on the agent API (issue 17, /work/briefs/contract17.md): a caller holding
// an SVID of a NODE entry gets its workload entries (list and watch, with the bundles they need)
// and has its workloads' CSRs signed and JWT-SVIDs minted, only for entries parented to it.
import { createHash } from 'node:crypto';
import { Hono, type MiddlewareHandler } from 'hono';
import { z } from 'zod';
import { ApiError, StoreError, isBrokerError } from '../errors.js';
import { fillIdPattern, nodeEntryView, parseSelector, type Entry } from '../registration/index.js';
import type { SpiffeId } from '../spiffeid/index.js';
import type { AgentDeps } from './agent-app.js';
import { bundleMap, bundlesWith } from './agent-bundles.js';
import { csrDer, MAX_CSR_TEXT } from './csr-body.js';
import { jwtSvidRequest, x509SvidRequest } from './entry-svid.js';
import { jsonText } from './json-text.js';
import { caPeerVerifier, type PeerVerifier } from './peer-svid.js';
import { parseJsonBody } from './validate.js';
import { serveWatch, type WatchSpec } from './sse-watch.js';
import { watchAgentKey } from './watch-limits.js';

export const NODE_ROUTES = [
  'GET /v1/agent/node/entries',
  'GET /v1/agent/node/watch',
  'POST /v1/agent/node/x509svid',
  'POST /v1/agent/node/jwtsvid',
] as const;

/** Audiences one node JWT-SVID request may carry (JWT-5). */
export const MAX_NODE_JWT_AUDIENCES = 32;

/** The agent API's deps; `audit` rejects when the event was not stored, and issuance fails closed on it. */
export type NodeDeps = AgentDeps;

interface NodeIdentity {
  readonly spiffeId: SpiffeId;
  readonly entry: Entry;
  readonly svidExpiresAt: Date;
}

type Env = {
  Bindings: { incoming?: { socket?: unknown } };
  Variables: { requestId: string; node: NodeIdentity };
};

const INSTANCE_RE = /^[A-Za-z0-9_-]{22}$/;
const UINT32 = z.number().int().min(0).max(4_294_967_295);
const workloadSchema = z
  .object({
    pid: z.number().int().min(1).max(4_194_304),
    uid: UINT32,
    gid: UINT32,
    startTime: z.string().regex(/^[0-9]{1,20}$/),
    path: z.string().min(1).max(4096).optional(),
    sha256: z
      .string()
      .regex(/^[0-9a-fA-F]{64}$/)
      .optional(),
  })
  .strict();
const common = {
  entryId: z.string().min(1).max(64),
  instance: z.string().max(64).optional(),
  workload: workloadSchema,
};
const x509Schema = z.object({ ...common, csr: z.string().min(1).max(MAX_CSR_TEXT) }).strict();
const jwtSchema = z
  .object({
    ...common,
    audience: z.array(z.string().min(1).max(256)).min(1).max(MAX_NODE_JWT_AUDIENCES),
  })
  .strict();
type Workload = z.output<typeof workloadSchema>;

function notChild(): ApiError {
  // One answer whether the entry does not exist or belongs to another node: nothing leaks.
  return new ApiError(
    'ERR_API_NOT_CHILD_ENTRY',
    'no workload entry with this id is parented to the calling node',
  );
}

/**
 * The selectors the broker can check itself against what the node reports (uid, binary path and
 * sha256); user, group, gid (supplementary groups) and container selectors stay the node's to
 * match. A selector the report cannot satisfy refuses the request.
 */
function checkWorkload(entry: Entry, workload: Workload): void {
  for (const text of entry.selectors) {
    const { type, value } = parseSelector(text);
    const reported =
      type === 'unix:uid'
        ? String(workload.uid)
        : type === 'unix:path'
          ? workload.path
          : type === 'unix:sha256'
            ? workload.sha256?.toLowerCase()
            : value;
    if (reported !== value) {
      throw new ApiError(
        'ERR_API_WORKLOAD_MISMATCH',
        `the reported workload does not match selector type ${type} of entry "${entry.id}"`,
      );
    }
  }
}

/** The SPIFFE ID an issuance grants: the entry's fixed ID, or its template with the node's instance. */
function workloadId(entry: Entry, instance: string | undefined): SpiffeId {
  if (entry.pattern.kind === 'fixed') {
    if (instance !== undefined) {
      throw new ApiError('ERR_API_INSTANCE_INVALID', 'instance is only for template entries');
    }
    return entry.pattern.id;
  }
  if (instance === undefined || !INSTANCE_RE.test(instance)) {
    throw new ApiError(
      'ERR_API_INSTANCE_INVALID',
      'a template entry needs instance: 22 characters of [A-Za-z0-9_-]',
    );
  }
  return fillIdPattern(entry.pattern, instance);
}

/** Entries and bundles as sent to a node; `revision` names the entry list's content. */
function entriesState(entries: readonly Entry[]): { revision: string; entries: unknown[] } {
  const views = entries.map(nodeEntryView);
  const revision = createHash('sha256')
    .update(JSON.stringify(views))
    .digest('base64url')
    .slice(0, 22);
  return { revision, entries: views };
}

/** Only callers holding an SVID of a node entry pass (401 without a valid SVID, 403 otherwise). */
function requireNode(deps: NodeDeps, checkPeer: PeerVerifier): MiddlewareHandler<Env> {
  return async (c, next) => {
    const peer = checkPeer(c.env?.incoming?.socket);
    if (peer.kind === 'absent') {
      throw new ApiError(
        'ERR_API_UNAUTHENTICATED',
        'a client certificate (the node X509-SVID) is required',
      );
    }
    if (peer.kind === 'refused') {
      throw new ApiError(
        'ERR_API_UNAUTHENTICATED',
        `client certificate refused: ${peer.code}: ${peer.message}`,
      );
    }
    const found = await deps.registration.entryFor(peer.spiffeId);
    if (found === undefined || !found.entry.node) {
      throw new ApiError(
        'ERR_API_NOT_NODE',
        `"${peer.spiffeId.toString()}" is not a node agent (its entry is not a node entry)`,
      );
    }
    c.set('node', { spiffeId: peer.spiffeId, entry: found.entry, svidExpiresAt: peer.expiresAt });
    await next();
  };
}

/** The workload entries parented to the node (none from a test double without childEntries). */
async function childrenOf(deps: NodeDeps, node: NodeIdentity): Promise<Entry[]> {
  return (await deps.registration.childEntries?.(node.spiffeId, node.entry)) ?? [];
}

/**
 * The workload entry a request names, checked to be this node's child and to match what the node
 * reports; with the SPIFFE ID it grants (a template filled with the instance).
 */
async function grantFor(
  deps: NodeDeps,
  node: NodeIdentity,
  body: { entryId: string; instance?: string | undefined; workload: Workload },
): Promise<{ entry: Entry; spiffeId: SpiffeId }> {
  const entry = (await childrenOf(deps, node)).find((candidate) => candidate.id === body.entryId);
  if (entry === undefined) throw notChild();
  checkWorkload(entry, body.workload);
  return { entry, spiffeId: workloadId(entry, body.instance) };
}

/** Records an issuance; fails closed: an issuance we could not record is not handed out. */
async function auditIssued(
  deps: NodeDeps,
  node: NodeIdentity,
  details: Record<string, unknown>,
  workload: Workload,
): Promise<void> {
  try {
    await deps.audit({
      type: 'svid.issued',
      actor: node.spiffeId.toString(),
      details: {
        ...details,
        via: 'node',
        node: node.spiffeId.toString(),
        pid: workload.pid,
        uid: workload.uid,
        gid: workload.gid,
        startTime: workload.startTime,
        path: workload.path ?? null,
        sha256: workload.sha256?.toLowerCase() ?? null,
      },
    });
  } catch (error) {
    if (isBrokerError(error) && error.code === 'ERR_STORE_UNAVAILABLE') throw error;
    throw new StoreError('ERR_STORE_UNAVAILABLE', 'the audit log could not record the issuance', {
      cause: error,
    });
  }
}

async function issueX509(
  deps: NodeDeps,
  node: NodeIdentity,
  body: z.output<typeof x509Schema>,
): Promise<Record<string, unknown>> {
  const { entry, spiffeId } = await grantFor(deps, node, body);
  const issued = await deps.ca.issueX509Svid(
    x509SvidRequest(entry, spiffeId, csrDer(body.csr), deps.ca.options),
  );
  await auditIssued(
    deps,
    node,
    {
      kind: 'x509',
      spiffeId: spiffeId.toString(),
      instanceId: body.instance ?? null,
      entryId: entry.id,
      serial: issued.serialHex,
      expiresAt: issued.notAfter.toISOString(),
    },
    body.workload,
  );
  return {
    spiffeId: spiffeId.toString(),
    instanceId: body.instance ?? null,
    entryId: entry.id,
    x509Svid: {
      chain: issued.chainDer.map((der) => der.toString('base64')),
      expiresAt: issued.notAfter.toISOString(),
    },
  };
}

async function issueJwt(
  deps: NodeDeps,
  node: NodeIdentity,
  body: z.output<typeof jwtSchema>,
): Promise<Record<string, unknown>> {
  const { entry, spiffeId } = await grantFor(deps, node, body);
  const issued = await deps.ca.issueJwtSvid(
    jwtSvidRequest(entry, spiffeId, body.audience, deps.ca.options),
  );
  await auditIssued(
    deps,
    node,
    {
      kind: 'jwt',
      spiffeId: spiffeId.toString(),
      instanceId: body.instance ?? null,
      entryId: entry.id,
      audience: body.audience,
      kid: issued.kid,
      expiresAt: issued.expiresAt.toISOString(),
    },
    body.workload,
  );
  return {
    spiffeId: spiffeId.toString(),
    token: issued.token,
    expiresAt: issued.expiresAt.toISOString(),
  };
}

/** `checkPeer`: the agent app's, when mounted under it; else one of its own. */
export function createNodeApp(
  deps: NodeDeps,
  checkPeer: PeerVerifier = caPeerVerifier(deps),
): Hono<Env> {
  const app = new Hono<Env>();
  const node = requireNode(deps, checkPeer);
  app.get('/entries', node, async (c) =>
    c.json(entriesState(await childrenOf(deps, c.get('node')))),
  );
  app.post('/x509svid', node, async (c) =>
    c.json(await issueX509(deps, c.get('node'), await parseJsonBody(c, x509Schema))),
  );
  app.post('/jwtsvid', node, async (c) =>
    c.json(await issueJwt(deps, c.get('node'), await parseJsonBody(c, jwtSchema))),
  );
  const limiter = deps.watch;
  app.get('/watch', node, (c) => {
    const identity = c.get('node');
    return serveWatch(
      c,
      // Issue 15: the agent API's stream caps (per node, and in all with the agents' streams).
      limiter === undefined
        ? undefined
        : () => limiter.acquire(watchAgentKey(`node:${identity.spiffeId.toString()}`, undefined)),
      nodeWatchSpec(deps, identity),
    );
  });
  return app;
}

/**
 * The `state` event: entries, our bundle, every partner bundle any entry federates with, and the
 * id (hex subject key id) of this replica's active X.509 authority, so that a node re-signs its
 * workload SVIDs right after an activation (X509-* rotation; the bundle alone does not change then).
 */
function stateBody(deps: NodeDeps, entries: readonly Entry[]): string {
  const partners = [...new Set(entries.flatMap((entry) => entry.federatesWith))].sort();
  const bundles = bundleMap(bundlesWith(deps, partners));
  const active = deps.ca.authorities?.('x509').find((a) => a.state === 'active');
  return jsonText({
    ...entriesState(entries),
    bundles,
    ...(active === undefined ? {} : { activeX509Authority: active.id }),
  });
}

/**
 * The node watch: the complete state on connect and again on every change of entries, our bundle,
 * our authorities or a partner bundle; ends when the node's entry is gone, its SVID expires, or
 * the broker stops.
 */
function nodeWatchSpec(deps: NodeDeps, node: NodeIdentity): WatchSpec {
  return {
    event: 'state',
    endMessage: 'node entry removed or SVID expired',
    read: async () => {
      const current = await deps.registration.entryFor(node.spiffeId);
      if (current === undefined || !current.entry.node) return undefined;
      return stateBody(deps, await childrenOf(deps, { ...node, entry: current.entry }));
    },
    untilExpiryMs: () => node.svidExpiresAt.getTime() - deps.now(),
    // Jittered per wait when the limiter is there, so streams do not beat together.
    heartbeatDelayMs: () => deps.watch?.heartbeatDelayMs() ?? deps.watchHeartbeatMs ?? 15_000,
    // With the agent API's limiter, changes (and the broker's abort) arrive batched through it.
    subscribe: (changed) => {
      if (deps.watch !== undefined) return deps.watch.subscribe(changed);
      const unsubscribes = [
        deps.ca.onBundleChange(changed),
        deps.ca.onAuthorityChange?.(changed),
        deps.federation.onChange(changed),
        deps.registration.onChange?.(changed),
      ];
      return () => {
        for (const unsubscribe of unsubscribes) unsubscribe?.();
      };
    },
    signal: deps.signal,
    listenForAbort: deps.watch === undefined,
    onError: (error) =>
      deps.logger.error('node watch stream failed', {
        spiffeId: node.spiffeId.toString(),
        code: isBrokerError(error) ? error.code : undefined,
        error: (error as Error).message,
      }),
  };
}
