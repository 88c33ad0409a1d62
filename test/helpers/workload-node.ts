// A fake node-state source for Workload API tests: a real CA (src/ca) in a temp dir signs the
// node's workload CSRs and JWT-SVIDs as the broker's /v1/agent/node/* routes would (contract 17),
// with settable entries and partner bundles, a recorded issuance log and a "broker down" switch.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BundleSet, type Bundle } from '../../src/bundle/index.js';
import { createCa, type Ca } from '../../src/ca/index.js';
import { AgentError } from '../../src/errors.js';
import { parseTrustDomain, type TrustDomain } from '../../src/spiffeid/index.js';
import type {
  IssuedJwt,
  IssuedX509,
  NodeEntry,
  NodeSource,
  NodeState,
  SignJwtRequest,
  SignX509Request,
} from '../../src/workload/index.js';

export interface FakeNode extends NodeSource {
  readonly ca: Ca;
  readonly issued: {
    kind: 'x509' | 'jwt';
    entryId: string;
    spiffeId: string;
    pid: number;
    uid: number;
    sha256?: string;
  }[];
  setEntries(entries: readonly Partial<NodeEntry>[]): void;
  setPartners(bundles: readonly Bundle[]): void;
  /** Broker unreachable: every signing fails (state stays as it was). */
  down: boolean;
  publish(): void;
  close(): Promise<void>;
}

const silent = { info() {}, warn() {}, error() {} };

export async function createFakeNode(
  options: {
    trustDomain?: string;
    nodeId?: string;
    x509TtlSeconds?: number;
    jwtTtlSeconds?: number;
    now?: () => number;
  } = {},
): Promise<FakeNode> {
  const now = options.now ?? Date.now;
  const trustDomain: TrustDomain = parseTrustDomain(options.trustDomain ?? 'node.test');
  const nodeId = options.nodeId ?? `spiffe://${trustDomain.name}/nodes/host-1`;
  const dir = await mkdtemp(join(tmpdir(), 'wapi-node-'));
  const ca = await createCa(
    { now, logger: silent },
    {
      trustDomain: trustDomain.name,
      dataDir: dir,
      caTtlSeconds: 7200,
      x509SvidTtlSeconds: options.x509TtlSeconds ?? 600,
      maxX509SvidTtlSeconds: 3600,
      jwtSvidTtlSeconds: options.jwtTtlSeconds ?? 300,
      maxJwtSvidTtlSeconds: 3600,
      refreshHintSeconds: 30,
    },
  );
  let entries: NodeEntry[] = [];
  let partners: Bundle[] = [];
  let state: NodeState | undefined;
  let revision = 0;
  const listeners = new Set<() => void>();
  const issued: FakeNode['issued'] = [];

  const publish = (): void => {
    revision += 1;
    state = {
      revision: String(revision),
      entries,
      bundles: new BundleSet([ca.localBundle(), ...partners]),
    };
    for (const listener of listeners) listener();
  };
  const unsubscribe = ca.onBundleChange(publish);

  function entryOf(
    entryId: string,
    instance: string | undefined,
  ): { entry: NodeEntry; id: string } {
    const entry = entries.find((e) => e.id === entryId);
    if (entry === undefined) {
      throw new AgentError('ERR_AGENT_BROKER_REFUSED', 'entry not granted to this node', {
        context: { status: 403 },
      });
    }
    const template = entry.spiffeId.includes('{instance}');
    if (
      template !== (instance !== undefined) ||
      (instance !== undefined && !/^[A-Za-z0-9_-]{22}$/.test(instance))
    ) {
      throw new AgentError('ERR_AGENT_BROKER_REFUSED', 'bad instance', {
        context: { status: 400 },
      });
    }
    return {
      entry,
      id: template ? entry.spiffeId.replace('{instance}', instance as string) : entry.spiffeId,
    };
  }

  const node: FakeNode = {
    nodeId,
    trustDomain,
    ca,
    issued,
    down: false,
    state: () => state,
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    setEntries(list) {
      entries = list.map((e, i) => ({
        id: e.id ?? `e_${i}`,
        spiffeId: e.spiffeId ?? `spiffe://${trustDomain.name}/workload-${i}`,
        parentId: e.parentId ?? nodeId,
        selectors: e.selectors ?? [],
        federatesWith: e.federatesWith ?? [],
        ttlSeconds: e.ttlSeconds ?? null,
        dnsNames: e.dnsNames ?? [],
      }));
      publish();
    },
    setPartners(list) {
      partners = [...list];
      publish();
    },
    publish,
    async signX509(request: SignX509Request): Promise<IssuedX509> {
      if (node.down) throw new AgentError('ERR_AGENT_BROKER_UNREACHABLE', 'broker down');
      const { entry, id } = entryOf(request.entryId, request.instance);
      const svid = await ca.issueX509Svid({
        spiffeId: id,
        csr: request.csrDer,
        ...(entry.ttlSeconds === null ? {} : { ttlSeconds: entry.ttlSeconds }),
        dnsNames: entry.dnsNames,
      });
      issued.push({
        kind: 'x509',
        entryId: entry.id,
        spiffeId: id,
        pid: request.workload.pid,
        uid: request.workload.uid,
        ...(request.workload.sha256 === undefined ? {} : { sha256: request.workload.sha256 }),
      });
      return { chainDer: svid.chainDer };
    },
    async signJwt(request: SignJwtRequest): Promise<IssuedJwt> {
      if (node.down) throw new AgentError('ERR_AGENT_BROKER_UNREACHABLE', 'broker down');
      const { id } = entryOf(request.entryId, request.instance);
      const svid = await ca.issueJwtSvid({ spiffeId: id, audience: request.audience });
      issued.push({
        kind: 'jwt',
        entryId: request.entryId,
        spiffeId: id,
        pid: request.workload.pid,
        uid: request.workload.uid,
      });
      return { spiffeId: id, token: svid.token, expiresAt: svid.expiresAt };
    },
    async close() {
      unsubscribe();
      listeners.clear();
      await ca.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
  publish();
  return node;
}
